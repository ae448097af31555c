#include "guest/agent/spawn.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <grp.h>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <vector>

#include "common/fd.h"

namespace sbx::guest::agent {
namespace {


[[noreturn]] void child_fail(int errpipe, const char* step) {
  int e = errno;
  char msg[128];
  int n = std::snprintf(msg, sizeof msg, "%d:%s", e, step);
  [[maybe_unused]] auto w = ::write(errpipe, msg, static_cast<std::size_t>(n));
  ::_exit(127);
}

}  // namespace

namespace {
// A passwd or group line's fields.
std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> f;
  std::size_t start = 0;
  while (true) {
    auto c = line.find(':', start);
    f.push_back(line.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return f;
}
}  // namespace

bool lookup_user(const std::string& name, User& out) {
  std::ifstream in("/etc/passwd");
  std::string line;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = fields(line);
    if (f.size() < 7 || f[0] != name) continue;
    char* end = nullptr;
    unsigned long uid = std::strtoul(f[2].c_str(), &end, 10);
    if (*end || f[2].empty()) return false;
    unsigned long gid = std::strtoul(f[3].c_str(), &end, 10);
    if (*end || f[3].empty()) return false;
    out = User{f[0], static_cast<uid_t>(uid), static_cast<gid_t>(gid), f[5].empty() ? "/" : f[5],
               f[6].empty() ? "/bin/sh" : f[6]};
    return true;
  }
  if (name == "root") {
    out = User{"root", 0, 0, "/root", "/bin/sh"};
    return true;
  }
  return false;
}

namespace {

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 10) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// The passwd entry with this uid.
bool lookup_uid(uid_t uid, User& out) {
  std::ifstream in("/etc/passwd");
  std::string line;
  while (std::getline(in, line)) {
    auto f = fields(line);
    if (f.size() < 7 || f[2] != std::to_string(uid)) continue;
    return lookup_user(f[0], out);
  }
  return false;
}

// A group name or gid from /etc/group.
bool lookup_group(const std::string& spec, gid_t& gid) {
  if (all_digits(spec)) {
    gid = static_cast<gid_t>(std::strtoul(spec.c_str(), nullptr, 10));
    return true;
  }
  std::ifstream in("/etc/group");
  std::string line;
  while (std::getline(in, line)) {
    auto f = fields(line);
    if (f.size() < 3 || f[0] != spec || !all_digits(f[2])) continue;
    gid = static_cast<gid_t>(std::strtoul(f[2].c_str(), nullptr, 10));
    return true;
  }
  return false;
}

// The user's primary group and every /etc/group entry that lists them as a member (what
// initgroups does; a static binary has no NSS): `agent` in `docker` may use the daemon's socket.
std::vector<gid_t> groups_of(const User& user) {
  std::vector<gid_t> out{user.gid};
  std::ifstream in("/etc/group");
  std::string line;
  while (std::getline(in, line) && out.size() < 64) {
    auto f = fields(line);
    if (f.size() < 4 || !all_digits(f[2])) continue;
    std::istringstream members(f[3]);
    for (std::string m; std::getline(members, m, ',');)
      if (m == user.name) {
        const auto gid = static_cast<gid_t>(std::strtoul(f[2].c_str(), nullptr, 10));
        if (std::find(out.begin(), out.end(), gid) == out.end()) out.push_back(gid);
        break;
      }
  }
  return out;
}

// Create a missing working directory (the Sandboxfile's workdir is "created if missing"),
// owned by the user who runs in it.
void ensure_workdir(const std::string& dir, const User& user) {
  struct stat st{};
  if (dir.empty() || dir[0] != '/' || ::stat(dir.c_str(), &st) == 0) return;
  std::string path;
  std::size_t i = 1;
  while (i <= dir.size()) {
    std::size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    path += "/" + dir.substr(i, j - i);
    i = j + 1;
    if (path == "/") continue;
    if (::mkdir(path.c_str(), 0755) == 0) [[maybe_unused]] int r = ::lchown(path.c_str(), user.uid, user.gid);
  }
}

}  // namespace

bool resolve_user(const std::string& spec, User& out, std::string& why) {
  const auto colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const std::string group = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
  if (all_digits(name)) {
    const auto uid = static_cast<uid_t>(std::strtoul(name.c_str(), nullptr, 10));
    if (!lookup_uid(uid, out)) out = User{name, uid, 0, "/", "/bin/sh"};
  } else if (!lookup_user(name, out)) {
    why = "no user \"" + name + "\" in the guest's /etc/passwd";
    return false;
  }
  if (!group.empty() && !lookup_group(group, out.gid)) {
    why = "no group \"" + group + "\" in the guest's /etc/group";
    return false;
  }
  return true;
}

