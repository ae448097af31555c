// Boots the real guest (kernel + initramfs + default root disk) under QEMU/TCG and drives
// the channel protocol as the host does. Every wait is bounded.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "guest_vm.h"

namespace p = sbx::guest::protocol;
using sbx::guest::test::GuestVm;
using namespace std::chrono;

namespace {

const sbx::guest::test::Images& images() {
  static const auto imgs = sbx::guest::test::build_images();
  return imgs;
}

p::Open exec_of(std::vector<std::string> argv, std::string user = "agent") {
  p::Open o;
  o.kind = p::OpenKind::exec;
  o.argv = std::move(argv);
  o.user = std::move(user);
  return o;
}

// Boot and handshake, with the console log attached to any failure.
void boot(GuestVm& vm, const p::Config& cfg = {}) {
  REQUIRE(vm.connect(seconds(20)));
  auto hello = vm.handshake(cfg);
  INFO("console:\n" << vm.console() << "\nerror: " << vm.last_error());
  REQUIRE(hello.has_value());
  CHECK(hello->protocol == p::kProtocolVersion);
  std::fprintf(stderr, "guest HELLO after %.3f s (guest uptime %lld ms)\n", vm.hello_seconds(),
               static_cast<long long>(hello->boot.uptime_ms));
}

void shutdown_cleanly(GuestVm& vm) {
  vm.send(p::shutdown_frame());
  auto ack = vm.recv(seconds(10));
  CHECK((ack && ack->type == p::FrameType::shutdown));
  auto status = vm.wait_exit(seconds(20));
  INFO("console:\n" << vm.console());
  REQUIRE(status.has_value());
  CHECK(*status == 0);
}

}  // namespace

TEST_CASE("the guest boots, says HELLO, runs echo and powers off on SHUTDOWN", "[guest][e2e]") {
  GuestVm vm(images());
  boot(vm);
  auto r = vm.exec(exec_of({"echo", "hi"}));
  INFO("console:\n" << vm.console() << "\nerror: " << vm.last_error());
  CHECK(r.opened);
  CHECK(r.out == "hi\n");
  CHECK(r.err.empty());
  CHECK(r.code == 0);
  CHECK(r.signal == 0);
  shutdown_cleanly(vm);
}

TEST_CASE("exec reports exit codes, separates stderr, pipes stdin and runs as the agent user", "[guest][e2e]") {
  GuestVm vm(images());
  p::Config cfg;
  cfg.hostname = "sbx-test";
  boot(vm, cfg);
  auto code = vm.exec(exec_of({"sh", "-c", "echo out; echo err >&2; exit 7"}));
  CHECK(code.out == "out\n");
  CHECK(code.err == "err\n");
  CHECK(code.code == 7);

  std::string big(300 * 1024, 'x');  // larger than one window: flow control must carry it
  auto cat = vm.exec(exec_of({"wc", "-c"}), big);
  CHECK(cat.code == 0);
  CHECK(cat.out.find(std::to_string(big.size())) != std::string::npos);

  auto bigout = vm.exec(exec_of({"sh", "-c", "head -c 600000 /dev/zero | tr '\\0' y"}));
  CHECK(bigout.out.size() == 600000);
  CHECK(bigout.code == 0);

  auto id = vm.exec(exec_of({"id"}));
  CHECK(id.out.find("uid=1000(agent)") != std::string::npos);
  auto root = vm.exec(exec_of({"id", "-u"}, "root"));
  CHECK(root.out == "0\n");
  auto env = vm.exec(exec_of({"sh", "-c", "echo $HOME $HTTP_PROXY; pwd; hostname"}));
  CHECK(env.out == "/home/agent http://127.0.0.1:3128\n/home/agent\nsbx-test\n");

  auto missing = vm.exec(exec_of({"/no/such/program"}));
  CHECK_FALSE(missing.opened);
  CHECK(missing.open_fail.find("No such file") != std::string::npos);
  auto nouser = vm.exec(exec_of({"true"}, "mallory"));
  CHECK(nouser.open_fail.find("mallory") != std::string::npos);

  // The root disk is read-only underneath, but the overlay makes / writable for root.
  auto write = vm.exec(exec_of({"sh", "-c", "echo x > /etc/sbx-test && cat /etc/sbx-test"}, "root"));
  CHECK(write.out == "x\n");
  auto agent_write = vm.exec(exec_of({"sh", "-c", "echo x > /etc/nope"}));
  CHECK(agent_write.code != 0);
  shutdown_cleanly(vm);
}

