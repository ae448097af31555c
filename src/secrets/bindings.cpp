#include "secrets/bindings.h"

#include <system_error>

#ifdef SBX_SECRETS_WITH_CONFIG
#include "config/loader.h"
#endif

namespace sbx::secrets {
namespace fs = std::filesystem;

bool bindings_supported() {
#ifdef SBX_SECRETS_WITH_CONFIG
  return true;
#else
  return false;
#endif
}

Result<Bindings> load_bindings(const fs::path& path, bool required) {
  Bindings out;
  std::error_code ec;
  const fs::path file = fs::is_directory(path, ec) ? path / "Sandboxfile" : path;
  if (!fs::exists(file, ec)) {
    if (!required) return out;
    return fail(ErrorCode::not_found, "no Sandboxfile at " + file.string(), "pass the path of a Sandboxfile to --sandboxfile");
  }
#ifdef SBX_SECRETS_WITH_CONFIG
  auto sf = config::load_file(file);
  if (!sf) return std::unexpected(sf.error());
  out.sandboxfile = sf->file.empty() ? file : sf->file;
  for (const config::Secret& s : sf->secrets) {
    Binding b;
    b.secret = s.name;
    b.where = s.location.known() ? s.location.str() : out.sandboxfile.string();
    if (s.inject == config::InjectKind::env) {
      b.how = "env " + s.env_var;
    } else {
      b.how = "header " + s.header + " for ";
      for (std::size_t i = 0; i < s.hosts.size(); ++i) b.how += (i ? ", " : "") + s.hosts[i];
    }
    out.items.push_back(std::move(b));
  }
  return out;
#else
  return fail(ErrorCode::runtime, "this build of sbx cannot read Sandboxfiles (it was built without the config loader)",
              "rebuild sbx with src/config present");
#endif
}

}  // namespace sbx::secrets
