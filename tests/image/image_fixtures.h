#pragma once
// Builds image inputs for the image tests with libarchive: layer tars (plain, gzip, zstd), OCI
// layouts (directory or tar) and docker save archives, plus a debugfs reader for the ext4 disks.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

#include "support/temp_dir.h"

namespace sbx::image::test {

/// One tar member.
struct Member {
  std::string path;
  char type = 'f';            // f file, d dir, l symlink, h hard link, c char device
  std::string data;           // file content, or link target
  unsigned mode = 0644;
  unsigned uid = 0, gid = 0;
  std::map<std::string, std::string> xattrs;
};

/// Write a tar of `members` to `file`; compression "", "gzip" or "zstd".
void write_tar(const std::filesystem::path& file, const std::vector<Member>& members, const std::string& compression = "");
/// One member of a tar, as read back.
struct TarEntry {
  mode_t type = 0;
  unsigned perm = 0;
  std::int64_t size = 0;
  unsigned uid = 0, gid = 0;
  std::string uname, symlink, hardlink, data;
  bool xattrs = false;
};
/// Every member of the tar `file` by name (a directory's trailing '/' dropped); throws when the
/// file cannot be opened.
std::map<std::string, TarEntry> read_tar(const std::filesystem::path& file);

/// The bytes of a file.
std::string read_file(const std::filesystem::path& file);
/// Write bytes to a file (parents created).
void write_file(const std::filesystem::path& file, const std::string& bytes);
/// "sha256:<hex>".
std::string sha256(const std::string& bytes);

/// An image being assembled.
struct ImageSpec {
  std::vector<std::vector<Member>> layers;
  std::string compression = "gzip";
  std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
  std::string working_dir, user;
  std::vector<std::string> entrypoint, cmd;
  std::string architecture = "amd64";
};

/// Write an OCI image layout directory; returns the manifest digest.
std::string write_oci_layout(const std::filesystem::path& dir, const ImageSpec& spec);
/// Write a docker save (legacy <id>/layer.tar) directory; returns the config digest.
std::string write_docker_save(const std::filesystem::path& dir, const ImageSpec& spec);
/// Tar up a directory (its contents at the top level of the archive).
void tar_directory(const std::filesystem::path& dir, const std::filesystem::path& archive, const std::string& compression = "");

/// Scratch directories of the image tests.
using sbx::test::TempDir;

/// Reads an ext4 image with debugfs.
class Ext4 {
 public:
  explicit Ext4(std::filesystem::path image) : image_(std::move(image)) {}
  bool exists(const std::string& path) const;
  std::string cat(const std::string& path) const;
  /// "Type: regular" etc. from debugfs stat; uid, gid, mode of an inode.
  struct Info {
    std::string type;
    unsigned uid = 0, gid = 0, mode = 0, links = 0;
    unsigned long inode = 0;
  };
  Info stat(const std::string& path) const;
  std::string run(const std::string& request) const;

 private:
  std::filesystem::path image_;
};

}  // namespace sbx::image::test
