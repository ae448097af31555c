#pragma once
// The CA certificates this host's administrator added to its trust store, for a sandbox whose
// Sandboxfile says `[egress] trust_host_ca = true` (networks that inspect TLS with a CA of their
// own). Only the added certificates travel: the image keeps its own bundle, and these are
// appended to the guest's bundle beside the egress proxy's CA. Off unless written.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "common/error.h"

namespace sbx::reconcile {

/// Where a host keeps the CAs its administrator added: $SBX_HOST_CA_DIR (a colon-separated
/// list) when set, else the directories Debian/Ubuntu, Fedora/RHEL and Arch use.
std::vector<std::filesystem::path> host_ca_dirs();

/// What CONFIG can carry beside the rest: the certificates go in one 64 KiB frame.
inline constexpr std::size_t kMaxHostCaBytes = 32 * 1024;
inline constexpr std::size_t kMaxHostCaFiles = 64;

/// The certificates found, re-encoded as PEM (comments and anything else in the files dropped).
struct HostCas {
  std::string pem;
  std::vector<std::filesystem::path> files;  // each file that gave certificates
  std::size_t certificates = 0;
};

/// Every `*.crt` and `*.pem` file in `dirs` and their subdirectories (two levels); a directory
/// that does not exist gives nothing. A file that holds no PEM certificate, or more than the
/// limits above, is an error that names it.
Result<HostCas> collect_host_cas(const std::vector<std::filesystem::path>& dirs);

}  // namespace sbx::reconcile
