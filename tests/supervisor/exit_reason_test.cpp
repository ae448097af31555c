#include <catch2/catch.hpp>

#include "supervisor/exit_reason.h"

using namespace sbx::supervisor;
using sbx::vmm::Exit;

namespace {
const char* kPanicTail =
    "[    1.2] VFS: Cannot open root device\n"
    "[    1.3] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"
    "[    1.3] ---[ end Kernel panic ]---\n";
}

TEST_CASE("how the VMM ended and what the console says give the sandbox's end", "[supervisor]") {
  struct Row {
    const char* what;
    VmmEnd end;
    Phase phase;
    const char* error;  // the whole message
  };
  const Row rows[] = {
      {"asked to stop, exited", {Exit{false, 0}, true, 7, "", ""}, Phase::stopped, ""},
      {"asked to stop, exited with a status", {Exit{false, 1}, true, 7, "", ""}, Phase::stopped, ""},
      {"asked to stop, a panic on the way down still stops", {Exit{false, 0}, true, 7, kPanicTail, ""}, Phase::stopped, ""},
      {"asked to stop but killed", {Exit{true, 9}, true, 7, "", ""}, Phase::crashed,
       "the VMM (QEMU, pid 7) was killed by signal 9 (Killed)"},
      {"a kernel panic", {Exit{false, 0}, false, 7, kPanicTail, "qemu noise"}, Phase::crashed,
       "the guest kernel panicked: Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"},
      {"a panic line without a newline", {Exit{false, 0}, false, 7, "x\nKernel panic - oops", ""}, Phase::crashed,
       "the guest kernel panicked: Kernel panic - oops"},
      {"a panic is named before the signal", {Exit{true, 6}, false, 7, kPanicTail, ""}, Phase::crashed,
       "the guest kernel panicked: Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"},
      {"killed by a signal", {Exit{true, 9}, false, 42, "booting\n", ""}, Phase::crashed,
       "the VMM (QEMU, pid 42) was killed by signal 9 (Killed)"},
      {"the guest powered off", {Exit{false, 0}, false, 7, "reboot: Power down\n", ""}, Phase::crashed,
       "the guest powered off on its own"},
      {"QEMU failed", {Exit{false, 1}, false, 7, "", "qemu: could not open disk\n"}, Phase::crashed,
       "QEMU exited with status 1: qemu: could not open disk\n"},
  };
  for (const Row& r : rows) {
    INFO(r.what);
    const ExitReason got = classify_exit(r.end);
    CHECK(got.phase == r.phase);
    CHECK(got.error == r.error);
  }
}

TEST_CASE("panic_line finds nothing in a console that did not panic", "[supervisor]") {
  CHECK(panic_line("").empty());
  CHECK(panic_line("[ 0.1] Linux version 6.1\n[ 0.2] panic=1 on the command line\n").empty());
}