void reset_forked_child() {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  ::setsid();
}

Spawned spawn(const protocol::Open& req, const std::map<std::string, std::string>& base_env) {
  Spawned s;
  User user;
  if (!resolve_user(req.user.empty() ? std::string("agent") : req.user, user, s.error)) return s;
  if (req.cwd) ensure_workdir(*req.cwd, user);
  std::vector<std::string> argv = req.argv;
  if (argv.empty()) argv = {user.shell, "-l"};

  std::map<std::string, std::string> env = base_env;
  env["HOME"] = user.home;
  env["USER"] = user.name;
  env["LOGNAME"] = user.name;
  env["SHELL"] = user.shell;
  if (req.tty) env["TERM"] = req.term.value_or("xterm-256color");
  for (const auto& [k, v] : req.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::string cwd = req.cwd.value_or(user.home);
  struct stat st{};
  if (!req.cwd && ::stat(cwd.c_str(), &st) != 0) cwd = "/";

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, status_pipe[2] = {-1, -1};
  int master = -1;
  std::string slave_name;
  auto close_all = [&] {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], status_pipe[0],
                   status_pipe[1], master})
      if (fd >= 0) ::close(fd);
  };
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    s.err = errno;
    s.error = std::string("pipe: ") + std::strerror(errno);
    return s;
  }
  if (req.tty) {
    master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0 || !::ptsname(master)) {
      s.err = errno;
      s.error = std::string("cannot allocate a pseudo-terminal: ") + std::strerror(errno);
      close_all();
      return s;
    }
    slave_name = ::ptsname(master);
    winsize ws{};
    ws.ws_row = req.rows;
    ws.ws_col = req.cols;
    ::ioctl(master, TIOCSWINSZ, &ws);
  } else if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
             ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    s.err = errno;
    s.error = std::string("pipe: ") + std::strerror(errno);
    close_all();
    return s;
  }

  const std::vector<gid_t> groups = groups_of(user);
  pid_t pid = ::fork();
  if (pid < 0) {
    s.err = errno;
    s.error = std::string("fork: ") + std::strerror(errno);
    close_all();
    return s;
  }
  if (pid == 0) {
    reset_forked_child();
    if (req.tty) {
      int slave = ::open(slave_name.c_str(), O_RDWR);
      if (slave < 0) child_fail(status_pipe[1], "open pty");
      ::ioctl(slave, TIOCSCTTY, 0);
      ::dup2(slave, 0);
      ::dup2(slave, 1);
      ::dup2(slave, 2);
      if (slave > 2) ::close(slave);
    } else {
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      ::dup2(err_pipe[1], 2);
    }
    if (::chdir(cwd.c_str()) != 0) child_fail(status_pipe[1], "chdir");
    if (::setgroups(groups.size(), groups.data()) != 0) child_fail(status_pipe[1], "setgroups");
    if (::setgid(user.gid) != 0) child_fail(status_pipe[1], "setgid");
    if (::setuid(user.uid) != 0) child_fail(status_pipe[1], "setuid");
    environ = envp.data();
    ::execvp(args[0], args.data());
    child_fail(status_pipe[1], "exec");
  }
  ::close(status_pipe[1]);
  status_pipe[1] = -1;
  // The status pipe closes on a successful exec (CLOEXEC) or carries "errno:step".
  char buf[128];
  ssize_t n;
  do {
    n = ::read(status_pipe[0], buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  ::close(status_pipe[0]);
  status_pipe[0] = -1;
  if (n > 0) {
    buf[n] = '\0';
    int e = std::atoi(buf);
    const char* step = std::strchr(buf, ':');
    step = step ? step + 1 : "exec";
    s.err = e;
    if (std::strcmp(step, "exec") == 0)
      s.error = argv[0] + ": " + std::strerror(e);
    else if (std::strcmp(step, "chdir") == 0)
      s.error = "cannot enter " + cwd + ": " + std::strerror(e);
    else
      s.error = std::string(step) + ": " + std::strerror(e);
    s.pid = pid;  // the caller reaps it
    close_all();
    s.in_fd = s.out_fd = s.err_fd = -1;
    return s;
  }
  s.pid = pid;
  if (req.tty) {
    set_nonblocking(master);
    s.in_fd = s.out_fd = master;
  } else {
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    set_nonblocking(in_pipe[1]);
    set_nonblocking(out_pipe[0]);
    set_nonblocking(err_pipe[0]);
    s.in_fd = in_pipe[1];
    s.out_fd = out_pipe[0];
    s.err_fd = err_pipe[0];
  }
  return s;
}

}  // namespace sbx::guest::agent
