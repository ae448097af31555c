#include "image/image.h"
#include "image/saved_image.h"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/digest.h"
#include "common/errno_text.h"
#include "common/log.h"
#include "common/paths.h"
#include "common/run_tool.h"
#include "image/cache.h"
#include "image/disk.h"
#include "image/manifest.h"
#include "image/progress.h"
#include "image/registry.h"
#include "image/source.h"
#include "image/tree.h"

namespace sbx::image {
namespace fs = std::filesystem;

namespace {

fs::path cache_of(const ImportOptions& o) { return o.cache_dir.empty() ? paths::cache_dir() : o.cache_dir; }

void say(const ImportOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

// A private scratch directory next to the cache (same file system: the final rename is atomic).
class Staging {
 public:
  static Result<Staging> make(const fs::path& cache) {
    const fs::path base = images_dir(cache);
    SBX_TRY_VOID(paths::ensure_private_dir(cache));
    std::error_code ec;
    fs::create_directories(base, ec);
    if (ec) return fail(ErrorCode::io, "cannot create " + base.string() + ": " + ec.message());
    std::random_device rd;
    Staging s;
    s.dir_ = base / (".build-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    if (!fs::create_directory(s.dir_, ec) || ec) return fail(ErrorCode::io, "cannot create " + s.dir_.string());
    ::chmod(s.dir_.c_str(), 0700);
    return s;
  }
  Staging() = default;
  Staging(Staging&& o) noexcept : dir_(std::move(o.dir_)) { o.dir_.clear(); }
  ~Staging() {
    if (dir_.empty()) return;
    // Layers may leave directories without write permission: remove_at widens them first.
    Fd parent(::open(dir_.parent_path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (parent) remove_at(parent.get(), dir_.filename().string());
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

// SHA-256 of an open file from offset 0 (OpenSSL: SHA-NI where the CPU has it), and its size.
Result<std::string> hash_fd(int fd, std::uint64_t& size, const std::function<void(std::uint64_t)>& done) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  struct Free {
    EVP_MD_CTX* c;
    ~Free() { EVP_MD_CTX_free(c); }
  } free_ctx{ctx};
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  size = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(size));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCode::io, "cannot read a blob: " + errno_text());
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(n));
    size += static_cast<std::uint64_t>(n);
    if (done) done(size);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool running_as_root(const ImportOptions& o) { return ::geteuid() == 0 && !o.owners_by_debugfs; }

// Put a finished image in place: rename <staging>/image to <cache>/images/sha256-<hex>.
Result<PreparedImage> publish(const fs::path& cache, const Staging& staging, const std::string& id,
                              const std::string& format, const std::string& reference, const ImageConfig& config) {
  const fs::path built = staging.dir() / "image";
  ::chmod((built / "rootfs.ext4").c_str(), 0444);
  const fs::path final_dir = image_dir(cache, id);
  std::error_code ec;
  fs::rename(built, final_dir, ec);
  if (ec) {
    // Someone else finished the same image first (or a broken leftover is in the way).
    if (!lookup(cache, id)) {
      fs::remove_all(final_dir, ec);
      fs::rename(built, final_dir, ec);
      if (ec) return fail(ErrorCode::io, "cannot move the image into " + final_dir.string() + ": " + ec.message());
    }
  }
  SBX_TRY_VOID(write_record(cache, id, format, reference, config));
  auto p = lookup(cache, id);
  if (!p) return fail(ErrorCode::io, "the image in " + final_dir.string() + " is incomplete");
  p->reused = false;
  return *p;
}

// Apply the plan's layers from `source` into a fresh tree, add the guest's files, make the disk.
Result<PreparedImage> build(const Source& source, const ImagePlan& plan, const std::string& reference,
                            const ImportOptions& o) {
  const fs::path cache = cache_of(o);
  if (auto hit = lookup(cache, plan.id)) {
    note_use(cache, plan.id, reference);
    say(o, "image " + plan.id.substr(0, 19) + ": cached");
    return *hit;
  }
  auto log = sbx::log::get("image");
  Staging staging = SBX_TRY(Staging::make(cache));
  const fs::path tree = staging.dir() / "tree";
  std::error_code ec;
  fs::create_directory(tree, ec);
  fs::create_directory(staging.dir() / "image", ec);
  ::chmod(tree.c_str(), 0755);
  const bool root = running_as_root(o);
  TreeBuilder builder = SBX_TRY(TreeBuilder::open(tree, root, o.max_unpacked_bytes));
  const std::size_t n = plan.layers.size();
  for (std::size_t i = 0; i < n; ++i) {
    const LayerRef& layer = plan.layers[i];
    const std::string label = "layer " + std::to_string(i + 1) + "/" + std::to_string(n) + " " + layer.digest.substr(7, 12);
    Fd fd = SBX_TRY(source.open(layer.member));
    struct stat st{};
    ::fstat(fd.get(), &st);
    const auto total = static_cast<std::uint64_t>(st.st_size);
    std::uint64_t size = 0;
    std::string got;
    {
      ProgressMeter meter(o.meter, "verifying " + label, total);
      got = SBX_TRY(hash_fd(fd.get(), size, [&](std::uint64_t d) { meter.update(d); }));
    }
    if (got != layer.digest || (layer.size && size != layer.size))
      return fail(ErrorCode::invalid,
                  source.display() + ": " + label + " does not match its digest (" + layer.digest + ", got " + got + ")",
                  "the image is corrupt or was tampered with; fetch or save it again");
    ProgressMeter meter(o.meter, "unpacking " + label, total);
    SBX_TRY_VOID(builder.apply(fd.get(), source.display() + " " + label, [&](std::uint64_t d) { meter.update(d); }));
  }
  auto meta = builder.meta();
  const GuestAdditions added = SBX_TRY(add_guest_files(builder.root_fd(), root ? nullptr : &meta));
  const TreeStats& stats = builder.stats();
  log->info("image {}: {} entries, {} unpacked, {} whiteouts, {} device nodes skipped{}", plan.id, stats.entries,
            human_bytes(stats.bytes), stats.whiteouts, stats.skipped_devices,
            added.added_agent ? ", added user agent " + std::to_string(added.agent_uid) : "");
  say(o, "building root disk (" + human_bytes(stats.bytes) + ", " + std::to_string(stats.entries) + " files)");
  SBX_TRY_VOID(make_image_disk(tree, staging.dir() / "image" / "rootfs.ext4", root ? nullptr : &meta));
  auto p = SBX_TRY(publish(cache, staging, plan.id, plan.format, reference, plan.config));
  say(o, "image " + plan.id.substr(0, 19) + ": ready");
  return p;
}

std::string stat_key(const std::string& kind, const fs::path& p, const struct stat& st) {
  return kind + ":" + p.string() + ":" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
         ":" + std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}

// A digest of a directory tree's metadata (names, types, modes, owners, sizes, mtimes, link
// targets): cheap to recompute on every `sbx up`, changes whenever a file is replaced or edited.
Result<std::string> tree_digest(const fs::path& dir, std::map<std::string, EntryMeta>* meta) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    // Lexically: fs::relative resolves symlinks, and a rootfs's dev/fd -> /proc/self/fd would name
    // this process's pid, so the digest (and the cache) would change on every run.
    const std::string rel = it->path().lexically_relative(dir).string();
    std::string line = rel + '\0' + std::to_string(st.st_mode) + '\0' + std::to_string(st.st_uid) + ':' +
                       std::to_string(st.st_gid) + '\0' + std::to_string(st.st_size) + '\0' +
                       std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec);
    if (S_ISLNK(st.st_mode)) line += '\0' + fs::read_symlink(it->path(), ec).string();
    lines.push_back(std::move(line));
    if (meta) (*meta)[rel] = EntryMeta{st.st_uid, st.st_gid, st.st_mode};
  }
  if (ec) return fail(ErrorCode::io, "cannot read " + dir.string() + ": " + ec.message());
  std::sort(lines.begin(), lines.end());
  digest::Sha256 h;
  h.update("sbx-rootfs-dir-1\n");
  for (const auto& l : lines) {
    h.update(l);
    h.update("\n");
  }
  return "sha256:" + h.hex();
}

}  // namespace

Result<PreparedImage> import_layout(const fs::path& layout_dir, const std::string& reference, const ImportOptions& o) {
  Source source = SBX_TRY(Source::from_directory(layout_dir));
  const ImagePlan plan = SBX_TRY(read_plan(source, o));
  return build(source, plan, reference, o);
}

Result<PreparedImage> import_archive(const fs::path& archive, const std::string& pin, const ImportOptions& o) {
  const fs::path cache = cache_of(o);
  struct stat st{};
  if (::stat(archive.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return fail(ErrorCode::not_found, "image archive " + archive.string() + " does not exist or is not a file",
                "check [image] ref; write e.g. docker save -o image.tar NAME:TAG");
  // Reuse without reading the archive when it is the very file imported before.
  const std::string key = stat_key("archive", archive, st);
  if (auto ref = read_ref(cache, key); ref && (pin.empty() || ref->file_sha256 == pin)) {
    if (auto hit = lookup(cache, ref->id)) {
      note_use(cache, ref->id, archive.string());
      say(o, "image " + ref->id.substr(0, 19) + ": cached");
      return *hit;
    }
  }
  std::string file_sha;
  if (!pin.empty()) {
    Fd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(ErrorCode::io, "cannot open " + archive.string() + ": " + errno_text());
    std::uint64_t size = 0;
    ProgressMeter meter(o.meter, "checking digest of " + archive.filename().string(), static_cast<std::uint64_t>(st.st_size));
    file_sha = SBX_TRY(hash_fd(fd.get(), size, [&](std::uint64_t d) { meter.update(d); }));
    if (file_sha != pin)
      return fail(ErrorCode::invalid, "image archive " + archive.string() + " has digest " + file_sha + ", the Sandboxfile pins " + pin,
                  "the archive changed: update [image] digest if the new one is trusted");
  }
  Staging staging = SBX_TRY(Staging::make(cache));
  say(o, "reading image archive " + archive.string() + " (" + human_bytes(static_cast<std::uint64_t>(st.st_size)) + ")");
  Source source = SBX_TRY(Source::from_archive(archive, staging.dir() / "src", o.max_unpacked_bytes));
  const ImagePlan plan = SBX_TRY(read_plan(source, o));
  PreparedImage p = SBX_TRY(build(source, plan, archive.string(), o));
  write_ref(cache, key, {p.id, file_sha});
  return p;
}

Result<PreparedImage> import_layer_tars(const std::vector<fs::path>& layers, const std::string& id, const std::string& format,
                                        const std::string& reference, const ImportOptions& o, const ImageConfig& config) {
  const fs::path cache = cache_of(o);
  if (auto hit = lookup(cache, id)) {
    note_use(cache, id, reference);
    return *hit;
  }
  Staging staging = SBX_TRY(Staging::make(cache));
  const fs::path tree = staging.dir() / "tree";
  std::error_code ec;
  fs::create_directory(tree, ec);
  fs::create_directory(staging.dir() / "image", ec);
  ::chmod(tree.c_str(), 0755);
  const bool root = running_as_root(o);
  TreeBuilder builder = SBX_TRY(TreeBuilder::open(tree, root, o.max_unpacked_bytes));
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Fd fd(::open(layers[i].c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(ErrorCode::io, "cannot open " + layers[i].string() + ": " + errno_text());
    struct stat st{};
    ::fstat(fd.get(), &st);
    ProgressMeter meter(o.meter, "unpacking layer " + std::to_string(i + 1) + "/" + std::to_string(layers.size()) + " " +
                                     layers[i].filename().string().substr(0, 19), static_cast<std::uint64_t>(st.st_size));
    SBX_TRY_VOID(builder.apply(fd.get(), layers[i].string(), [&](std::uint64_t d) { meter.update(d); }));
  }
  auto meta = builder.meta();
  SBX_TRY_VOID(add_guest_files(builder.root_fd(), root ? nullptr : &meta));
  const TreeStats& stats = builder.stats();
  say(o, "building root disk (" + human_bytes(stats.bytes) + ", " + std::to_string(stats.entries) + " files)");
  SBX_TRY_VOID(make_image_disk(tree, staging.dir() / "image" / "rootfs.ext4", root ? nullptr : &meta));
  return publish(cache, staging, id, format, reference, config);
}

Result<PreparedImage> import_rootfs_dir(const fs::path& dir, const ImportOptions& o) {
  const fs::path cache = cache_of(o);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return fail(ErrorCode::not_found, "rootfs directory " + dir.string() + " does not exist or is not a directory",
                "check [image] ref");
  const bool root = running_as_root(o);
  std::map<std::string, EntryMeta> meta;
  const std::string id = SBX_TRY(tree_digest(dir, root ? nullptr : &meta));
  if (auto hit = lookup(cache, id)) {
    note_use(cache, id, dir.string());
    say(o, "image " + id.substr(0, 19) + ": cached");
    return *hit;
  }
  Staging staging = SBX_TRY(Staging::make(cache));
  const fs::path tree = staging.dir() / "tree";
  fs::create_directory(staging.dir() / "image", ec);
  say(o, "copying rootfs directory " + dir.string());
  const std::string cp_tool = SBX_TRY(find_tool("cp", "coreutils"));
  auto cp = SBX_TRY(run_tool({cp_tool, "-a", "--reflink=auto", "--no-target-directory", dir.string(), tree.string()}));
  if (cp.status != 0) return fail(ErrorCode::io, "cannot copy " + dir.string() + ": " + cp.output.substr(0, 1000));
  Fd root_fd(::open(tree.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!root_fd) return fail(ErrorCode::io, "cannot open " + tree.string() + ": " + errno_text());
  SBX_TRY_VOID(add_guest_files(root_fd.get(), root ? nullptr : &meta));
  say(o, "building root disk from " + dir.string());
  SBX_TRY_VOID(make_image_disk(tree, staging.dir() / "image" / "rootfs.ext4", root ? nullptr : &meta));
  return publish(cache, staging, id, "rootfs", dir.string(), ImageConfig{});
}

Result<PreparedImage> prepare_image(const config::Image& image, const ImportOptions& o) {
  switch (image.kind) {
    case config::ImageKind::builtin:
      return fail(ErrorCode::invalid, "the built-in image is built by guest::build_default_rootfs");
    case config::ImageKind::dev:
      return fail(ErrorCode::invalid, "the dev image is built by image::prepare_dev_image");
    case config::ImageKind::saved:
      return prepare_saved_image(image.reference, o);
    case config::ImageKind::rootfs_dir: {
      std::error_code ec;
      // A directory holding an OCI layout is an image, not a root file system.
      if (fs::is_regular_file(fs::path(image.reference) / "oci-layout", ec)) return import_layout(image.reference, image.reference, o);
      return import_rootfs_dir(image.reference, o);
    }
    case config::ImageKind::oci_archive:
      return import_archive(image.reference, image.digest.value_or(""), o);
    case config::ImageKind::registry: {
      const fs::path cache = cache_of(o);
      const RegistryRef ref = SBX_TRY(registry_ref_from_image(image));
      const std::string key = "registry:" + ref.str();
      // A tag is pulled once and then reused, like `docker run`; `sbx image rm` refreshes it.
      if (auto known = read_ref(cache, key)) {
        if (auto hit = lookup(cache, known->id)) {
          note_use(cache, known->id, ref.str());
          say(o, "image " + ref.str() + ": cached " + known->id.substr(0, 19));
          return *hit;
        }
      }
      const fs::path layout = images_dir(cache) / "oci" / digest::sha256_hex(ref.str()).substr(0, 32);
      std::error_code ec;
      fs::create_directories(layout, ec);
      say(o, "pulling " + ref.str());
      PullOptions po;
      po.os = o.os;
      po.architecture = o.architecture;
      std::unique_ptr<ProgressMeter> meter;
      std::string current;
      po.progress = [&](const PullProgress& p) {
        if (p.digest != current) {
          current = p.digest;
          meter = std::make_unique<ProgressMeter>(o.meter, "pulling blob " + std::to_string(p.index + 1) + "/" +
                                                                  std::to_string(p.count) + " " + p.digest.substr(7, 12), p.total);
        }
        meter->update(p.done);
      };
      auto pulled = pull_to_layout(ref, layout, po);
      meter.reset();
      if (!pulled) return std::unexpected(pulled.error());
      auto p = import_layout(layout, ref.str(), o);
      if (!p) return p;
      write_ref(cache, key, {p->id, ""});
      // The ext4 disk is the cache; the pulled blobs would only double the space.
      fs::remove_all(layout, ec);
      return p;
    }
  }
  return fail(ErrorCode::invalid, "unknown image kind");
}

}  // namespace sbx::image
