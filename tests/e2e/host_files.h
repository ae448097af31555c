#pragma once
// Small host-side file helpers the end-to-end tests share.
#include <filesystem>
#include <string>
#include <utility>

#include <sys/types.h>

namespace sbx::e2e {

/// The whole file, or "" when it cannot be read.
std::string read_file(const std::filesystem::path& p);
/// Replace the file with `text`.
void write_file(const std::filesystem::path& p, const std::string& text);
/// lchown `dir` and everything below it (links themselves, never their targets).
void chown_tree(const std::filesystem::path& dir, uid_t uid, gid_t gid);
/// Run `script` with the host's sh: its exit status (-1 when it did not exit) and stdout+stderr.
std::pair<int, std::string> host_sh(const std::string& script);

}  // namespace sbx::e2e
