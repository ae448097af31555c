// The guest agent's handling of CONFIG ca_certificate: files on tmpfs, the combined bundle, and
// the variables every exec gets.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/agent/ca_trust.h"
#include "support/temp_dir.h"

using namespace sbx::guest::agent;
namespace fs = std::filesystem;
using sbx::test::TempDir;

namespace {
const std::string kPem = "-----BEGIN CERTIFICATE-----\nMIIBAAAAsbxtestcertificatebody==\n-----END CERTIFICATE-----\n";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("the CA is written alone and after the image's bundle, readable by every user", "[guest][ca]") {
  TempDir t;
  std::ofstream(t.path() / "system.crt") << "-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----";
  const fs::path dir = t.path() / "run-sbx";
  REQUIRE(install_ca(kPem, dir.string(), (t.path() / "system.crt").string()).empty());
  CHECK(slurp(dir / "egress-ca.crt") == kPem);
  CHECK(slurp(dir / "ca-bundle.crt") == "-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n" + kPem);
  struct stat st {};
  REQUIRE(::stat((dir / "ca-bundle.crt").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
  std::map<std::string, std::string> env;
  add_ca_env(env, dir.string());
  CHECK(env["SSL_CERT_FILE"] == (dir / "ca-bundle.crt").string());
  CHECK(env["CURL_CA_BUNDLE"] == env["SSL_CERT_FILE"]);
  CHECK(env["REQUESTS_CA_BUNDLE"] == env["SSL_CERT_FILE"]);
  CHECK(env["GIT_SSL_CAINFO"] == env["SSL_CERT_FILE"]);
  CHECK(env["NODE_EXTRA_CA_CERTS"] == (dir / "egress-ca.crt").string());
}

TEST_CASE("an image without a bundle trusts the CA alone, and anything but certificates is refused", "[guest][ca]") {
  TempDir t;
  const fs::path dir = t.path() / "run-sbx";
  REQUIRE(install_ca(kPem, dir.string(), (t.path() / "absent.crt").string()).empty());
  CHECK(slurp(dir / "ca-bundle.crt") == kPem);
  CHECK_FALSE(install_ca("-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n", dir.string()).empty());
  CHECK_FALSE(install_ca("not a pem", dir.string()).empty());
  CHECK_FALSE(install_ca(kPem + std::string(1, '\0'), dir.string()).empty());
}
