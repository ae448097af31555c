#pragma once
// The one home of every Sandboxfile default and range: the loader fills them, the launch builder
// falls back on them, and tests/config/defaults_test.cpp checks that SPEC.md's tables and
// sandboxfile.schema.json say the same.
#include <cstdint>
#include <string_view>

namespace sbx::config {

/// [resources] cpus when the file gives none, and its range.
inline constexpr unsigned kDefaultCpus = 1;
/// The fewest virtual CPUs a file may ask for.
inline constexpr unsigned kMinCpus = 1;
/// The most virtual CPUs a file may ask for.
inline constexpr unsigned kMaxCpus = 256;

/// [resources] memory when the file gives none: 512 MiB.
inline constexpr std::uint64_t kDefaultMemoryBytes = 512ull << 20;
/// The least guest memory a file may ask for: 64 MiB.
inline constexpr std::uint64_t kMinMemoryBytes = 64ull << 20;
/// The most guest memory a file may ask for: 1 TiB.
inline constexpr std::uint64_t kMaxMemoryBytes = 1ull << 40;

/// [resources] disk when the file gives none: 2 GiB.
inline constexpr std::uint64_t kDefaultDiskBytes = 2ull << 30;
/// The smallest root disk a file may ask for: 64 MiB.
inline constexpr std::uint64_t kMinDiskBytes = 64ull << 20;
/// The largest root disk a file may ask for: 16 TiB.
inline constexpr std::uint64_t kMaxDiskBytes = 16ull << 40;

/// [resources] memory when [docker] is enabled and the file gives none: 1 GiB (dockerd, containerd
/// and a container or two besides the agent).
inline constexpr std::uint64_t kDockerDefaultMemoryBytes = 1ull << 30;
/// The least guest memory a file with [docker] enabled may ask for: 512 MiB.
inline constexpr std::uint64_t kDockerMinMemoryBytes = 512ull << 20;
/// [resources] disk when [docker] is enabled and the file gives none: 8 GiB (sparse: images and
/// containers live on the sandbox disk).
inline constexpr std::uint64_t kDockerDefaultDiskBytes = 8ull << 30;
/// The smallest sandbox disk a file with [docker] enabled may ask for: 1 GiB.
inline constexpr std::uint64_t kDockerMinDiskBytes = 1ull << 30;

/// [agent] workdir when neither the file nor the image names one.
inline constexpr std::string_view kDefaultWorkdir = "/workspace";
/// [agent] user when neither the file nor the image names one.
inline constexpr std::string_view kDefaultUser = "agent";

}  // namespace sbx::config
