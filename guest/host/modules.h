#pragma once
// Kernel module dependency resolution without depmod: reads each .ko's .modinfo ELF section.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace sbx::guest {

/// What the .modinfo section of a module says.
struct ModuleInfo {
  std::string name;
  std::vector<std::string> depends;
  std::string vermagic;
};

/// Parse the .modinfo section out of an ELF64 .ko image held in memory.
Result<ModuleInfo> parse_modinfo(std::string_view elf, std::string_view display_name);
/// Read and parse a .ko file.
Result<ModuleInfo> read_modinfo(const std::filesystem::path& ko);

/// One module to load, in order.
struct ModuleFile {
  std::string name;
  std::filesystem::path path;
};

/// The modules the guest needs (virtio transport, block, console, virtio-fs, overlay).
const std::vector<std::string>& default_guest_modules();
/// Modules the guest loads after it is up (ACPI power button as an input device).
const std::vector<std::string>& late_guest_modules();

/// The files for `wanted` and everything they depend on, dependencies first; modules built
/// into the kernel (modules.builtin) are skipped. Fails naming a missing module or a cycle.
Result<std::vector<ModuleFile>> resolve_modules(const std::filesystem::path& modules_dir,
                                                const std::vector<std::string>& wanted);

}  // namespace sbx::guest
