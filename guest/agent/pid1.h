#pragma once
// PID 1's duties besides the channel: reaping every child, acting on signals, ending the machine.
#include <functional>
#include <sys/types.h>

namespace sbx::guest::agent {

/// Read every pending signal from `signal_fd` (SIGCHLD only wakes us) and forward the ones PID 1
/// does not act on to every other process. Returns true at the first one that asks PID 1 to shut
/// down (SIGTERM, SIGPWR, SIGINT = Ctrl-Alt-Del), leaving the rest unread.
bool read_signals(int signal_fd);

/// Collect every exited child without blocking, calling on_exit(pid, wait status) for each.
void reap_children(const std::function<void(pid_t, int)>& on_exit);

/// SIGTERM to every process, up to a second for all of them to go, SIGKILL to the rest, then
/// power off (or reboot).
[[noreturn]] void end_processes_and_power_off(bool reboot);

}  // namespace sbx::guest::agent
