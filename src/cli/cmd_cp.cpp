// sbx cp [--name N] SRC DST: copy files and directories between the host and a running sandbox.
// A tar stream crosses the exec channel: the guest's own tar packs or unpacks it; the host side
// is cp_archive (nothing followed inside the source, every guest entry checked on the way in).
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/cp_archive.h"
#include "cli/output.h"
#include "config/units.h"
#include "supervisor/client.h"

namespace sbx::cli {
namespace {
namespace fs = std::filesystem;

constexpr std::string_view kPrefix = "sandbox:";

// A guest path after "sandbox:": absolute, no '..', normalised; its parent and last component.
struct GuestPath {
  std::string full, parent, name;
};

Result<GuestPath> guest_path(const std::string& word) {
  const std::string p = word.substr(kPrefix.size());
  if (p.empty() || p[0] != '/')
    return fail(ErrorCode::usage, "the sandbox path '" + p + "' is not absolute", "write e.g. sandbox:/workspace/file");
  const fs::path n = fs::path(p).lexically_normal();
  for (const auto& part : n)
    if (part == "..") return fail(ErrorCode::usage, "the sandbox path '" + p + "' holds '..'", "write the path without '..'");
  std::string full = n.string();
  while (full.size() > 1 && full.back() == '/') full.pop_back();
  if (full == "/") return fail(ErrorCode::usage, "cannot copy the sandbox's whole root '/'", "name a directory below it");
  const fs::path f(full);
  return GuestPath{full, f.parent_path().string(), f.filename().string()};
}

nlohmann::json count_json(const CopyCount& c) {
  return {{"files", c.files}, {"directories", c.dirs}, {"symlinks", c.symlinks}, {"bytes", c.bytes}, {"skipped", c.skipped}};
}

Result<CopyCount> from_sandbox(const SandboxTarget& target, const Args& args, const GuestPath& src, const std::string& dst,
                               const ExtractBudget& budget) {
  // Into DST when it is a directory (as docker cp and cp do), else as DST in its parent.
  std::error_code ec;
  fs::path into = dst, as = src.name;
  if (!fs::is_directory(dst, ec)) {
    if (!dst.empty() && dst.back() == '/')
      return fail(ErrorCode::not_found, "no directory " + dst, "create it first, or leave out the trailing '/'");
    const fs::path d = fs::path(dst).lexically_normal();
    into = d.has_parent_path() ? d.parent_path() : fs::path(".");
    as = d.filename();
    if (as.empty() || as == "." || as == "..") return fail(ErrorCode::usage, "cannot copy onto '" + dst + "'", "name a file or directory");
  }
  Fd dir(::open(into.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return fail(ErrorCode::not_found, "no directory " + into.string() + ": " + std::strerror(errno));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail(ErrorCode::io, std::string("pipe: ") + std::strerror(errno));
  auto open = default_open(target, args, guest::protocol::OpenKind::exec);
  // "./NAME" so a name starting with '-' is not an option; the entries come back as "./NAME/...".
  open.argv = {"tar", "-cf", "-", "-C", src.parent, "./" + src.name};
  const pid_t child = spawn_in_sandbox(target, open, -1, p[1], p[0]);
  ::close(p[1]);
  Fd from_guest(p[0]);
  auto r = extract_tar(from_guest.get(), dir.get(), src.name, as.string(), budget);
  from_guest = Fd();
  if (!r) ::kill(child, SIGTERM);  // the client forwards it to the guest's tar
  const int status = wait_child(child);
  if (!r) return std::unexpected(r.error());
  if (status != 0)
    return fail(ErrorCode::runtime, "tar in the sandbox failed (exit status " + std::to_string(status) + ")",
                "check that sandbox:" + src.full + " exists and is readable by the user (--user)");
  return r;
}

Result<CopyCount> to_sandbox(const SandboxTarget& target, const Args& args, const std::string& src, const GuestPath& dst) {
  const fs::path s = fs::absolute(src).lexically_normal();
  std::string name = s.filename().string();
  if (name.empty()) name = s.parent_path().filename().string();
  if (name.empty()) return fail(ErrorCode::usage, "cannot copy the host's root '/'", "name a directory below it");
  // Into DST when it is a directory in the guest, else as DST in its parent.
  auto probe = default_open(target, args, guest::protocol::OpenKind::exec);
  probe.argv = {"test", "-d", dst.full};
  const bool into_dir = wait_child(spawn_in_sandbox(target, probe, -1, -1, -1)) == 0;
  const std::string dir = into_dir ? dst.full : dst.parent;
  const std::string as = into_dir ? name : dst.name;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return fail(ErrorCode::io, std::string("pipe: ") + std::strerror(errno));
  auto open = default_open(target, args, guest::protocol::OpenKind::exec);
  open.argv = {"tar", "-xof", "-", "-C", dir};
  const pid_t child = spawn_in_sandbox(target, open, p[0], -1, p[1]);
  ::close(p[0]);
  Fd to_guest(p[1]);
  auto r = pack_tar(to_guest.get(), s, as);
  to_guest = Fd();
  if (!r) ::kill(child, SIGTERM);
  const int status = wait_child(child);
  if (!r) return std::unexpected(r.error());
  if (status != 0)
    return fail(ErrorCode::runtime, "tar in the sandbox failed (exit status " + std::to_string(status) + ")",
                "check that sandbox:" + dir + " exists and is writable by the user (--user)");
  return r;
}

int run_cp(const Args& args) {
  const Output out = Output::for_args(args);
  const std::string& src = args.positionals[0];
  const std::string& dst = args.positionals[1];
  const bool from = src.starts_with(kPrefix), to = dst.starts_with(kPrefix);
  if (from == to)
    return out.error(make_error(ErrorCode::usage, from ? "both paths are in the sandbox" : "neither path is in the sandbox",
                                "write exactly one of them as sandbox:/PATH, e.g. sbx cp ./file sandbox:/workspace/"));
  ExtractBudget budget;
  if (auto m = args.value("max-bytes")) {
    auto v = config::parse_size(*m);
    if (!v) return out.error(make_error(ErrorCode::usage, "--max-bytes: " + v.error().message, "write e.g. --max-bytes 8GiB"));
    budget.max_bytes = *v;
  }
  auto target = resolve_sandbox(args, false);
  if (!target) return out.error(target.error());
  // A sandbox that is not running is said once, here, not by each guest command below.
  if (auto c = supervisor::Client::connect(target->paths); !c) return out.error(c.error());
  ::signal(SIGPIPE, SIG_IGN);  // a guest tar that quits early is an error value, not a signal
  auto g = guest_path(from ? src : dst);
  if (!g) return out.error(g.error());
  auto r = from ? from_sandbox(*target, args, *g, dst, budget) : to_sandbox(*target, args, src, *g);
  if (!r) return out.error(r.error());
  for (const auto& s : r->skipped) out.warn("skipped " + s);
  if (out.json()) {
    nlohmann::json j = {{"ok", true}, {"direction", from ? "from-sandbox" : "to-sandbox"}, {"source", src}, {"destination", dst}};
    j.update(count_json(*r));
    out.result(j);
  } else {
    out.note("copied " + std::to_string(r->files) + " files, " + std::to_string(r->dirs) + " directories, " +
             std::to_string(r->symlinks) + " symlinks (" + std::to_string(r->bytes) + " bytes)");
  }
  return 0;
}

}  // namespace

const CommandSpec kCpCommand{
    .name = "cp",
    .summary = "Copy files and directories between the host and a sandbox",
    .usage = "sbx cp [OPTIONS] SRC DST",
    .description =
        "Copies a file or a directory tree between the host and the running sandbox of the\n"
        "Sandboxfile in the current directory (or --name). Exactly one of SRC and DST is written\n"
        "sandbox:/ABSOLUTE/PATH. When DST is an existing directory the copy goes inside it under\n"
        "SRC's name; otherwise it is created as DST. Permission bits are kept (never set-uid,\n"
        "set-gid or sticky on the host); files on the host belong to the user running sbx, files in\n"
        "the sandbox to the guest user (--user, default the agent user). The sandbox's own tar packs\n"
        "and unpacks a tar stream that crosses the sandbox's exec channel.\n"
        "\n"
        "Host to sandbox: symlinks inside SRC are copied as symlinks, never followed (SRC itself is\n"
        "followed if it is one); devices, fifos and sockets are skipped with a warning.\n"
        "\n"
        "Sandbox to host: everything the guest sends is checked before it is written. Refused, and\n"
        "the copy stopped with an error naming the entry: absolute paths, '..', names outside the\n"
        "one asked for, anything that would be written through a symlink (one the guest sent or one\n"
        "already in DST; openat2 with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS), hard links, devices,\n"
        "fifos and sockets, and more than the budget: --max-bytes of file contents (default 4GiB) and\n"
        "200000 entries. A file or symlink already in the way is replaced, never written through;\n"
        "symlinks the guest sends are created as they are. What was written before an error stays.\n"
        "\n"
        "EXIT STATUS\n"
        "    0 copied; 1 refused or failed (the reason is printed); 2 usage error.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx cp ./patch.diff sandbox:/workspace/\n"
        "    sbx cp sandbox:/etc/hosts ./hosts\n"
        "    sbx cp --name web sandbox:/workspace/dist ./dist-from-vm\n"
        "    sbx cp --user root --json ./certs sandbox:/usr/local/share/ca-certificates/mine\n",
    .options = {{"name", 'n', "NAME", "The sandbox to use (default: the one of ./Sandboxfile)."},
                {"user", 'u', "USER", "The guest user that reads or writes the sandbox side (default: the agent user)."},
                {"max-bytes", 0, "SIZE", "Sandbox to host: stop after SIZE of file contents (default 4GiB)."},
                {"json", 0, "",
                 "Print {\"ok\":true,\"direction\",\"source\",\"destination\",\"files\",\"directories\",\"symlinks\","
                 "\"bytes\",\"skipped\":[...]} on stdout."}},
    .min_positionals = 2,
    .max_positionals = 2,
    .run = run_cp,
};

}  // namespace sbx::cli
