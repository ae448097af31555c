#include "image_fixtures.h"

#include <archive.h>
#include <archive_entry.h>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "common/run_tool.h"

namespace sbx::image::test {
namespace fs = std::filesystem;
using json = nlohmann::json;

void write_tar(const fs::path& file, const std::vector<Member>& members, const std::string& compression) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (compression == "gzip") archive_write_add_filter_gzip(a);
  else if (compression == "zstd") archive_write_add_filter_zstd(a);
  else archive_write_add_filter_none(a);
  if (archive_write_open_filename(a, file.c_str()) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
  for (const auto& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.path.c_str());
    archive_entry_set_uid(e, m.uid);
    archive_entry_set_gid(e, m.gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    switch (m.type) {
      case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, m.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, m.data.c_str());
        break;
      case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
        break;
      default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
    }
    archive_entry_set_perm(e, m.mode);
    for (const auto& [k, v] : m.xattrs) archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    archive_write_header(a, e);
    if (m.type == 'f' && !m.data.empty()) archive_write_data(a, m.data.data(), m.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

std::map<std::string, TarEntry> read_tar(const fs::path& file) {
  std::map<std::string, TarEntry> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, file.c_str(), 1 << 16) != ARCHIVE_OK) {
    const std::string why = archive_error_string(a);
    archive_read_free(a);
    throw std::runtime_error("cannot read " + file.string() + ": " + why);
  }
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    TarEntry t;
    t.type = archive_entry_filetype(e);
    t.perm = archive_entry_perm(e);
    t.size = archive_entry_size(e);
    t.uid = static_cast<unsigned>(archive_entry_uid(e));
    t.gid = static_cast<unsigned>(archive_entry_gid(e));
    t.xattrs = archive_entry_xattr_count(e) > 0;
    if (const char* u = archive_entry_uname(e)) t.uname = u;
    if (const char* l = archive_entry_symlink(e)) t.symlink = l;
    if (const char* h = archive_entry_hardlink(e)) t.hardlink = h;
    std::string buf(1 << 16, '\0');
    for (la_ssize_t n; (n = archive_read_data(a, buf.data(), buf.size())) > 0;) t.data.append(buf.data(), static_cast<size_t>(n));
    std::string name = archive_entry_pathname(e);
    if (name.size() > 1 && name.back() == '/') name.pop_back();  // tar writers mark directories so
    out[name] = std::move(t);
  }
  archive_read_free(a);
  return out;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string sha256(const std::string& bytes) { return digest::sha256(bytes); }

namespace {

json config_json(const ImageSpec& spec, const std::vector<std::string>& diff_ids) {
  json cfg = json::object();
  cfg["Env"] = spec.env;
  if (!spec.working_dir.empty()) cfg["WorkingDir"] = spec.working_dir;
  if (!spec.user.empty()) cfg["User"] = spec.user;
  if (!spec.entrypoint.empty()) cfg["Entrypoint"] = spec.entrypoint;
  if (!spec.cmd.empty()) cfg["Cmd"] = spec.cmd;
  return {{"architecture", spec.architecture}, {"os", "linux"}, {"config", cfg},
          {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
}

std::string put_blob(const fs::path& dir, const std::string& bytes) {
  const std::string d = sha256(bytes);
  write_file(dir / "blobs" / "sha256" / d.substr(7), bytes);
  return d;
}

}  // namespace

std::string write_oci_layout(const fs::path& dir, const ImageSpec& spec) {
  json layers = json::array();
  std::vector<std::string> diff_ids;
  const std::string type = spec.compression == "gzip"   ? "application/vnd.oci.image.layer.v1.tar+gzip"
                           : spec.compression == "zstd" ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                                        : "application/vnd.oci.image.layer.v1.tar";
  TempDir tmp;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    write_tar(tmp.path() / "plain.tar", spec.layers[i], "");
    diff_ids.push_back(sha256(read_file(tmp.path() / "plain.tar")));
    write_tar(tmp.path() / "layer", spec.layers[i], spec.compression);
    const std::string bytes = read_file(tmp.path() / "layer");
    layers.push_back({{"mediaType", type}, {"digest", put_blob(dir, bytes)}, {"size", bytes.size()}});
  }
  const std::string config = config_json(spec, diff_ids).dump();
  const std::string manifest =
      json{{"schemaVersion", 2},
           {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
           {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", put_blob(dir, config)}, {"size", config.size()}}},
           {"layers", layers}}
          .dump();
  const std::string md = put_blob(dir, manifest);
  const json index = {{"schemaVersion", 2},
                      {"manifests",
                       {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                         {"digest", md},
                         {"size", manifest.size()},
                         {"platform", {{"os", "linux"}, {"architecture", spec.architecture}}}}}}};
  write_file(dir / "index.json", index.dump());
  write_file(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  return md;
}

std::string write_docker_save(const fs::path& dir, const ImageSpec& spec) {
  std::vector<std::string> diff_ids, layer_paths;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const std::string id = "layer" + std::to_string(i);
    fs::create_directories(dir / id);
    write_tar(dir / id / "layer.tar", spec.layers[i], "");
    diff_ids.push_back(sha256(read_file(dir / id / "layer.tar")));
    layer_paths.push_back(id + "/layer.tar");
  }
  const std::string config = config_json(spec, diff_ids).dump();
  const std::string cd = sha256(config);
  write_file(dir / (cd.substr(7) + ".json"), config);
  write_file(dir / "manifest.json",
             json::array({{{"Config", cd.substr(7) + ".json"}, {"RepoTags", {"test:latest"}}, {"Layers", layer_paths}}}).dump());
  return cd;
}

void tar_directory(const fs::path& dir, const fs::path& archive_path, const std::string& compression) {
  std::vector<Member> members;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    Member m;
    m.path = fs::relative(p, dir).string();
    if (fs::is_symlink(fs::symlink_status(p))) {
      m.type = 'l';
      m.data = fs::read_symlink(p).string();
    } else if (fs::is_directory(p)) {
      m.type = 'd';
      m.mode = 0755;
    } else {
      m.data = read_file(p);
    }
    members.push_back(m);
  }
  write_tar(archive_path, members, compression);
}

std::string Ext4::run(const std::string& request) const {
  auto r = sbx::run_tool({sbx::find_tool("debugfs", "e2fsprogs").value_or("/sbin/debugfs"), "-R", request, image_.string()});
  return r ? r->output : std::string();
}

bool Ext4::exists(const std::string& path) const {
  const std::string out = run("stat \"" + path + "\"");
  return out.find("Inode:") != std::string::npos;
}

std::string Ext4::cat(const std::string& path) const {
  std::string out = run("cat \"" + path + "\"");
  // debugfs prints its version banner on stderr first.
  const auto banner = out.find("\n");
  if (out.starts_with("debugfs ") && banner != std::string::npos) out = out.substr(banner + 1);
  return out;
}

Ext4::Info Ext4::stat(const std::string& path) const {
  const std::string out = run("stat \"" + path + "\"");
  Info i;
  std::smatch m;
  if (std::regex_search(out, m, std::regex(R"(Inode: (\d+)\s+Type: (\w+)\s+Mode:\s+(\d+))"))) {
    i.inode = std::stoul(m[1]);
    i.type = m[2];
    i.mode = static_cast<unsigned>(std::stoul(m[3], nullptr, 8));
  }
  if (std::regex_search(out, m, std::regex(R"(User:\s+(\d+)\s+Group:\s+(\d+))"))) {
    i.uid = static_cast<unsigned>(std::stoul(m[1]));
    i.gid = static_cast<unsigned>(std::stoul(m[2]));
  }
  if (std::regex_search(out, m, std::regex(R"(Links: (\d+))"))) i.links = static_cast<unsigned>(std::stoul(m[1]));
  return i;
}

}  // namespace sbx::image::test
