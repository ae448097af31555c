// Image unpack benchmark: builds a ~200 MiB OCI image archive (two gzip layers of real files
// copied from /usr/lib), then reports the median time to import it into a fresh cache (verify,
// unpack, mkfs.ext4 -d) and the median time to reuse it from the cache, and their ratio.
//   image_bench [--mib N] [--runs N]
#include <archive.h>
#include <archive_entry.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "image/image.h"

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

// Write a layer of `files` (host paths) under usr/lib/... with the given filter.
void write_layer(const fs::path& out, const std::vector<fs::path>& files, bool gzip) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) {
    archive_write_add_filter_gzip(a);
    archive_write_set_filter_option(a, "gzip", "compression-level", "1");
  }
  archive_write_open_filename(a, out.c_str());
  std::vector<char> buf(1 << 20);
  for (const auto& f : files) {
    archive_entry* e = archive_entry_new();
    const std::string name = "bench" + f.string();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(fs::file_size(f)));
    archive_write_header(a, e);
    std::ifstream in(f, std::ios::binary);
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
      archive_write_data(a, buf.data(), static_cast<std::size_t>(in.gcount()));
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::string blob(const fs::path& layout, const std::string& bytes) {
  const std::string d = sbx::digest::sha256(bytes);
  spit(layout / "blobs/sha256" / d.substr(7), bytes);
  return d;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t mib = 200;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--mib") mib = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::string(argv[i]) == "--runs") runs = std::atoi(argv[i + 1]);
  }
  char tmpl[] = "/tmp/sbx-image-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const fs::path work = tmpl;
  // Real files (libraries compress like real image content), ~mib MiB in total.
  std::vector<fs::path> files;
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator("/usr/lib", fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator() && total < (mib << 20); it.increment(ec)) {
    if (ec || !it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const auto size = it->file_size(ec);
    if (ec || size > (32u << 20)) continue;
    files.push_back(it->path());
    total += size;
  }
  std::fprintf(stderr, "image_bench: building an image of %zu files, %.1f MiB...\n", files.size(), total / 1048576.0);
  const fs::path layout = work / "layout";
  const std::size_t half = files.size() / 2;
  json layers = json::array();
  std::vector<std::string> diff_ids;
  for (int l = 0; l < 2; ++l) {
    std::vector<fs::path> part(files.begin() + (l ? half : 0), l ? files.end() : files.begin() + half);
    write_layer(work / "plain.tar", part, false);
    diff_ids.push_back(sbx::digest::sha256(slurp(work / "plain.tar")));
    write_layer(work / "layer.tgz", part, true);
    const std::string bytes = slurp(work / "layer.tgz");
    layers.push_back({{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"digest", blob(layout, bytes)}, {"size", bytes.size()}});
  }
  fs::remove(work / "plain.tar");
  fs::remove(work / "layer.tgz");
  const std::string config = json{{"architecture", "amd64"}, {"os", "linux"}, {"config", {{"Env", {"PATH=/bin"}}}},
                                  {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}.dump();
  const std::string manifest = json{{"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                    {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", blob(layout, config)}, {"size", config.size()}}},
                                    {"layers", layers}}.dump();
  const std::string md = blob(layout, manifest);
  spit(layout / "index.json", json{{"schemaVersion", 2}, {"manifests", {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", md}, {"size", manifest.size()}}}}}.dump());
  spit(layout / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  const fs::path archive_path = work / "image.tar";
  if (std::system(("tar -C '" + layout.string() + "' -cf '" + archive_path.string() + "' .").c_str()) != 0) return 1;
  fs::remove_all(layout, ec);
  std::fprintf(stderr, "image_bench: archive %.1f MiB\n", fs::file_size(archive_path) / 1048576.0);

  sbx::config::Image ref;
  ref.kind = sbx::config::ImageKind::oci_archive;
  ref.reference = archive_path.string();
  std::vector<double> first, reuse;
  for (int r = 0; r < runs; ++r) {
    sbx::image::ImportOptions o;
    o.cache_dir = work / ("cache" + std::to_string(r));
    auto t = Clock::now();
    auto p = sbx::image::prepare_image(ref, o);
    first.push_back(ms_since(t));
    if (!p) {
      std::fprintf(stderr, "image_bench: import failed: %s\n", p.error().message.c_str());
      return 1;
    }
    for (int k = 0; k < 5; ++k) {
      t = Clock::now();
      auto again = sbx::image::prepare_image(ref, o);
      reuse.push_back(ms_since(t));
      if (!again || !again->reused) return 1;
    }
    fs::remove_all(o.cache_dir, ec);
    std::fprintf(stderr, "image_bench: run %d: first %.0f ms, reuse %.2f ms\n", r + 1, first.back(), reuse.back());
  }
  const double f = median(first), u = median(reuse);
  std::printf("image unpack (%.0f MiB, %zu files, 2 gzip layers): first %.0f ms, reuse %.2f ms (median of %d / %zu), ratio %.0fx; target reuse < 100 ms: %s\n",
              total / 1048576.0, files.size(), f, u, runs, reuse.size(), u > 0 ? f / u : 0.0, u < 100 ? "met" : "MISSED");
  fs::remove_all(work, ec);
  return 0;
}
