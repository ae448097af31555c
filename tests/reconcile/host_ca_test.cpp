#include <catch2/catch.hpp>

#include "reconcile/host_ca.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/temp_dir.h"

using namespace sbx;
namespace fs = std::filesystem;

namespace {

// A self-signed CA made by the openssl CLI (PEM as OpenSSL writes it).
std::string make_ca(const fs::path& dir, const std::string& cn) {
  const fs::path key = dir / (cn + ".key"), crt = dir / (cn + ".pem");
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=" + cn +
                          " -keyout " + key.string() + " -out " + crt.string() + " 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream in(crt);
  std::stringstream s;
  s << in.rdbuf();
  fs::remove(key);
  fs::remove(crt);
  return s.str();
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

TEST_CASE("the host's added CAs: certificates only, in a stable order, from every directory", "[reconcile][security]") {
  test::TempDir tmp("sbx-host-ca");
  const fs::path a = tmp.path() / "a", b = tmp.path() / "b", gen = tmp.path() / "gen";
  fs::create_directories(gen);
  const std::string one = make_ca(gen, "one"), two = make_ca(gen, "two"), three = make_ca(gen, "three");
  // Comments and a private key next to the certificate must not travel to the guest.
  write(a / "z-corp.crt", "# the proxy team's CA\n" + two + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  write(a / "nested" / "a-lab.pem", one);
  write(a / "README", "not a certificate\n");
  write(b / "extra.crt", three);
  auto cas = reconcile::collect_host_cas({a, tmp.path() / "missing", b});
  REQUIRE(cas);
  CHECK(cas->certificates == 3);
  REQUIRE(cas->files.size() == 3);
  CHECK(cas->files[0] == a / "nested" / "a-lab.pem");
  CHECK(cas->files[1] == a / "z-corp.crt");
  CHECK(cas->files[2] == b / "extra.crt");
  CHECK(cas->pem == one + two + three);
  CHECK(cas->pem.find("PRIVATE KEY") == std::string::npos);
  CHECK(cas->pem.find("proxy team") == std::string::npos);
}

TEST_CASE("no added CA is an empty set, not an error", "[reconcile]") {
  test::TempDir tmp("sbx-host-ca");
  auto cas = reconcile::collect_host_cas({tmp.path() / "nothing-here", tmp.path()});
  REQUIRE(cas);
  CHECK(cas->certificates == 0);
  CHECK(cas->pem.empty());
}

TEST_CASE("a CA file without a certificate, or too many CAs, is refused by name", "[reconcile][security]") {
  test::TempDir tmp("sbx-host-ca");
  const fs::path d = tmp.path() / "cas";
  write(d / "broken.crt", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  auto bad = reconcile::collect_host_cas({d});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains((d / "broken.crt").string()) && Catch::Contains("no PEM certificate"));

  fs::remove(d / "broken.crt");
  const std::string ca = make_ca(tmp.path(), "big");
  std::string many;
  while (many.size() <= reconcile::kMaxHostCaBytes) many += ca;
  write(d / "bundle.crt", many);
  auto big = reconcile::collect_host_cas({d});
  REQUIRE_FALSE(big);
  CHECK_THAT(big.error().message, Catch::Contains("KiB"));

  fs::remove(d / "bundle.crt");
  for (size_t i = 0; i <= reconcile::kMaxHostCaFiles; ++i) write(d / ("ca" + std::to_string(i) + ".crt"), ca);
  auto files = reconcile::collect_host_cas({d});
  REQUIRE_FALSE(files);
  CHECK_THAT(files.error().message, Catch::Contains("more than 64 CA files"));
}

TEST_CASE("SBX_HOST_CA_DIR replaces the distributions' directories", "[reconcile]") {
  ::setenv("SBX_HOST_CA_DIR", "/x:/y", 1);
  CHECK(reconcile::host_ca_dirs() == std::vector<fs::path>{"/x", "/y"});
  ::unsetenv("SBX_HOST_CA_DIR");
  CHECK(reconcile::host_ca_dirs().front() == "/usr/local/share/ca-certificates");
}
