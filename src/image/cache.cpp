#include "image/cache.h"

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/digest.h"

namespace sbx::image {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxRecord = 1u << 20;

std::optional<std::string> slurp(const fs::path& p, std::size_t max = kMaxRecord) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    s.append(buf, static_cast<std::size_t>(in.gcount()));
    if (s.size() > max) return std::nullopt;
  }
  return s;
}

// Cache records are made 0666 less the umask, as an ofstream would.
constexpr AtomicWriteOptions kRecordFile{.mode = 0666};

json to_json_config(const ImageConfig& c) {
  return {{"env", c.env}, {"working_dir", c.working_dir}, {"user", c.user}, {"entrypoint", c.entrypoint}, {"cmd", c.cmd}};
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& e : j[key])
      if (e.is_string()) out.push_back(e.get<std::string>());
  return out;
}

ImageConfig from_json_config(const json& j) {
  ImageConfig c;
  if (!j.is_object()) return c;
  c.env = strings(j, "env");
  c.working_dir = j.value("working_dir", "");
  c.user = j.value("user", "");
  c.entrypoint = strings(j, "entrypoint");
  c.cmd = strings(j, "cmd");
  return c;
}

std::optional<json> read_record(const fs::path& dir) {
  auto text = slurp(dir / "image.json");
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::uint64_t allocated_bytes(const fs::path& p) {
  struct stat st{};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

}  // namespace

fs::path images_dir(const fs::path& cache) { return cache / "images"; }

fs::path image_dir(const fs::path& cache, const std::string& id) {
  return images_dir(cache) / ("sha256-" + (id.size() > 7 ? id.substr(7) : id));
}

std::string config_to_json(const ImageConfig& c) { return to_json_config(c).dump(); }

std::optional<PreparedImage> lookup(const fs::path& cache, const std::string& id) {
  const fs::path dir = image_dir(cache, id);
  auto rec = read_record(dir);
  if (!rec || rec->value("id", "") != id) return std::nullopt;
  struct stat st{};
  if (::stat((dir / "rootfs.ext4").c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  PreparedImage p;
  p.id = id;
  p.root_disk = dir / "rootfs.ext4";
  p.config = from_json_config((*rec)["config"]);
  p.reused = true;
  return p;
}

Result<void> write_record(const fs::path& cache, const std::string& id, const std::string& format,
                          const std::string& reference, const ImageConfig& config) {
  const fs::path dir = image_dir(cache, id);
  json j = read_record(dir).value_or(json::object());
  auto refs = strings(j, "references");
  if (!reference.empty() && std::find(refs.begin(), refs.end(), reference) == refs.end()) refs.push_back(reference);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  j["id"] = id;
  j["format"] = format;
  j["references"] = refs;
  j["config"] = to_json_config(config);
  if (!j.contains("created")) j["created"] = now;
  j["last_used"] = now;
  return write_file_atomic(dir / "image.json", j.dump(2) + "\n", kRecordFile);
}

void note_use(const fs::path& cache, const std::string& id, const std::string& reference) {
  const fs::path dir = image_dir(cache, id);
  auto j = read_record(dir);
  if (!j) return;
  auto refs = strings(*j, "references");
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const bool known = reference.empty() || std::find(refs.begin(), refs.end(), reference) != refs.end();
  // Only rewrite when something changed or a minute passed: reuse stays a few stat calls.
  if (known && now - j->value("last_used", std::int64_t{0}) < 60) return;
  if (!known) refs.push_back(reference);
  (*j)["references"] = refs;
  (*j)["last_used"] = now;
  (void)write_file_atomic(dir / "image.json", j->dump(2) + "\n", kRecordFile);
}

void forget_reference(const fs::path& cache, const std::string& id, const std::string& reference) {
  const fs::path dir = image_dir(cache, id);
  auto j = read_record(dir);
  if (!j) return;
  auto refs = strings(*j, "references");
  const auto it = std::find(refs.begin(), refs.end(), reference);
  if (it == refs.end()) return;
  refs.erase(it);
  (*j)["references"] = refs;
  (void)write_file_atomic(dir / "image.json", j->dump(2) + "\n", kRecordFile);
}

std::optional<RefEntry> read_ref(const fs::path& cache, const std::string& key) {
  auto text = slurp(images_dir(cache) / "refs" / (digest::sha256_hex(key) + ".json"));
  if (!text) return std::nullopt;
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("key", "") != key) return std::nullopt;
  RefEntry e{j.value("id", ""), j.value("file_sha256", "")};
  if (e.id.empty()) return std::nullopt;
  return e;
}

void write_ref(const fs::path& cache, const std::string& key, const RefEntry& entry) {
  const fs::path dir = images_dir(cache) / "refs";
  std::error_code ec;
  fs::create_directories(dir, ec);
  (void)write_file_atomic(dir / (digest::sha256_hex(key) + ".json"),
                          json{{"key", key}, {"id", entry.id}, {"file_sha256", entry.file_sha256}}.dump() + "\n", kRecordFile);
}

Result<std::vector<CachedImage>> list_images(const fs::path& cache, const std::vector<DiskUser>& in_use) {
  std::vector<CachedImage> out;
  auto users_of = [&](const fs::path& disk) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& u : in_use)
      if (fs::equivalent(u.disk, disk, ec)) names.push_back(u.sandbox);
    return names;
  };
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(images_dir(cache), ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("sha256-") && e.is_directory()) {
      auto rec = read_record(e.path());
      CachedImage c;
      c.id = "sha256:" + name.substr(7);
      c.dir = e.path();
      c.root_disk = e.path() / "rootfs.ext4";
      if (rec) {
        c.format = rec->value("format", "");
        c.references = strings(*rec, "references");
        c.created_unix = rec->value("created", std::int64_t{0});
        c.last_used_unix = rec->value("last_used", std::int64_t{0});
      } else {
        c.format = "incomplete";
      }
      std::error_code e2;
      for (const auto& f : fs::directory_iterator(e.path(), e2)) c.disk_bytes += allocated_bytes(f.path());
      c.used_by = users_of(c.root_disk);
      out.push_back(std::move(c));
    } else if (name.starts_with("default-") && name.ends_with(".ext4")) {
      CachedImage c;
      c.id = "builtin:" + name.substr(8, name.size() - 13);
      c.format = "builtin";
      c.references = {"builtin:default"};
      c.dir = c.root_disk = e.path();
      c.disk_bytes = allocated_bytes(e.path());
      struct stat st{};
      if (::stat(e.path().c_str(), &st) == 0) c.created_unix = c.last_used_unix = st.st_mtime;
      c.used_by = users_of(c.root_disk);
      out.push_back(std::move(c));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created_unix > b.created_unix; });
  return out;
}

Result<void> remove_image(const fs::path& cache, const CachedImage& image) {
  std::error_code ec;
  fs::remove_all(image.dir, ec);
  if (ec) return fail(ErrorCode::io, "cannot remove " + image.dir.string() + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(images_dir(cache) / "refs", ec)) {
    auto text = slurp(e.path());
    if (!text) continue;
    json j = json::parse(*text, nullptr, false);
    if (j.is_object() && j.value("id", "") == image.id) fs::remove(e.path(), ec);
  }
  return {};
}

}  // namespace sbx::image
