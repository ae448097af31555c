// Extracting the uncompressed vmlinux from an LZ4 bzImage (see kernel.h).
#include <cstring>

#include "common/digest.h"
#include "common/paths.h"
#include "guest/host/initramfs.h"
#include "guest/host/kernel.h"

namespace sbx::guest {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kLz4LegacyMagic("\x02\x21\x4c\x18", 4);
constexpr std::size_t kLegacyBlockMax = 8u << 20;  // each legacy block inflates to at most 8 MiB

std::uint32_t le32(std::string_view s, std::size_t at) {
  auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

// Decompress one LZ4 block, appending to `out`; false on corrupt input.
bool lz4_block(std::string_view in, std::string& out, std::size_t max_out) {
  std::size_t ip = 0, start = out.size();
  while (ip < in.size()) {
    unsigned token = static_cast<unsigned char>(in[ip++]);
    std::size_t lit = token >> 4;
    if (lit == 15) {
      unsigned b;
      do {
        if (ip >= in.size()) return false;
        b = static_cast<unsigned char>(in[ip++]);
        lit += b;
      } while (b == 255);
    }
    if (lit > in.size() - ip || out.size() + lit > max_out) return false;
    out.append(in.substr(ip, lit));
    ip += lit;
    if (ip == in.size()) break;  // the last sequence carries literals only
    if (in.size() - ip < 2) return false;
    std::size_t offset = static_cast<unsigned char>(in[ip]) | (static_cast<unsigned char>(in[ip + 1]) << 8);
    ip += 2;
    if (offset == 0 || offset > out.size() - start) return false;  // legacy blocks are independent
    std::size_t len = token & 15;
    if (len == 15) {
      unsigned b;
      do {
        if (ip >= in.size()) return false;
        b = static_cast<unsigned char>(in[ip++]);
        len += b;
      } while (b == 255);
    }
    len += 4;
    if (out.size() + len > max_out) return false;
    std::size_t from = out.size() - offset;
    out.reserve(out.size() + len);
    for (std::size_t i = 0; i < len; ++i) out.push_back(out[from + i]);  // may overlap
  }
  return true;
}

}  // namespace

Result<std::string> lz4_legacy_decompress(std::string_view in, std::size_t max_out) {
  if (in.substr(0, 4) != kLz4LegacyMagic) return fail(ErrorCode::invalid, "not a legacy LZ4 stream");
  std::size_t pos = 4;
  std::string out;
  while (in.size() - pos >= 4) {
    std::uint32_t block = le32(in, pos);
    if (block == le32(kLz4LegacyMagic, 0) || block == 0 || block > in.size() - pos - 4) break;
    std::string_view data = in.substr(pos + 4, block);
    std::size_t before = out.size();
    if (!lz4_block(data, out, max_out)) {
      // A trailing non-block (bzImage appends the inflated size) ends the stream, not corrupt data.
      if (before > 0) {
        out.resize(before);
        break;
      }
      return fail(ErrorCode::invalid, "corrupt LZ4 block at offset " + std::to_string(pos));
    }
    if (out.size() - before > kLegacyBlockMax) return fail(ErrorCode::invalid, "LZ4 block inflates past 8 MiB");
    pos += 4 + block;
  }
  if (out.empty()) return fail(ErrorCode::invalid, "empty LZ4 stream");
  return out;
}

Result<fs::path> extract_vmlinux(const Kernel& kernel, const fs::path& cache_dir, const Progress& progress) {
  auto digest = SBX_TRY(digest::sha256_file(kernel.image));
  fs::path out = cache_dir / "kernel" / ("vmlinux-" + kernel.version + "-" + digest.substr(0, 16));
  std::error_code ec;
  if (fs::is_regular_file(out, ec)) return out;
  auto image = SBX_TRY(read_file(kernel.image));
  auto at = image.find(kLz4LegacyMagic);
  if (at == std::string::npos)
    return fail(ErrorCode::invalid, kernel.image.string() + " holds no LZ4 payload",
                "boot the bzImage itself; only LZ4-compressed kernels (Debian's) can be unpacked");
  if (progress) progress("kernel: unpacking vmlinux from " + kernel.image.string() + " for direct boot");
  auto elf = SBX_TRY(lz4_legacy_decompress(std::string_view(image).substr(at)));
  if (elf.size() < 64 || elf.compare(0, 4, "\x7f" "ELF") != 0)
    return fail(ErrorCode::invalid, "the LZ4 payload of " + kernel.image.string() + " is not an ELF vmlinux");
  SBX_TRY_VOID(paths::ensure_private_dir(cache_dir));
  SBX_TRY_VOID(write_file_atomic(out, elf));
  return out;
}

Result<fs::path> extract_vmlinux(const Kernel& kernel, const Progress& progress) {
  return extract_vmlinux(kernel, paths::cache_dir(), progress);
}

}  // namespace sbx::guest
