// The guest agent names its hostname in /etc/hosts (sudo: "unable to resolve host").
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "guest/agent/etc_hosts.h"
#include "support/temp_dir.h"

using namespace sbx::guest::agent;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("the hostname is added to /etc/hosts once, after what the image had", "[guest]") {
  sbx::test::TempDir tmp("sbx-hosts");
  const fs::path hosts = tmp.path() / "hosts";
  std::ofstream(hosts) << "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost";  // no final newline
  CHECK(name_host_in_hosts("sbx-demo", hosts.string()).empty());
  CHECK(slurp(hosts) == "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\tsbx-demo\n");
  CHECK(name_host_in_hosts("sbx-demo", hosts.string()).empty());  // a second CONFIG adds nothing
  CHECK(slurp(hosts) == "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\tsbx-demo\n");
}

TEST_CASE("a name only in a comment or as a prefix is not the hostname's line", "[guest]") {
  sbx::test::TempDir tmp("sbx-hosts");
  const fs::path hosts = tmp.path() / "hosts";
  std::ofstream(hosts) << "# 127.0.1.1 sbx-demo\n10.0.0.1 sbx-demo2\n";
  CHECK(name_host_in_hosts("sbx-demo", hosts.string()).empty());
  CHECK(slurp(hosts).ends_with("\n127.0.1.1\tsbx-demo\n"));
}

TEST_CASE("an image without /etc/hosts gets one with the hostname", "[guest]") {
  sbx::test::TempDir tmp("sbx-hosts");
  const fs::path hosts = tmp.path() / "hosts";
  CHECK(name_host_in_hosts("sbx-demo", hosts.string()).empty());
  CHECK(slurp(hosts) == "127.0.1.1\tsbx-demo\n");
  CHECK_FALSE(name_host_in_hosts("sbx-demo", (tmp.path() / "no-dir" / "hosts").string()).empty());
}
