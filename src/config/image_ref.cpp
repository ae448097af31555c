#include "config/image_ref.h"

#include <algorithm>

#include <re2/re2.h>

#include "config/host_path.h"

namespace sbx::config {

namespace {
bool is_local_path(std::string_view ref) {
  return ref.starts_with("/") || ref.starts_with("./") || ref.starts_with("../") || ref.starts_with("~") ||
         ref == "." || ref == "..";
}

bool is_archive(std::string_view path) {
  return path.ends_with(".tar") || path.ends_with(".tar.gz") || path.ends_with(".tgz");
}

const RE2& registry_pattern() {
  // The distribution reference grammar: [domain[:port]/]path[:tag][@sha256:hex]
  static const RE2 re(
      R"(((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?)"
      R"([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*))"
      R"((?::([\w][\w.-]{0,127}))?)"
      R"((?:@(sha256:[0-9a-f]{64}))?)");
  return re;
}
}  // namespace

bool valid_saved_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

Result<std::string> parse_digest(std::string_view text) {
  const bool ok = text.size() == 71 && text.starts_with("sha256:") &&
                  std::all_of(text.begin() + 7, text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (!ok)
    return fail(ErrorCode::invalid, "invalid digest '" + std::string(text.substr(0, 80)) + "'",
                "a digest pin is \"sha256:\" followed by 64 lower-case hex digits");
  return std::string(text);
}

Result<Image> parse_image_ref(std::string_view ref, const std::filesystem::path& project_dir) {
  Image image;
  if (ref == "builtin" || ref == "builtin:default") {
    image.kind = ImageKind::builtin;
    image.reference = "builtin:default";
    return image;
  }
  if (ref == "dev") {
    image.kind = ImageKind::dev;
    image.reference = "dev";
    return image;
  }
  // "saved:" cannot be a registry reference ("saved" would be a host without a dot or port, and
  // a tag has no '/' before it): Docker Hub's image "saved" is written docker.io/library/saved.
  if (ref.starts_with("saved:")) {
    const std::string_view name = ref.substr(6);
    if (!valid_saved_name(name))
      return fail(ErrorCode::invalid, "'" + std::string(name.substr(0, 80)) + "' is not a valid saved image name",
                  "a saved image name is 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit "
                  "(sbx image ls lists the saved images)");
    image.kind = ImageKind::saved;
    image.reference = "saved:" + std::string(name);
    return image;
  }
  if (ref.starts_with("builtin:"))
    return fail(ErrorCode::invalid, "unknown built-in image '" + std::string(ref.substr(8, 64)) + "'",
                "the only built-in image is \"builtin\" (also spelled \"builtin:default\")");
  if (is_local_path(ref)) {
    const std::filesystem::path p = SBX_TRY(resolve_host_path(ref, project_dir));
    image.kind = is_archive(p.string()) ? ImageKind::oci_archive : ImageKind::rootfs_dir;
    image.reference = p.string();
    return image;
  }
  std::string name, tag, pinned;
  if (ref.size() > 512 || !RE2::FullMatch(re2::StringPiece(ref.data(), ref.size()), registry_pattern(), &name, &tag, &pinned))
    return fail(ErrorCode::invalid, "'" + std::string(ref.substr(0, 80)) + "' is not a valid image reference",
                "write \"builtin\", a path starting with '/', './' or '~/' (a rootfs directory, or a .tar/.tar.gz/.tgz image archive), "
                "or a registry reference like \"docker.io/library/alpine:3.19\"");
  // Normalise the way docker does: no domain means docker.io, a single name means library/.
  const size_t slash = name.find('/');
  const std::string first = slash == std::string::npos ? std::string() : name.substr(0, slash);
  const bool has_domain = !first.empty() && (first.find_first_of(".:") != std::string::npos || first == "localhost" ||
                                             std::any_of(first.begin(), first.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  if (!has_domain) name = (slash == std::string::npos ? "docker.io/library/" : "docker.io/") + name;
  if (tag.empty() && pinned.empty()) tag = "latest";
  image.kind = ImageKind::registry;
  image.reference = tag.empty() ? name : name + ":" + tag;
  if (!pinned.empty()) image.digest = pinned;
  return image;
}

}  // namespace sbx::config
