#include "guest/host/modules.h"

#include <cstring>
#include <elf.h>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace sbx::guest {
namespace fs = std::filesystem;

namespace {

std::string normalize(std::string_view n) {
  std::string s(n);
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

Result<std::string> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return fail(ErrorCode::io, "cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<ModuleInfo> parse_modinfo(std::string_view elf, std::string_view display_name) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorCode::invalid, std::string(display_name) + ": not a usable kernel module (" + why + ")");
  };
  if (elf.size() < sizeof(Elf64_Ehdr)) return bad("too short");
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return bad("no ELF magic; compressed modules are not supported");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) return bad("not ELF64 little-endian");
  if (eh.e_shentsize != sizeof(Elf64_Shdr)) return bad("odd section header size");
  std::uint64_t sh_end = eh.e_shoff + static_cast<std::uint64_t>(eh.e_shnum) * sizeof(Elf64_Shdr);
  if (eh.e_shoff > elf.size() || sh_end > elf.size() || sh_end < eh.e_shoff) return bad("section table out of range");
  if (eh.e_shstrndx >= eh.e_shnum) return bad("bad section name table index");
  auto section = [&](std::size_t i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, elf.data() + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof sh);
    return sh;
  };
  auto in_range = [&](const Elf64_Shdr& sh) {
    return sh.sh_offset <= elf.size() && sh.sh_size <= elf.size() - sh.sh_offset;
  };
  Elf64_Shdr strtab = section(eh.e_shstrndx);
  if (!in_range(strtab)) return bad("section names out of range");
  std::string_view names = elf.substr(strtab.sh_offset, strtab.sh_size);
  for (std::size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh = section(i);
    if (sh.sh_name >= names.size()) continue;
    std::string_view sname = names.substr(sh.sh_name);
    sname = sname.substr(0, sname.find('\0'));
    if (sname != ".modinfo") continue;
    if (!in_range(sh)) return bad(".modinfo out of range");
    std::string_view info = elf.substr(sh.sh_offset, sh.sh_size);
    ModuleInfo mi;
    while (!info.empty()) {
      auto end = info.find('\0');
      std::string_view kv = info.substr(0, end);
      info = end == std::string_view::npos ? std::string_view{} : info.substr(end + 1);
      auto eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view key = kv.substr(0, eq), value = kv.substr(eq + 1);
      if (key == "name") mi.name = normalize(value);
      else if (key == "vermagic") mi.vermagic = value;
      else if (key == "depends") {
        while (!value.empty()) {
          auto comma = value.find(',');
          auto dep = value.substr(0, comma);
          if (!dep.empty()) mi.depends.push_back(normalize(dep));
          value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        }
      }
    }
    return mi;
  }
  return bad("no .modinfo section");
}

Result<ModuleInfo> read_modinfo(const fs::path& ko) {
  auto data = SBX_TRY(slurp(ko));
  auto mi = SBX_TRY(parse_modinfo(data, ko.string()));
  if (mi.name.empty()) mi.name = normalize(ko.stem().string());
  return mi;
}

const std::vector<std::string>& default_guest_modules() {
  static const std::vector<std::string> kModules = {"virtio_mmio", "virtio_blk", "virtio_console", "virtiofs",
                                                    "overlay"};
  return kModules;
}

const std::vector<std::string>& late_guest_modules() {
  static const std::vector<std::string> kModules = {"button", "evdev"};
  return kModules;
}

Result<std::vector<ModuleFile>> resolve_modules(const fs::path& modules_dir, const std::vector<std::string>& wanted) {
  std::error_code ec;
  std::map<std::string, fs::path> index;
  fs::path kernel_dir = modules_dir / "kernel";
  if (!fs::is_directory(kernel_dir, ec))
    return fail(ErrorCode::not_found, "no module tree at " + kernel_dir.string(), "run ./setup.sh");
  for (auto it = fs::recursive_directory_iterator(kernel_dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.ends_with(".ko")) index.emplace(normalize(name.substr(0, name.size() - 3)), it->path());
  }
  std::set<std::string> builtin;
  if (std::ifstream bi(modules_dir / "modules.builtin"); bi) {
    std::string line;
    while (std::getline(bi, line)) {
      auto base = fs::path(line).filename().string();
      if (base.ends_with(".ko")) builtin.insert(normalize(base.substr(0, base.size() - 3)));
    }
  }
  std::vector<ModuleFile> order;
  std::map<std::string, int> state;  // 1 = visiting, 2 = done
  std::function<Result<void>(const std::string&, const std::string&)> visit =
      [&](const std::string& name, const std::string& needed_by) -> Result<void> {
    if (state[name] == 2) return {};
    if (state[name] == 1) return fail(ErrorCode::invalid, "kernel modules depend on each other in a cycle at " + name);
    if (builtin.count(name)) {
      state[name] = 2;
      return {};
    }
    auto found = index.find(name);
    if (found == index.end())
      return fail(ErrorCode::not_found,
                  "kernel module " + name + (needed_by.empty() ? "" : " (needed by " + needed_by + ")") +
                      " is not in " + modules_dir.string(),
                  "use a kernel package that ships it (Debian's linux-image-cloud-amd64 does), or run ./setup.sh");
    state[name] = 1;
    auto info = SBX_TRY(read_modinfo(found->second));
    for (const auto& dep : info.depends) SBX_TRY_VOID(visit(dep, name));
    state[name] = 2;
    order.push_back(ModuleFile{name, found->second});
    return {};
  };
  for (const auto& w : wanted) SBX_TRY_VOID(visit(normalize(w), ""));
  return order;
}

}  // namespace sbx::guest
