#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/defaults.h"
#include "config/units.h"
#include "load_helpers.h"

using namespace sbx::config;
using namespace sbx::config::test;
namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '`' || s.front() == '"')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '`' || s.back() == '"')) s.pop_back();
  return s;
}

// The cells of the first SPEC.md table row whose first cell is `key` (in backticks), trimmed.
std::vector<std::string> spec_row(std::string_view key) {
  std::istringstream in(read(fs::path(SBX_SPEC_DIR) / "SPEC.md"));
  const std::string start = "| `" + std::string(key) + "` |";
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(start)) continue;
    std::vector<std::string> cells;
    std::string cell;
    for (char c : line.substr(1)) {
      if (c == '|') cells.push_back(trim(std::exchange(cell, {})));
      else cell += c;
    }
    return cells;
  }
  FAIL("SPEC.md has no table row for `" << key << "`");
  return {};
}

std::uint64_t size_of(const std::string& text) {
  auto r = parse_size(text);
  INFO(text);
  REQUIRE(r.has_value());
  return *r;
}

// "64MiB-1TiB; size of ..." -> {64 MiB, 1 TiB}
std::pair<std::uint64_t, std::uint64_t> size_range(const std::string& cell) {
  const std::string range = cell.substr(0, cell.find(';'));
  const auto dash = range.find('-');
  REQUIRE(dash != std::string::npos);
  return {size_of(range.substr(0, dash)), size_of(range.substr(dash + 1))};
}

}  // namespace

TEST_CASE("SPEC.md's key tables give the defaults and ranges of config/defaults.h", "[config][defaults]") {
  const auto cpus = spec_row("cpus");
  REQUIRE(cpus.size() >= 4);
  CHECK(cpus[2] == std::to_string(kDefaultCpus));
  CHECK(cpus[3] == std::to_string(kMinCpus) + "-" + std::to_string(kMaxCpus));
  const auto memory = spec_row("memory");
  REQUIRE(memory.size() >= 4);
  CHECK(size_of(memory[2]) == kDefaultMemoryBytes);
  CHECK(size_range(memory[3]) == std::pair{kMinMemoryBytes, kMaxMemoryBytes});
  const auto disk = spec_row("disk");
  REQUIRE(disk.size() >= 4);
  CHECK(size_of(disk[2]) == kDefaultDiskBytes);
  CHECK(size_range(disk[3]) == std::pair{kMinDiskBytes, kMaxDiskBytes});
  CHECK(spec_row("workdir").at(2) == kDefaultWorkdir);
  CHECK(spec_row("user").at(2) == kDefaultUser);
  // The top-level table sums [resources] up.
  CHECK(spec_row("[resources]").at(2) ==
        std::to_string(kDefaultCpus) + " cpu, " + format_size(kDefaultMemoryBytes) + ", " + format_size(kDefaultDiskBytes));
}

TEST_CASE("sandboxfile.schema.json gives the defaults and ranges of config/defaults.h", "[config][defaults]") {
  const auto schema = nlohmann::json::parse(read(fs::path(SBX_SPEC_DIR) / "sandboxfile.schema.json"));
  const auto& resources = schema.at("properties").at("resources").at("properties");
  CHECK(resources.at("cpus").at("default") == kDefaultCpus);
  CHECK(resources.at("cpus").at("minimum") == kMinCpus);
  CHECK(resources.at("cpus").at("maximum") == kMaxCpus);
  CHECK(size_of(resources.at("memory").at("default")) == kDefaultMemoryBytes);
  CHECK(size_of(resources.at("disk").at("default")) == kDefaultDiskBytes);
  // The size ranges are prose in the descriptions.
  const std::string memory = resources.at("memory").at("description");
  CHECK(memory.find(format_size(kMinMemoryBytes) + "-" + format_size(kMaxMemoryBytes) + ".") != std::string::npos);
  const std::string disk = resources.at("disk").at("description");
  CHECK(disk.find(format_size(kMinDiskBytes) + "-" + format_size(kMaxDiskBytes) + ".") != std::string::npos);
  const auto& agent = schema.at("properties").at("agent").at("properties");
  CHECK(agent.at("workdir").at("default") == kDefaultWorkdir);
  CHECK(agent.at("user").at("default") == kDefaultUser);
}

TEST_CASE("the loader and a fresh Resources fill in the defaults of config/defaults.h", "[config][defaults]") {
  const Sandboxfile f = load_ok("version = 1\n");
  CHECK(f.resources.cpus == kDefaultCpus);
  CHECK(f.resources.memory_bytes == kDefaultMemoryBytes);
  CHECK(f.resources.disk_bytes == kDefaultDiskBytes);
  CHECK(f.agent.workdir == kDefaultWorkdir);
  CHECK(f.agent.user == kDefaultUser);
  const Resources r;
  CHECK(r.cpus == kDefaultCpus);
  CHECK(r.memory_bytes == kDefaultMemoryBytes);
  CHECK(r.disk_bytes == kDefaultDiskBytes);
}

TEST_CASE("the resource ranges of config/defaults.h are what the loader enforces", "[config][defaults]") {
  const auto at = [](std::string_view key, std::string value) {
    return load_string("version = 1\n[resources]\n" + std::string(key) + " = " + value + "\n", "S", kDir);
  };
  CHECK(at("cpus", std::to_string(kMinCpus)).has_value());
  CHECK(at("cpus", std::to_string(kMaxCpus)).has_value());
  CHECK_FALSE(at("cpus", std::to_string(kMinCpus - 1)).has_value());
  CHECK_FALSE(at("cpus", std::to_string(kMaxCpus + 1)).has_value());
  CHECK(at("memory", "\"" + format_size(kMinMemoryBytes) + "\"").has_value());
  CHECK(at("memory", "\"" + format_size(kMaxMemoryBytes) + "\"").has_value());
  CHECK_FALSE(at("memory", "\"" + std::to_string(kMinMemoryBytes - 1) + "B\"").has_value());
  CHECK_FALSE(at("memory", "\"" + std::to_string(kMaxMemoryBytes + 1) + "B\"").has_value());
  CHECK(at("disk", "\"" + format_size(kMinDiskBytes) + "\"").has_value());
  CHECK(at("disk", "\"" + format_size(kMaxDiskBytes) + "\"").has_value());
  CHECK_FALSE(at("disk", "\"" + std::to_string(kMinDiskBytes - 1) + "B\"").has_value());
  CHECK_FALSE(at("disk", "\"" + std::to_string(kMaxDiskBytes + 1) + "B\"").has_value());
}
