#include <catch2/catch.hpp>

#include "config/canonical.h"
#include "config/defaults.h"
#include "load_helpers.h"

using namespace sbx::config;
using namespace sbx::config::test;

namespace {
constexpr std::string_view kPlain = "version = 1\nname = \"d\"\n";
}  // namespace

TEST_CASE("[docker] enabled without [image] takes the dev image and Docker-sized resources", "[config][docker]") {
  const Sandboxfile f = load_ok(std::string(kPlain) + "[docker]\nenabled = true\n");
  CHECK(f.docker.enabled);
  CHECK(f.docker.location.line == 3);
  CHECK(f.image.kind == ImageKind::dev);
  CHECK(f.resources.memory_bytes == kDockerDefaultMemoryBytes);
  CHECK(f.resources.disk_bytes == kDockerDefaultDiskBytes);
}

TEST_CASE("[docker] keeps a written [image] and written sizes", "[config][docker]") {
  const Sandboxfile f = load_ok(std::string(kPlain) +
                                "[image]\nref = \"builtin\"\n[resources]\nmemory = \"2GiB\"\ndisk = \"3GiB\"\n[docker]\nenabled = true\n");
  CHECK(f.image.kind == ImageKind::builtin);
  CHECK(f.resources.memory_bytes == (2ull << 30));
  CHECK(f.resources.disk_bytes == (3ull << 30));
}

TEST_CASE("[docker] enabled = false changes nothing, not even the digest", "[config][docker]") {
  const Sandboxfile plain = load_ok(kPlain);
  const Sandboxfile off = load_ok(std::string(kPlain) + "[docker]\nenabled = false\n");
  CHECK_FALSE(off.docker.enabled);
  CHECK(off.image.kind == plain.image.kind);
  CHECK(off.resources.memory_bytes == plain.resources.memory_bytes);
  CHECK(digest(off) == digest(plain));
  CHECK_FALSE(to_json(plain).contains("docker"));
}

TEST_CASE("[docker] enabled is in the canonical form and changes the digest", "[config][docker]") {
  const Sandboxfile on = load_ok(std::string(kPlain) + "[image]\nref = \"builtin\"\n[resources]\nmemory = \"1GiB\"\ndisk = \"8GiB\"\n[docker]\nenabled = true\n");
  const Sandboxfile off = load_ok(std::string(kPlain) + "[image]\nref = \"builtin\"\n[resources]\nmemory = \"1GiB\"\ndisk = \"8GiB\"\n");
  CHECK(to_json(on)["docker"]["enabled"] == true);
  CHECK(digest(on) != digest(off));
}

TEST_CASE("[docker] refuses sizes too small for a daemon, a non-boolean and unknown keys", "[config][docker]") {
  CHECK_THAT(load_err(std::string(kPlain) + "[resources]\nmemory = \"256MiB\"\n[docker]\nenabled = true\n").render(),
             Catch::Contains("at least 512 MiB"));
  CHECK_THAT(load_err(std::string(kPlain) + "[resources]\ndisk = \"512MiB\"\n[docker]\nenabled = true\n").render(),
             Catch::Contains("at least 1 GiB"));
  CHECK_THAT(load_err(std::string(kPlain) + "[docker]\nenabled = \"yes\"\n").render(), Catch::Contains("must be a boolean"));
  CHECK_THAT(load_err(std::string(kPlain) + "[docker]\nenable = true\n").render(), Catch::Contains("did you mean 'enabled'"));
  CHECK_THAT(load_err(std::string(kPlain) + "docker = true\n").render(), Catch::Contains("[docker] as a table"));
}

TEST_CASE("[docker] insecure_registries are host[:port], lower-cased, and need enabled", "[config][docker]") {
  const Sandboxfile f = load_ok(std::string(kPlain) + "[docker]\nenabled = true\ninsecure_registries = [\"Registry.SBX.test:5000\", \"registry.sbx.test:5000\", \"mirror.internal\"]\n");
  CHECK(f.docker.insecure_registries == std::vector<std::string>{"registry.sbx.test:5000", "mirror.internal"});
  CHECK(to_json(f)["docker"]["insecure_registries"].size() == 2);
  CHECK_FALSE(to_json(load_ok(std::string(kPlain) + "[docker]\nenabled = true\n"))["docker"].contains("insecure_registries"));
  CHECK_THAT(load_err(std::string(kPlain) + "[docker]\nenabled = true\ninsecure_registries = [\"http://r:5000\"]\n").render(),
             Catch::Contains("not a host name with an optional port"));
  CHECK_THAT(load_err(std::string(kPlain) + "[docker]\nenabled = true\ninsecure_registries = [\"r:99999\"]\n").render(),
             Catch::Contains("not a host name"));
  CHECK_THAT(load_err(std::string(kPlain) + "[docker]\ninsecure_registries = [\"r:5000\"]\n").render(), Catch::Contains("needs enabled = true"));
}
