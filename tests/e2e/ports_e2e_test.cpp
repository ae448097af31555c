// End to end: [[port]] forwarding. A real HTTP server in the guest (busybox httpd on the guest's
// 127.0.0.1) is reached with curl from the host through the supervisor's loopback listener, small
// and large bodies and parallel connections; a forwarded port with nothing behind it closes the
// connection; `sbx ports` and `sbx ls` show the forwards; a host port another program holds fails
// `sbx up` before anything boots; `sbx down` frees the port and `sbx up` takes it again; and a
// guest writing raw OPEN frames of kind `port` gets nothing from the host (port streams go host
// to guest only). `sbx restart` reboots it with its disk kept and its ports taken again.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "host_files.h"
#include "sbx_runner.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using sbx::e2e::RunResult;
using sbx::e2e::Sbx;
using sbx::e2e::host_sh;
using sbx::e2e::read_file;

namespace {

// A listening loopback TCP socket on a port the kernel picked (the test's "other program").
struct HostListener {
  int fd = -1;
  int port = 0;
  HostListener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 16) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
  }
  ~HostListener() {
    if (fd >= 0) ::close(fd);
  }
  // True when a connection arrives within `ms`.
  bool connection_within(int ms) const {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
  }
};

// A port that was free a moment ago (one booted VM runs every step below, in order).
int free_port() {
  HostListener l;
  return l.port;
}

bool port_bindable(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 1) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

