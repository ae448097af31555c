#include "vmm/pvh_kernel.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <lz4.h>
#include <sstream>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/digest.h"

namespace sbx::vmm {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kLegacyMagic{"\x02\x21\x4c\x18", 4};
constexpr std::size_t kLegacyBlock = 8u << 20;                       // legacy blocks decompress to <= 8 MiB
constexpr std::size_t kMaxCompressedBlock = LZ4_COMPRESSBOUND(kLegacyBlock);

std::uint32_t le32(const unsigned char* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<std::uint32_t>(p[3]) << 24; }

}  // namespace

Result<std::string> lz4_legacy_decompress(std::string_view in, std::size_t max_out) {
  if (!in.starts_with(kLegacyMagic)) return fail(ErrorCode::invalid, "not an LZ4 legacy stream");
  std::string out;
  std::size_t pos = kLegacyMagic.size();
  while (in.size() - pos >= 4) {
    const auto* p = reinterpret_cast<const unsigned char*>(in.data() + pos);
    const std::uint32_t size = le32(p);
    if (in.substr(pos, 4) == kLegacyMagic) {  // a concatenated stream
      pos += 4;
      continue;
    }
    if (size == 0 || size > kMaxCompressedBlock || size > in.size() - pos - 4) break;  // trailer: done
    // A legacy block decompresses to at most 8 MiB; the output never grows past max_out.
    const std::size_t room = std::min(kLegacyBlock, max_out - out.size());
    const std::size_t at = out.size();
    out.resize(at + room);
    const int n = LZ4_decompress_safe(in.data() + pos + 4, out.data() + at, static_cast<int>(size), static_cast<int>(room));
    if (n < 0) {
      const bool capped = room < kLegacyBlock;
      return fail(ErrorCode::invalid, "corrupt LZ4 block at offset " + std::to_string(pos) +
                                          (capped ? " (or the kernel unpacks to more than " +
                                                        std::to_string(max_out >> 20) + " MiB)"
                                                  : ""));
    }
    out.resize(at + static_cast<std::size_t>(n));
    pos += 4 + size;
  }
  if (out.empty()) return fail(ErrorCode::invalid, "empty LZ4 stream");
  return out;
}

bool has_pvh_note(std::string_view elf) {
  if (!elf.starts_with("\x7f" "ELF")) return false;
  static constexpr std::string_view kNote{"\x12\x00\x00\x00Xen\x00", 8};  // type 18, name "Xen"
  for (std::size_t at = elf.find(kNote); at != std::string_view::npos; at = elf.find(kNote, at + 1))
    if (at >= 8 && elf.substr(at - 8, 4) == std::string_view("\x04\x00\x00\x00", 4)) return true;
  return false;
}

Result<fs::path> pvh_kernel(const fs::path& bzimage, const fs::path& cache_dir) {
  const std::string digest = SBX_TRY(digest::sha256_file(bzimage));
  const fs::path out = cache_dir / ("vmlinux-" + digest.substr(0, 32));
  std::error_code ec;
  if (fs::exists(out, ec)) return out;
  std::ifstream in(bzimage, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string image = buf.str();
  const auto at = image.find(kLegacyMagic);
  if (at == std::string::npos)
    return fail(ErrorCode::invalid, bzimage.string() + " has no LZ4 payload (only LZ4 kernels are unpacked for PVH)");
  auto elf = SBX_TRY(lz4_legacy_decompress(std::string_view(image).substr(at)));
  if (!has_pvh_note(elf)) return fail(ErrorCode::invalid, bzimage.string() + " has no PVH entry point");
  fs::create_directories(cache_dir, ec);
  SBX_TRY_VOID(write_file_atomic(out, elf));
  return out;
}

}  // namespace sbx::vmm
