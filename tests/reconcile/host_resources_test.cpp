#include <catch2/catch.hpp>

#include "reconcile/host_resources.h"

using namespace sbx::reconcile;

namespace {
constexpr std::uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;

HostFacts host(unsigned cpus, std::uint64_t total, std::uint64_t available) { return {total, available, cpus}; }

sbx::config::Resources asking(unsigned cpus, std::uint64_t memory) {
  sbx::config::Resources r;
  r.cpus = cpus;
  r.memory_bytes = memory;
  return r;
}
}  // namespace

TEST_CASE("parse_meminfo reads MemTotal and MemAvailable in bytes", "[reconcile][host]") {
  const auto f = parse_meminfo("MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   12288000 kB\n");
  REQUIRE(f);
  CHECK(f->memory_total == 24576000ull * 1024);
  CHECK(f->memory_available == 12288000ull * 1024);
  const auto old_kernel = parse_meminfo("MemTotal: 2048 kB\nMemFree: 1024 kB\n");
  REQUIRE(old_kernel);
  CHECK(old_kernel->memory_available == 1024ull * 1024);
  CHECK_FALSE(parse_meminfo("MemFree: 1 kB\n"));
  CHECK_FALSE(parse_meminfo("MemTotal: lots\nMemAvailable: 1 kB\n"));
  CHECK_FALSE(parse_meminfo("MemTotalX: 5 kB\nMemAvailable: 1 kB\n"));
}

TEST_CASE("read_host_facts finds this machine's memory and at least one CPU", "[reconcile][host]") {
  const auto f = read_host_facts();
  REQUIRE(f);
  CHECK(f->cpus >= 1);
  CHECK(f->memory_total > 64 * kMiB);
  CHECK(f->memory_available <= f->memory_total);
}

TEST_CASE("a request within the host fits without a word", "[reconcile][host]") {
  const auto h = host(2, 23 * kGiB, 20 * kGiB);
  const auto fit = check_resources(asking(2, 2 * kGiB), h, host_ceilings(h));
  CHECK(fit.fits());
  CHECK(fit.warnings.empty());
  CHECK(refuse_unless_fits(fit, "p", "/x/Sandboxfile"));
}

TEST_CASE("more memory than the host's RAM is refused with the largest size that fits", "[reconcile][host]") {
  const auto h = host(2, 23 * kGiB + 400 * kMiB, 20 * kGiB);
  const auto fit = check_resources(asking(1, 32 * kGiB), h, host_ceilings(h));
  REQUIRE_FALSE(fit.fits());
  REQUIRE(fit.problems.size() == 1);
  CHECK(fit.problems[0] == "memory = \"32GiB\" is more than this host's RAM (23.4 GiB)");
  CHECK(fit.hints[0] == "set [resources] memory = \"23GiB\" or less");
  const auto r = refuse_unless_fits(fit, "p", "/x/Sandboxfile");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "sandbox 'p' asks for more than it can have: memory = \"32GiB\" is more than this host's RAM (23.4 GiB)");
  CHECK(r.error().location.file == "/x/Sandboxfile");
  // Below one GiB the fix is in MiB.
  const auto small = host(1, 900 * kMiB + 5, 800 * kMiB);
  CHECK(check_resources(asking(1, kGiB), small, host_ceilings(small)).hints.at(0) == "set [resources] memory = \"900MiB\" or less");
}

TEST_CASE("more CPUs than sbx may use are refused, and both problems are named together", "[reconcile][host]") {
  const auto h = host(2, 23 * kGiB, 20 * kGiB);
  const auto fit = check_resources(asking(256, 32 * kGiB), h, host_ceilings(h));
  REQUIRE(fit.problems.size() == 2);
  CHECK(fit.problems[0] == "cpus = 256 is more than the CPUs sbx may use on this host (2)");
  CHECK(fit.hints[0] == "set [resources] cpus = 2 or less");
  const auto r = refuse_unless_fits(fit, "p", "/x/Sandboxfile");
  REQUIRE_FALSE(r);
  CHECK(r.error().hint == "set [resources] cpus = 2 or less; set [resources] memory = \"23GiB\" or less");
  // Exactly the host's size is allowed.
  CHECK(check_resources(asking(2, 23 * kGiB), h, host_ceilings(h)).fits());
}

TEST_CASE("memory above what is available now boots with a warning", "[reconcile][host]") {
  const auto h = host(4, 23 * kGiB, 3 * kGiB);
  const auto fit = check_resources(asking(1, 8 * kGiB), h, host_ceilings(h));
  CHECK(fit.fits());
  REQUIRE(fit.warnings.size() == 1);
  CHECK(fit.warnings[0].find("more than the host has available now (3.0 GiB of 23.0 GiB)") != std::string::npos);
}

TEST_CASE("lower ceilings passed in (a policy's) are what the request is held to", "[reconcile][host]") {
  const auto h = host(64, 256 * kGiB, 200 * kGiB);
  const ResourceCeilings policy{4 * kGiB, 2, "the policy's limit", "the policy's CPU limit"};
  const auto fit = check_resources(asking(4, 8 * kGiB), h, policy);
  REQUIRE(fit.problems.size() == 2);
  CHECK(fit.problems[0] == "cpus = 4 is more than the policy's CPU limit (2)");
  CHECK(fit.problems[1] == "memory = \"8GiB\" is more than the policy's limit (4.0 GiB)");
  CHECK(check_resources(asking(2, 4 * kGiB), h, policy).fits());
}