TEST_CASE("a forwarded port reaches a real HTTP server in the guest from the host's loopback", "[e2e][ports][security]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-ports-e2e");
  const fs::path project = work.path() / "proj", tools = work.path() / "tools";
  fs::create_directories(project);
  fs::create_directories(tools);
  fs::copy_file(SBX_E2E_GUEST_FLOOD, tools / "guest_flood");
  fs::permissions(tools / "guest_flood", fs::perms(0755));
  const int web = free_port(), empty = free_port();
  REQUIRE(web > 0);
  REQUIRE(empty > 0);
  std::ofstream(project / "Sandboxfile") << "version = 1\nname = \"ports\"\n"
                                         << "[agent]\ncommand = [\"true\"]\n[resources]\nmemory = \"256MiB\"\ndisk = \"64MiB\"\n"
                                         << "[[mount]]\nsource = \"../tools\"\ntarget = \"/tools\"\n"
                                         << "[[port]]\nguest = 3000\nhost = " << web << "\n"
                                         << "[[port]]\nguest = 3001\nhost = \"127.0.0.1:" << empty << "\"\n";
  const auto up = sbx.run({"up", "--detach", project.string()}, {}, 240s);
  INFO(up.err);
  REQUIRE(up.code == 0);
  CHECK(up.err.find("port 127.0.0.1:" + std::to_string(web) + " -> 3000 in the sandbox") != std::string::npos);
  auto root = [&](const std::string& script) {
    return sbx.run({"exec", "--name", "ports", "--user", "root", "--", "sh", "-c", script}, {}, 120s);
  };
  // busybox httpd on the guest's loopback only, with a small page and a 2 MiB random body.
  const auto httpd = root("mkdir -p /srv && echo hello-from-the-guest > /srv/index.html && "
                          "dd if=/dev/urandom of=/srv/big bs=1024 count=2048 2>/dev/null && "
                          "httpd -p 127.0.0.1:3000 -h /srv && sha256sum /srv/big");
  INFO(httpd.out + httpd.err);
  REQUIRE(httpd.code == 0);
  const std::string guest_sum = httpd.out.substr(0, 64);
  const std::string base = "http://127.0.0.1:" + std::to_string(web);

  {  // small and large bodies, one after another and in parallel
    INFO("small and large bodies, one after another and in parallel");
    const auto page = host_sh("curl -sS --max-time 60 " + base + "/index.html");
    CHECK(page == std::make_pair(0, std::string("hello-from-the-guest\n")));
    const auto big = host_sh("curl -sS --max-time 120 " + base + "/big | sha256sum");
    REQUIRE(big.first == 0);
    CHECK(big.second.substr(0, 64) == guest_sum);
    // Eight at once, each its own stream.
    const auto many = host_sh("for i in 1 2 3 4 5 6 7 8; do curl -sS --max-time 120 " + base +
                              "/index.html & done; wait");
    std::size_t found = 0;
    for (std::size_t at = 0; (at = many.second.find("hello-from-the-guest", at)) != std::string::npos; ++at) ++found;
    CHECK(found == 8);
    // The listener is on loopback, not on every interface.
    const auto ss = host_sh("ss -Hltn 'sport = :" + std::to_string(web) + "'");
    CHECK(ss.second.find("127.0.0.1:" + std::to_string(web)) != std::string::npos);
    CHECK(ss.second.find("0.0.0.0:" + std::to_string(web)) == std::string::npos);
    CHECK(ss.second.find("*:" + std::to_string(web)) == std::string::npos);
    // Nothing is left open on the supervisor's side once the clients are done.
    json st;
    for (int i = 0; i < 100; ++i) {
      st = json::parse(sbx.run({"status", "--name", "ports", "--json"}, {}, 30s).out, nullptr, false);
      if (st.is_object() && st["budgets"]["port_connections"].value("used", 99) == 0) break;
      ::usleep(100000);
    }
    CHECK(st["budgets"]["port_connections"].value("used", 99) == 0);
    CHECK(st["budgets"]["port_connections"].value("limit", 0) == 256);
  }

  {  // a forwarded port with no server behind it closes the connection and says why in the log
    INFO("a forwarded port with no server behind it closes the connection and says why in the log");
    const auto r = host_sh("curl -sS --max-time 60 http://127.0.0.1:" + std::to_string(empty) + "/");
    CHECK(r.first != 0);
    CHECK(r.first != 28);  // closed at once, not a timeout
    const std::string log = read_file(sbx.sandbox_dir("ports") / "supervisor.log");
    CHECK(log.find("a connection forwarded to port 3001 was refused by the guest: cannot connect to 127.0.0.1:3001") != std::string::npos);
  }

  {  // sbx ports and sbx ls show the forwards
    INFO("sbx ports and sbx ls show the forwards");
    const auto ports = sbx.run({"ports", "--name", "ports", "--json"}, {}, 30s);
    const auto j = json::parse(ports.out, nullptr, false);
    INFO(ports.out + ports.err);
    REQUIRE(j.is_object());
    REQUIRE(j["ports"].size() == 2);
    CHECK(j["ports"][0]["host_address"] == "127.0.0.1");
    CHECK(j["ports"][0]["host_port"] == web);
    CHECK(j["ports"][0]["guest_port"] == 3000);
    CHECK(j["ports"][0]["listening"] == true);
    CHECK(j["ports"][1]["host_port"] == empty);
    const auto text = sbx.run({"ports", "--name", "ports"}, {}, 30s);
    CHECK(text.out.find("127.0.0.1:" + std::to_string(web)) != std::string::npos);
    CHECK(text.out.find("listening") != std::string::npos);
    const auto ls = sbx.run({"ls"}, {}, 30s);
    CHECK(ls.out.find("127.0.0.1:" + std::to_string(web) + "->3000") != std::string::npos);
    const auto lsj = json::parse(sbx.run({"ls", "--json"}, {}, 30s).out, nullptr, false);
    REQUIRE(lsj.is_object());
    CHECK(lsj["sandboxes"][0]["ports"][0]["guest_port"] == 3000);
  }

  {  // a guest cannot open a port stream towards the host
    INFO("a guest cannot open a port stream towards the host");
    HostListener victim;  // what a guest-opened port stream would be aimed at
    REQUIRE(victim.port > 0);
    const auto flood = root("/tools/guest_flood port " + std::to_string(victim.port));
    INFO(flood.out + flood.err);
    REQUIRE(flood.code == 0);
    CHECK_FALSE(victim.connection_within(2000));
    const std::string log = read_file(sbx.sandbox_dir("ports") / "supervisor.log");
    CHECK(log.find("the guest tried to open a port stream; only the host opens them: refused") != std::string::npos);
    // The session survives: forwarding still works.
    CHECK(host_sh("curl -sS --max-time 60 " + base + "/index.html").second == "hello-from-the-guest\n");
  }

  {  // down frees the host ports and up takes them again
    INFO("down frees the host ports and up takes them again");
    REQUIRE(sbx.run({"down", "--name", "ports"}, {}, 120s).code == 0);
    CHECK(port_bindable(web));
    CHECK(port_bindable(empty));
    const auto again = sbx.run({"up", "--detach", project.string()}, {}, 240s);
    INFO(again.err);
    REQUIRE(again.code == 0);
    REQUIRE(root("mkdir -p /srv && echo again > /srv/index.html && httpd -p 127.0.0.1:3000 -h /srv").code == 0);
    CHECK(host_sh("curl -sS --max-time 60 " + base + "/index.html").second == "again\n");
  }
  {  // sbx restart: down then up from the same Sandboxfile; the disk (and so /srv) is kept
    INFO("restart keeps the disk and takes the ports again");
    const long before = json::parse(sbx.run({"status", "--name", "ports", "--json"}, {}, 30s).out, nullptr, false).value("supervisor_pid", 0L);
    const auto restart = sbx.run({"restart", "--detach", "--json", project.string()}, {}, 240s);
    INFO(restart.out + restart.err);
    REQUIRE(restart.code == 0);
    const auto j = json::parse(restart.out, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j.value("ok", false));
    CHECK(j.value("plan", "") == "create");
    CHECK(j["ports"][0]["host_port"] == web);
    const long after = json::parse(sbx.run({"status", "--name", "ports", "--json"}, {}, 30s).out, nullptr, false).value("supervisor_pid", 0L);
    CHECK(after > 0);
    CHECK(after != before);
    // /srv/index.html was written on the sandbox disk before the restart.
    REQUIRE(root("httpd -p 127.0.0.1:3000 -h /srv").code == 0);
    CHECK(host_sh("curl -sS --max-time 60 " + base + "/index.html").second == "again\n");
  }
  sbx.run({"down", "--name", "ports"}, {}, 120s);
}

TEST_CASE("forwarding a host port another program holds fails sbx up before anything boots", "[e2e][ports]") {
  Sbx sbx;
  sbx::test::TempDir work("sbx-ports-busy-e2e");
  HostListener busy;
  REQUIRE(busy.port > 0);
  const fs::path project = work.path() / "proj";
  fs::create_directories(project);
  std::ofstream(project / "Sandboxfile") << "version = 1\nname = \"busy\"\n[agent]\ncommand = [\"true\"]\n"
                                         << "[[port]]\nguest = 80\nhost = " << busy.port << "\n";
  const auto up = sbx.run({"up", "--detach", project.string()}, {}, 240s);
  INFO(up.err);
  CHECK(up.code == 1);
  CHECK(up.err.find("Sandboxfile:5:1: error: host port 127.0.0.1:" + std::to_string(busy.port) + " is already in use") != std::string::npos);
  CHECK(up.err.find("forward another host port") != std::string::npos);
  // Nothing booted, nothing made.
  CHECK_FALSE(fs::exists(sbx.sandbox_dir("busy") / "state.json"));
  CHECK_FALSE(fs::exists(sbx.sandbox_dir("busy") / "disk.ext4"));
}
