#pragma once
// A private world for one policy test: HOME, sbx's own directories, the system config directory
// and SBX_POLICY_PATH all point into one scratch directory (and are restored afterwards), so no
// test reads or writes /etc or the real home.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "config/loader.h"
#include "policy/check.h"
#include "policy/loader.h"
#include "support/temp_dir.h"

namespace sbx::policy::test {

namespace fs = std::filesystem;

/// Sets and later restores environment variables.
class EnvGuard {
 public:
  void set(const std::string& name, const std::string& value) {
    remember(name);
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    remember(name);
    ::unsetenv(name.c_str());
  }
  ~EnvGuard() {
    for (const auto& [k, v] : saved_) {
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
  }

 private:
  void remember(const std::string& name) {
    if (saved_.contains(name)) return;
    const char* v = std::getenv(name.c_str());
    saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

/// The scratch world: root/home is HOME, root/etc-sbx the system config dir, the rest empty.
struct PolicyEnv {
  sbx::test::TempDir dir{"sbx-policy"};
  fs::path root = fs::canonical(dir.path());
  fs::path home = root / "home";
  fs::path system = root / "etc-sbx";
  fs::path project = home / "proj";
  EnvGuard env;

  PolicyEnv() {
    fs::create_directories(project);
    env.set("HOME", home.string());
    env.set("SBX_STATE_DIR", (home / ".local/state/sbx").string());
    env.set("SBX_DATA_DIR", (home / ".local/share/sbx").string());
    env.set("SBX_CONFIG_DIR", (home / ".config/sbx").string());
    env.set("SBX_CACHE_DIR", (home / ".cache/sbx").string());
    env.set("SBX_SYSTEM_CONFIG_DIR", system.string());
    env.unset("SBX_POLICY_PATH");
    env.unset("XDG_CONFIG_HOME");
  }
};

/// Write `text` to `path`, creating its directory.
inline void write(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

/// `text` loaded as a policy named "policy.toml"; REQUIREs that it loads.
inline Policy policy_ok(std::string_view text, std::string_view name = "policy.toml") {
  auto r = load_policy_string(text, name, Origin::env);
  INFO((r ? std::string() : r.error().render()));
  REQUIRE(r.has_value());
  return *r;
}

/// The error of loading `text` as a policy; REQUIREs that it fails.
inline Error policy_err(std::string_view text) {
  auto r = load_policy_string(text, "policy.toml", Origin::env);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

/// `text` loaded as the Sandboxfile of `project`; REQUIREs that it loads.
inline config::Sandboxfile sandboxfile(std::string_view text, const fs::path& project = "/home/u/proj") {
  auto r = config::load_string(text, "Sandboxfile", project);
  INFO((r ? std::string() : r.error().render()));
  REQUIRE(r.has_value());
  return *r;
}

/// The keys of the violations of `file` against `policies`, in report order.
inline std::vector<std::string> violated(const config::Sandboxfile& file, const std::vector<Policy>& policies) {
  std::vector<std::string> keys;
  for (const auto& v : check(file, policies).violations) keys.push_back(v.key);
  return keys;
}

}  // namespace sbx::policy::test
