#include "image/saved_image.h"

#include "common/digest.h"
#include "common/paths.h"
#include "config/image_ref.h"
#include "image/cache.h"

namespace sbx::image {
namespace fs = std::filesystem;

namespace {
fs::path cache_of(const ImportOptions& o) { return o.cache_dir.empty() ? paths::cache_dir() : o.cache_dir; }
}  // namespace

std::string saved_reference(const std::string& name) { return "saved:" + name; }

std::optional<std::string> saved_image_id(const fs::path& cache, const std::string& name) {
  auto ref = read_ref(cache, saved_reference(name));
  if (!ref || !lookup(cache, ref->id)) return std::nullopt;
  return ref->id;
}

Result<PreparedImage> prepare_saved_image(const std::string& reference, const ImportOptions& o) {
  const fs::path cache = cache_of(o);
  const std::string name = reference.starts_with("saved:") ? reference.substr(6) : reference;
  const auto id = saved_image_id(cache, name);
  if (!id)
    return fail(ErrorCode::not_found, "no image is saved as '" + name + "'",
                "save a sandbox under that name first (sbx save " + name + " --name SANDBOX); sbx image ls lists the saved images");
  auto hit = lookup(cache, *id);
  note_use(cache, *id, reference);
  if (o.progress) o.progress("image " + reference + ": " + id->substr(0, 19));
  return *hit;
}

Result<PreparedImage> publish_saved_image(const SaveRequest& r, const ImportOptions& o) {
  if (!config::valid_saved_name(r.name))
    return fail(ErrorCode::usage, "'" + r.name.substr(0, 80) + "' is not a valid saved image name",
                "use 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit");
  const fs::path cache = cache_of(o);
  const std::string reference = saved_reference(r.name);
  const auto old = saved_image_id(cache, r.name);
  if (old && !r.force)
    return fail(ErrorCode::invalid, "an image is already saved as '" + r.name + "' (" + old->substr(0, 19) + ")",
                "pass --force to replace it, or choose another name");
  const std::string base = SBX_TRY(digest::sha256_file(r.base_layer));
  const std::string upper = SBX_TRY(digest::sha256_file(r.upper_layer));
  digest::Sha256 h;
  h.update("sbx-saved-image-1\n" + base + "\n" + upper + "\n" + config_to_json(r.config) + "\n");
  const std::string id = "sha256:" + h.hex();
  PreparedImage p = SBX_TRY(import_layer_tars({r.base_layer, r.upper_layer}, id, "saved", reference, o, r.config));
  if (old && *old != id) forget_reference(cache, *old, reference);
  write_ref(cache, reference, {id, ""});
  return p;
}

}  // namespace sbx::image