TEST_CASE("a SIGNAL frame reaches the process and EXIT reports the signal", "[guest][e2e]") {
  GuestVm vm(images());
  boot(vm);
  auto r = vm.exec(exec_of({"sh", "-c", "echo started; exec sleep 60"}), {}, false, seconds(20), SIGTERM);
  CHECK(r.out == "started\n");
  CHECK(r.signal == SIGTERM);
  CHECK(r.code == 128 + SIGTERM);
  shutdown_cleanly(vm);
}

TEST_CASE("tty exec gets a PTY of the requested size", "[guest][e2e]") {
  GuestVm vm(images());
  boot(vm);
  auto o = exec_of({"sh", "-c", "tty; stty size"});
  o.tty = true;
  o.rows = 33;
  o.cols = 101;
  auto r = vm.exec(o);
  CHECK(r.code == 0);
  CHECK(r.out.find("/dev/pts/") != std::string::npos);
  CHECK(r.out.find("33 101") != std::string::npos);

  // Ctrl-C typed into the terminal interrupts the program; RESIZE reaches it as SIGWINCH.
  auto shell = exec_of({"sh", "-c",
                        "trap 'stty size; echo resized' WINCH; trap 'echo interrupted; exit 5' INT; "
                        "echo ready; while true; do sleep 0.1; done"});
  shell.tty = true;
  auto t = vm.exec(shell, {}, false, seconds(30), std::nullopt,
                   {{"ready", p::resize_frame(1, 40, 120)}, {"resized", p::data_frame(1, "\x03")}});
  INFO("output: " << t.out);
  CHECK(t.out.find("40 120") != std::string::npos);
  CHECK(t.out.find("interrupted") != std::string::npos);
  CHECK(t.code == 5);
  shutdown_cleanly(vm);
}

TEST_CASE("the guest proxy listener forwards connections as proxy streams and reports the host's refusal",
          "[guest][e2e]") {
  GuestVm vm(images());
  boot(vm);
  auto r = vm.exec(exec_of({"sh", "-c", "wget -q -O- http://example.com/ 2>&1; echo rc=$?"}));
  REQUIRE(vm.proxy_opens().size() >= 1);
  CHECK(vm.proxy_opens()[0].kind == p::OpenKind::proxy);
  CHECK(vm.proxy_opens()[0].destination.learned == "http-proxy");
  CHECK(r.out.find("502") != std::string::npos);
  CHECK(r.out.find("rc=0") == std::string::npos);
  shutdown_cleanly(vm);
}

