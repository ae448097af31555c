// End to end: `sbx up` with a registry image. tests/image/registry_fixture.py runs Debian's
// docker-registry on loopback and pushes a busybox image into it; sbx pulls, verifies, imports
// and boots it (one boot). A blob corrupted in the registry's storage makes `sbx up` fail.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sbx_runner.h"

using namespace sbx::e2e;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The loopback registry with the busybox image, for this test process.
class RegistryFixture {
 public:
  RegistryFixture() {
    char tmpl[] = "/tmp/sbx-registry-e2e-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    const std::string script = std::string(SBX_E2E_SOURCE_DIR) + "/tests/image/registry_fixture.py";
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      const char* argv[] = {"python3", script.c_str(), dir_.c_str(), "--busybox", nullptr};
      ::execvp("python3", const_cast<char**>(argv));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    char c;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      if (::read(from_, &c, 1) != 1 || c == '\n') break;
      line += c;
    }
    info_ = json::parse(line, nullptr, false);
    INFO("registry fixture said: " << line);
    REQUIRE(info_.is_object());
    REQUIRE_FALSE(info_.contains("error"));
  }
  ~RegistryFixture() {
    ::close(to_);
    for (int i = 0; i < 100 && pid_ > 0; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
      else ::usleep(50000);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(from_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const json& info() const { return info_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(info_["port"].get<int>()); }
  fs::path dir() const { return dir_; }
  fs::path blob_data(const std::string& digest) const {
    const std::string hex = digest.substr(7);
    return fs::path(info_["storage"].get<std::string>()) / "blobs" / "sha256" / hex.substr(0, 2) / hex / "data";
  }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  json info_;
};

// A project directory whose Sandboxfile uses `ref` (and `digest`, if not empty).
fs::path write_project(const fs::path& dir, const std::string& name, const std::string& ref, const std::string& digest,
                       const std::string& command) {
  fs::create_directories(dir);
  std::ofstream f(dir / "Sandboxfile");
  f << "version = 1\nname = \"" << name << "\"\n\n[agent]\npreset = \"shell\"\ncommand = [\"/bin/sh\", \"-c\", \"" << command
    << "\"]\n\n[image]\nref = \"" << ref << "\"\n";
  if (!digest.empty()) f << "digest = \"" << digest << "\"\n";
  f << "\n[resources]\ncpus = 1\nmemory = \"256MiB\"\n";
  return dir;
}

}  // namespace

TEST_CASE("sbx up boots an image pulled from a registry, and refuses one with a corrupted blob", "[e2e][registry]") {
  RegistryFixture reg;
  Sbx sbx;
  const json& busybox = reg.info()["images"]["busybox:1"];

  SECTION("a pinned registry image boots and runs its agent command") {
    const fs::path project = write_project(reg.dir() / "boot", "registry-e2e", reg.host() + "/test/busybox:1",
                                           busybox["manifest"].get<std::string>(), "cat /etc/registry-marker; uname -s");
    const auto up = sbx.run({"up", project.string()}, {}, 240s);
    INFO("sbx up stdout: " << up.out << "\nstderr: " << up.err);
    REQUIRE(up.code == 0);
    CHECK(up.out.find("pulled from a registry on loopback") != std::string::npos);
    CHECK(up.out.find("Linux") != std::string::npos);
    CHECK(sbx.run({"down", "--name", "registry-e2e"}, {}, 60s).code == 0);
  }

  SECTION("a corrupted blob makes sbx up fail, naming the digest") {
    const json& img = reg.info()["images"]["corrupt:1"];
    const std::string victim = img["layers"][0];
    {
      std::fstream f(reg.blob_data(victim), std::ios::in | std::ios::out | std::ios::binary);
      REQUIRE(f);
      f.seekp(10);
      f.write("CORRUPTED", 9);
    }
    const fs::path project = write_project(reg.dir() / "corrupt", "registry-corrupt", reg.host() + "/test/corrupt:1", "", "true");
    const auto up = sbx.run({"up", project.string()}, {}, 120s);
    INFO("sbx up stdout: " << up.out << "\nstderr: " << up.err);
    CHECK(up.code == 1);
    CHECK(up.err.find(victim) != std::string::npos);
    CHECK(up.err.find("failed verification") != std::string::npos);
  }
}
