#include "guest/agent/docker.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sys/mount.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "common/errno_text.h"
#include "guest/agent/boot.h"
#include "guest/agent/console.h"
#include "guest/agent/spawn.h"
#include "guest/protocol/frame.h"

namespace sbx::guest::agent {
namespace {

constexpr std::size_t kMaxLogLine = 1000;

void mkdir_p(const std::string& dir, mode_t mode = 0755) {
  std::string path;
  for (std::size_t at = 1; at <= dir.size(); ++at)
    if (at == dir.size() || dir[at] == '/') ::mkdir(dir.substr(0, at).c_str(), mode);
}

bool write_file(const std::string& path, const std::string& text, mode_t mode, uid_t uid = 0, gid_t gid = 0) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (::fchown(fd, uid, gid) != 0) {}
  ::close(fd);
  return ok;
}

// The daemon's API answers GET /_ping with 200 (a short, bounded wait: PID 1's loop waits on it).
bool daemon_answers() {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, "/var/run/docker.sock", sizeof addr.sun_path - 1);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    static constexpr char kPing[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    if (::send(fd, kPing, sizeof kPing - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof kPing - 1)) {
      pollfd p{fd, POLLIN, 0};
      char buf[128] = {};
      if (::poll(&p, 1, 200) == 1) {
        const ssize_t n = ::recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        ok = n > 12 && std::strncmp(buf, "HTTP/1.", 7) == 0 && std::strncmp(buf + 8, " 200", 4) == 0;
      }
    }
  }
  ::close(fd);
  return ok;
}

void report(DockerDaemon& d, const std::string& state) {
  (void)d;
  say("docker state: " + state);
}

// The client config that makes docker run, docker build and docker-compose give containers the
// guest's proxy (Docker 20.10 reads "proxies" from the client, not from daemon.json). Written
// only where the user has none: an existing config.json is theirs.
void write_client_config(const std::string& home, uid_t uid, gid_t gid) {
  const std::string dir = home + "/.docker", file = dir + "/config.json";
  if (::access(file.c_str(), F_OK) == 0) {
    say("docker: " + file + " exists; containers get the proxy only if it names one");
    return;
  }
  ::mkdir(dir.c_str(), 0700);
  if (::chown(dir.c_str(), uid, gid) != 0) {}
  const std::string proxy = std::string("http://") + kDockerBridgeAddress + ":" + std::to_string(protocol::kProxyPort);
  const std::string json = "{\"proxies\": {\"default\": {\"httpProxy\": \"" + proxy + "\", \"httpsProxy\": \"" + proxy +
                           "\", \"noProxy\": \"localhost,127.0.0.1,::1\"}}}\n";
  if (!write_file(file, json, 0600, uid, gid)) say("docker: cannot write " + file + ": " + errno_text());
}

}  // namespace

void mount_modules_disk() {
  const std::string serial = cmdline_value("sbx.modules");
  if (serial.empty()) return;
  const std::string dev = find_disk(serial, 5000);
  utsname u{};
  if (dev.empty() || ::uname(&u) != 0) {
    say("no modules disk with serial " + serial + "; modprobe finds only what the image has");
    return;
  }
  const std::string target = std::string("/lib/modules/") + u.release;
  mkdir_p(target);
  if (::mount(dev.c_str(), target.c_str(), "ext4", MS_RDONLY | MS_NODEV | MS_NOSUID, "noload") != 0)
    say("cannot mount the modules disk " + dev + " on " + target + ": " + errno_text());
  else
    say("modules disk " + dev + " mounted on " + target);
}

