#include "policy/discovery.h"

#include <algorithm>
#include <cstdlib>
#include <sys/stat.h>

#include "common/paths.h"
#include "common/text.h"
#include "policy/loader.h"
#include "policy/signature.h"

namespace sbx::policy {
namespace fs = std::filesystem;

namespace {

// The *.toml files of `dir`, sorted; none when it does not exist.
Result<std::vector<fs::path>> policy_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  if (!fs::is_directory(dir, ec)) return fail(ErrorCode::invalid, dir.string() + " is not a directory", "policies live in a directory of .toml files");
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".toml") out.push_back(it->path());
  if (ec) return fail(ErrorCode::io, "cannot list the policies in " + dir.string() + ": " + ec.message(), "check its permissions");
  std::sort(out.begin(), out.end());
  return out;
}

Result<void> add_dir(const fs::path& dir, Origin origin, std::vector<Policy>& out) {
  for (const fs::path& f : SBX_TRY(policy_files(dir))) out.push_back(SBX_TRY(load_policy_file(f, origin)));
  return {};
}

// A system policy read once: its bytes are verified, then those same bytes parsed.
Result<Policy> load_signed(const fs::path& file, const std::vector<PublicKey>& keys) {
  const std::string text = SBX_TRY(read_policy_text(file));
  const fs::path sig = signature_path(file);
  const auto refuse = [&](const std::string& why, const std::string& hint) {
    return fail(ErrorCode::permission, "system policy " + file.string() + " is not trusted: " + why,
                hint + " (trusted keys are installed in " + trusted_keys_dir().string() + ", so every system policy must be signed)");
  };
  auto sig_text = read_policy_text(sig);
  if (!sig_text) return refuse("it has no signature (" + sig.string() + ")", "sign it: sbx policy sign " + file.string() + " --key KEY");
  auto signer = verify_policy(text, *sig_text, keys);
  if (!signer) return refuse(signer.error().message, signer.error().hint);
  auto p = SBX_TRY(load_policy_string(text, file.lexically_normal().string(), Origin::system));
  std::error_code ec;
  p.file = fs::absolute(file, ec).lexically_normal();
  p.signer = *signer;
  return p;
}

}  // namespace

fs::path system_config_dir() {
  if (const char* v = std::getenv("SBX_SYSTEM_CONFIG_DIR"); v && *v) return v;
  return "/etc/sbx";
}
fs::path system_policy_dir() { return system_config_dir() / "policies.d"; }
fs::path trusted_keys_dir() { return system_config_dir() / "trusted-keys.d"; }
fs::path user_policy_dir() { return paths::config_dir() / "policies.d"; }

Result<Policy> baseline_policy() { return load_policy_string(baseline_text(), "builtin:policies/baseline.toml", Origin::baseline); }

Sources current_sources() {
  Sources s{system_config_dir(), user_policy_dir(), {}};
  if (const char* env = std::getenv("SBX_POLICY_PATH"); env && *env)
    for (const std::string& entry : text::split(env, ':'))
      if (!entry.empty()) s.path.emplace_back(entry);
  return s;
}

Sources absolute_sources(Sources s) {
  std::error_code ec;
  const auto abs = [&](const fs::path& p) { return p.empty() ? p : fs::absolute(p, ec).lexically_normal(); };
  s.system_config = abs(s.system_config);
  s.user_policies = abs(s.user_policies);
  for (auto& p : s.path) p = abs(p);
  return s;
}

Result<std::vector<Policy>> discover_policies() { return discover_policies(current_sources()); }

Result<std::vector<Policy>> discover_policies(const Sources& sources) {
  std::vector<Policy> out;
  const auto keys = SBX_TRY(load_trusted_keys(sources.system_config / "trusted-keys.d"));
  for (const fs::path& f : SBX_TRY(policy_files(sources.system_config / "policies.d"))) {
    if (keys.empty()) out.push_back(SBX_TRY(load_policy_file(f, Origin::system)));
    else out.push_back(SBX_TRY(load_signed(f, keys)));
  }
  SBX_TRY_VOID(add_dir(sources.user_policies, Origin::user, out));
  for (const fs::path& entry : sources.path) {
    std::error_code ec;
    if (fs::is_directory(entry, ec)) SBX_TRY_VOID(add_dir(entry, Origin::env, out));
    else out.push_back(SBX_TRY(load_policy_file(entry, Origin::env)));
  }
  if (out.empty()) out.push_back(SBX_TRY(baseline_policy()));
  return out;
}

namespace {

void stamp(const fs::path& p, std::string& out) {
  struct stat s {};
  out += p.string();
  if (::stat(p.c_str(), &s) != 0) {
    out += " -\n";
    return;
  }
  out += " " + std::to_string(s.st_ino) + " " + std::to_string(s.st_size) + " " + std::to_string(s.st_mtim.tv_sec) + "." +
         std::to_string(s.st_mtim.tv_nsec) + "\n";
}

// A directory's stamp and each entry's, in name order: additions, removals and edits all show.
void stamp_dir(const fs::path& dir, std::string& out) {
  stamp(dir, out);
  std::vector<fs::path> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(it->path());
  std::sort(entries.begin(), entries.end());
  for (const auto& e : entries) stamp(e, out);
}

}  // namespace

std::string sources_fingerprint(const Sources& sources) {
  std::string out;
  stamp_dir(sources.system_config / "trusted-keys.d", out);
  stamp_dir(sources.system_config / "policies.d", out);
  stamp_dir(sources.user_policies, out);
  for (const fs::path& entry : sources.path) {
    std::error_code ec;
    if (fs::is_directory(entry, ec)) stamp_dir(entry, out);
    else stamp(entry, out);
  }
  return out;
}

}  // namespace sbx::policy