TEST_CASE("a malformed frame ends the session and a host HELLO starts a new one", "[guest][e2e]") {
  GuestVm vm(images());
  boot(vm);
  vm.send_raw(std::string("\x63\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 12));  // unknown type 0x63
  auto err = vm.recv(seconds(10));
  REQUIRE(err.has_value());
  CHECK(err->type == p::FrameType::error);
  vm.disconnect();
  REQUIRE(vm.connect(seconds(5)));
  auto h = vm.handshake();
  INFO("console:\n" << vm.console() << "\nerror: " << vm.last_error());
  REQUIRE(h.has_value());
  CHECK(h->reconnect);
  auto r = vm.exec(exec_of({"echo", "again"}));
  CHECK(r.out == "again\n");
  shutdown_cleanly(vm);
}

TEST_CASE("a host that reconnects mid-exec gets a new session and the old process is killed", "[guest][e2e]") {
  GuestVm vm(images());
  boot(vm);
  p::Open o = exec_of({"sleep", "60"});
  vm.send(p::open_frame(101, o));
  auto ok = vm.recv(seconds(10));
  REQUIRE(ok.has_value());
  REQUIRE(ok->type == p::FrameType::open_ok);
  vm.disconnect();
  REQUIRE(vm.connect(seconds(5)));
  auto h = vm.handshake();
  REQUIRE(h.has_value());
  CHECK(h->reconnect);
  auto r = vm.exec(exec_of({"sh", "-c", "ps | grep -c '[s]leep 60'"}));
  CHECK(r.out == "0\n");
  shutdown_cleanly(vm);
}

TEST_CASE("CONFIG mounts a virtio-fs share the host and the guest both see", "[guest][e2e]") {
  if (!std::filesystem::exists("/usr/lib/qemu/virtiofsd")) {
    WARN("virtiofsd missing (Debian's qemu-system-x86 ships it); skipping");
    return;
  }
  if (::geteuid() != 0) {
    WARN("virtiofsd needs root here (it sandboxes itself with chroot); skipping");
    return;
  }
  auto share = std::filesystem::temp_directory_path() / ("sbx-guest-share-" + std::to_string(::getpid()));
  std::filesystem::create_directories(share);
  { std::ofstream(share / "from-host.txt") << "hello from the host\n"; }
  std::filesystem::permissions(share, std::filesystem::perms::all);
  GuestVm vm(images(), {}, share);
  p::Config cfg;
  cfg.mounts = {{"share", "/work", false}};
  boot(vm, cfg);
  auto r = vm.exec(exec_of({"sh", "-c", "cat /work/from-host.txt && echo written > /work/from-guest.txt"}));
  INFO("console:\n" << vm.console());
  CHECK(r.out == "hello from the host\n");
  CHECK(r.code == 0);
  std::ifstream back(share / "from-guest.txt");
  std::string line;
  std::getline(back, line);
  CHECK(line == "written");
  shutdown_cleanly(vm);
  std::filesystem::remove_all(share);
}

TEST_CASE("a host CLOSE on a running exec kills its process group", "[guest][e2e]") {
  GuestVm vm(images());
  boot(vm);
  vm.send(p::open_frame(201, exec_of({"sh", "-c", "sleep 77 & sleep 77"})));
  auto ok = vm.recv(seconds(10));
  REQUIRE(ok.has_value());
  REQUIRE(ok->type == p::FrameType::open_ok);
  vm.send(p::empty_frame(p::FrameType::close, 201));
  bool closed = false;
  for (int i = 0; i < 10 && !closed; ++i) {
    auto f = vm.recv(seconds(5));
    if (!f) break;
    closed = f->type == p::FrameType::close && f->stream == 201;
  }
  CHECK(closed);
  auto r = vm.exec(exec_of({"sh", "-c", "sleep 0.3; ps | grep -c '[s]leep 77'"}));
  CHECK(r.out == "0\n");
  shutdown_cleanly(vm);
}

TEST_CASE("the ACPI power button (QMP system_powerdown) powers the guest off cleanly", "[guest][e2e]") {
  GuestVm vm(images());
  boot(vm);
  // The button driver loads off the critical path; give it a moment to register.
  auto r = vm.exec(exec_of({"sh", "-c", "for i in $(seq 50); do grep -q 'Power Button' /sys/class/input/*/device/name "
                                         "2>/dev/null && break; sleep 0.1; done; echo ok"}));
  CHECK(r.out == "ok\n");
  REQUIRE(vm.qmp_powerdown());
  auto ack = vm.recv(seconds(20));
  CHECK((ack && ack->type == p::FrameType::shutdown));
  auto status = vm.wait_exit(seconds(20));
  INFO("console:\n" << vm.console());
  REQUIRE(status.has_value());
  CHECK(*status == 0);
  CHECK(vm.console().find("ACPI power button pressed") != std::string::npos);
}