void start_dockerd(DockerDaemon& d, const std::map<std::string, std::string>& env, const std::vector<std::string>& insecure_registries) {
  if (d.started) return;
  d.started = true;
  d.started_ms = uptime_ms();
  report(d, "starting");
  const auto failed = [&](const std::string& why) {
    d.failed = true;
    report(d, "failed: " + why);
  };
  const char* dockerd = ::access("/usr/sbin/dockerd", X_OK) == 0 ? "/usr/sbin/dockerd"
                        : ::access("/usr/bin/dockerd", X_OK) == 0 ? "/usr/bin/dockerd"
                                                                  : nullptr;
  if (!dockerd) return failed("the image has no dockerd (/usr/sbin/dockerd)");
  if (::mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate") != 0 && errno != EBUSY)
    return failed(std::string("cannot mount cgroup2 on /sys/fs/cgroup: ") + errno_text());
  // Images and containers on the sandbox disk itself (overlay2 cannot stack on the root overlay):
  // they survive sbx down / sbx up and go with sbx rm.
  mkdir_p("/run/rw/docker", 0710);
  mkdir_p("/var/lib/docker", 0710);
  if (::mount("/run/rw/docker", "/var/lib/docker", nullptr, MS_BIND, nullptr) != 0)
    return failed(std::string("cannot bind the sandbox disk's /docker on /var/lib/docker: ") + errno_text());
  mkdir_p("/run/sbx/docker");
  // The entries were checked against host[:port] characters (protocol/messages.cpp): no escaping needed.
  std::string insecure;
  for (const auto& r : insecure_registries) insecure += (insecure.empty() ? "\"" : ", \"") + r + "\"";
  const std::string daemon_json = std::string("{\"data-root\": \"/var/lib/docker\", \"bip\": \"") + kDockerBridgeAddress +
                                  "/16\", \"log-level\": \"warn\", \"insecure-registries\": [" + insecure + "]}\n";
  if (!write_file("/run/sbx/docker/daemon.json", daemon_json, 0644))
    return failed("cannot write /run/sbx/docker/daemon.json: " + errno_text());
  write_client_config("/root", 0, 0);
  if (User agent; lookup_user("agent", agent) && agent.home != "/") write_client_config(agent.home, agent.uid, agent.gid);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return failed("pipe: " + errno_text());
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return failed("fork: " + errno_text());
  }
  if (pid == 0) {
    reset_forked_child();
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    const char* argv[] = {dockerd, "--config-file", "/run/sbx/docker/daemon.json", nullptr};
    ::execve(dockerd, const_cast<char* const*>(argv), envp.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  d.pid = pid;
  d.log_fd = pipefd[0];
  say("docker: started " + std::string(dockerd) + " (pid " + std::to_string(pid) + ")");
}

void read_dockerd_log(DockerDaemon& d) {
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(d.log_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      ::close(d.log_fd);
      d.log_fd = -1;
      if (!d.partial.empty()) say("dockerd: " + d.partial);
      d.partial.clear();
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      const char c = buf[i];
      if (c != '\n') {
        // The console is a terminal log: no control bytes from the daemon (or its containers' names).
        if (d.partial.size() < kMaxLogLine) d.partial.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
        continue;
      }
      say("dockerd: " + d.partial);
      d.partial.clear();
    }
  }
}

void check_dockerd(DockerDaemon& d) {
  if (!d.started || d.ready || d.failed || d.pid < 0) return;
  const std::int64_t now = uptime_ms();
  if (now - d.probed_ms >= 250) {
    d.probed_ms = now;
    if (daemon_answers()) {
      d.ready = true;
      report(d, "running (ready after " + std::to_string(uptime_ms() - d.started_ms) + " ms)");
      return;
    }
  }
  if (now - d.started_ms < kDockerReadyTimeoutMs) return;
  d.failed = true;
  report(d, "failed: the daemon's API was not up after " + std::to_string(kDockerReadyTimeoutMs / 1000) + " s");
}

bool on_dockerd_exit(DockerDaemon& d, pid_t pid, int status) {
  if (d.pid < 0 || pid != d.pid) return false;
  d.pid = -1;
  d.ready = false;
  d.failed = true;
  const std::string how = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                              : "exit status " + std::to_string(WEXITSTATUS(status));
  report(d, "failed: dockerd exited (" + how + "); its last lines are in sbx logs --console");
  return true;
}

}  // namespace sbx::guest::agent
