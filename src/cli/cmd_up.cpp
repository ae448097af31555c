// sbx up [PATH]: make the sandbox of a Sandboxfile run (reconcile/apply_up.h does the work),
// then run its agent command in it, attached.
#include <chrono>
#include <iostream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "cli/cmd_policy_common.h"
#include "cli/cmd_sandbox_common.h"
#include "cli/cmd_up_approval.h"
#include "cli/cmd_up_disk.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/escape.h"
#include "common/paths.h"
#include "common/text.h"
#include "config/mount_check.h"
#include "config/port_rules.h"
#include "proxy/host_pins.h"
#include "reconcile/apply_up.h"
#include "supervisor/client.h"

namespace sbx::cli {
namespace {
using namespace std::chrono;
namespace fs = std::filesystem;

double seconds_since(steady_clock::time_point t) {
  return duration_cast<milliseconds>(steady_clock::now() - t).count() / 1000.0;
}

// The ready time as iostream prints a double (default precision: "2.345", "12").
std::string seconds_text(double s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

// The user and workdir come from the guest's CONFIG (the Sandboxfile's, else the image's).
guest::protocol::Open agent_open(const config::Sandboxfile& file, std::vector<std::string> command, bool tty) {
  guest::protocol::Open o;
  o.kind = guest::protocol::OpenKind::exec;
  o.argv = std::move(command);
  o.env = file.agent.env;
  o.tty = tty;
  return o;
}

int run_up(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  const bool detach = args.flag("detach");
  int timeout_s = 120;
  if (auto t = args.value("timeout")) {
    const auto v = text::parse_uint(*t, 1, 3600);
    if (!v)
      return out.error(make_error(ErrorCode::usage, "--timeout must be a number of seconds between 1 and 3600, got '" + *t + "'",
                                 "e.g. --timeout 300"));
    timeout_s = static_cast<int>(*v);
  }
  const auto t0 = steady_clock::now();

  auto target = resolve_sandbox(args, true);
  if (!target) return out.error(target.error());
  // Host configuration, not the Sandboxfile's: names the egress proxy connects to fixed addresses.
  auto pins = proxy::host_pins_from_env();
  if (!pins) return out.error(pins.error());
  config::Sandboxfile& file = *target->file;
  const auto& paths = target->paths;
  // Bad mounts fail here, before anything is built or booted; each source becomes the
  // symlink-free path that was checked, and that path is what virtiofsd serves.
  if (auto m = config::check_mount_sources(file, {paths::data_dir(), paths::state_dir(), paths::config_dir()}); !m)
    return out.error(m.error());
  // So does a Sandboxfile that breaks an enforcing policy (checked on the resolved sources).
  if (auto checked = enforce_policies(file, out); !checked) return out.problems(checked.error());

  // The sequencing is reconcile::apply_up's; here are only the terminal's parts.
  std::optional<ApprovalOutcome> approval;
  reconcile::UpHooks hooks;
  hooks.note = [&](std::string_view line) { out.note(line); };
  hooks.warn = [&](std::string_view line) { out.warn(line); };
  hooks.progress = out.progress_lines();
  hooks.meter = out.meter();
  // The agent may have rewritten the Sandboxfile: no new grant (a mount, egress rule, secret
  // host, hot update too) without the user's yes (cmd_up_approval.h).
  hooks.approve = [&]() -> Result<void> {
    approval = SBX_TRY(approve_grants(file, args.flag("yes"), out));
    return {};
  };
  // A disk reset asks first (cmd_up_disk.h).
  hooks.decide_disk = [&](const reconcile::Artifacts& a) {
    return decide_disk(file, a, paths, args.flag("fresh"), args.flag("yes"), out);
  };
  reconcile::UpRequest request{&file, paths, *pins, args.flag("fresh"), timeout_s};
  auto up = reconcile::apply_up(request, hooks);
  if (!up) return out.error(up.error());
  const reconcile::Plan& plan = up->plan;
  const supervisor::Launch& desired = up->desired;
  const auto& disk = up->disk;
  const bool repaired = up->repaired;
  auto st = supervisor::read_state(paths);
  const double ready_s = seconds_since(t0);
  out.progress("sandbox '" + file.name + "' is ready (" + seconds_text(ready_s) + " s)");
  if (st)
    for (const auto& w : st->warnings) out.warn("guest setup: " + text::escape_for_terminal(w));

  int agent_code = 0;
  bool ran_agent = false;
  const std::vector<std::string> command = reconcile::agent_command(file, up->artifacts);
  if (!detach && !command.empty()) {
    auto client = supervisor::Client::connect(paths);
    if (!client) return out.error(client.error());
    const bool interactive = file.agent.preset != config::kCustomPreset && ::isatty(0) && ::isatty(1) &&
                             !json && command.size() == 1;
    // In --json mode stdout carries the one JSON result: the agent's output goes to stderr.
    int saved_stdout = -1;
    if (json) {
      saved_stdout = ::dup(1);
      ::dup2(2, 1);
    }
    auto code = client->run(agent_open(file, command, interactive));
    if (saved_stdout >= 0) {
      ::dup2(saved_stdout, 1);
      ::close(saved_stdout);
    }
    if (!code) return out.error(code.error());
    agent_code = *code;
    ran_agent = true;
  }
  if (json) {
    std::vector<std::string> warnings = up->warnings;
    if (st) warnings.insert(warnings.end(), st->warnings.begin(), st->warnings.end());
    nlohmann::json j = {{"ok", true},
                        {"name", file.name},
                        {"plan", reconcile::action_name(plan.action)},
                        {"state", "running"},
                        {"state_dir", paths.dir.string()},
                        {"console_log", paths.console_log().string()},
                        {"supervisor_log", paths.supervisor_log().string()},
                        {"up_seconds", ready_s},
                        {"accel", st ? st->accel : ""},
                        {"warnings", warnings}};
    if (ran_agent) j["agent_exit_code"] = agent_code;
    if (repaired) j["repaired"] = {"egress"};
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& p : desired.ports)
      ports.push_back({{"host_address", p.address}, {"host_port", p.host_port}, {"guest_port", p.guest_port}});
    j["ports"] = ports;
    nlohmann::json changes = nlohmann::json::array();
    for (const auto& c : approval->changes) changes.push_back({{"line", c.line}, {"widens", c.widens}});
    j["approval"] = {{"how", approval->how}, {"changes", changes}, {"record", approval->record}};
    if (disk) j["disk"] = {{"action", reconcile::disk_action_name(disk->action)}, {"reason", disk->reason}};
    out.result(j);
  } else {
    out.note("sandbox '" + file.name + "' keeps running: 'sbx exec -- CMD', 'sbx shell', 'sbx status', 'sbx logs', "
             "'sbx down' (in " + file.project_dir.string() + ", or with --name " + file.name + ")");
    out.note("logs: " + paths.dir.string() + "/{console,supervisor}.log");
    for (const auto& p : desired.ports)
      out.note("port " + config::endpoint_text(p.address, p.host_port) + " -> " + std::to_string(p.guest_port) + " in the sandbox" +
               (config::is_loopback_address(p.address) ? "" : " (reachable from other machines)"));
  }
  return agent_code;
}

}  // namespace

const CommandSpec kUpCommand{
    .name = "up",
    .summary = "Start the sandbox of a Sandboxfile and run its agent command",
    .usage = "sbx up [OPTIONS] [PATH]",
    .description =
        "Loads the Sandboxfile at PATH (default: the current directory), builds or reuses the guest\n"
        "initramfs and root disk (cached by content digest under the cache directory), and compares\n"
        "the desired state with the sandbox recorded under the state directory:\n"
        "    create    no sandbox of this name runs: boot one\n"
        "    recreate  one runs with another Sandboxfile or image: stop it, boot a new one\n"
        "    nothing   one runs with exactly this desired state: reuse it (repairing it first: a\n"
        "              dead egress proxy is restarted at once)\n"
        "    hot-update  one runs and only [egress] changed: its egress proxy reloads the rules\n"
        "              for new connections; the VM keeps running (no reboot)\n"
        "The sandbox is a microVM owned by a supervisor process that outlives this command. Once the\n"
        "guest agent reports ready, 'sbx up' runs the [agent] command inside the VM, attached: its\n"
        "output appears here and its exit status is sbx's. An interactive preset (shell, claude-code,\n"
        "codex) with a single-word command gets a terminal when sbx runs in one. The sandbox keeps\n"
        "running afterwards; use 'sbx exec', 'sbx shell', 'sbx logs' and 'sbx down'.\n"
        "\n"
        "A Sandboxfile asking for more CPUs than sbx may use here (its CPU affinity) or more memory\n"
        "than the host's RAM fails before anything is built, naming the largest value that fits;\n"
        "memory above what the host has available now boots with a warning.\n"
        "\n"
        "Each sandbox has its own disk (<state dir>/sandboxes/NAME/disk.ext4, sparse, ext4, sized\n"
        "by [resources] disk): the writable layer of the guest's root, kept across 'sbx down' and\n"
        "'sbx up' until 'sbx rm'. A larger size grows it; a changed image resets it (the plan says\n"
        "why; on a terminal sbx asks, without one it refuses unless --yes); --fresh resets it and\n"
        "reboots a running sandbox. A host without room to make the disk fails before anything is\n"
        "written.\n"
        "\n"
        "The Sandboxfile sits in the workspace, where the agent may write: 'sbx up' records what the\n"
        "user approved (mounts, egress, secrets, image, ports, policies, protected paths) under the\n"
        "state directory and applies more only with a yes. A widening is shown as a diff and asked\n"
        "on a terminal; without one it is refused unless --yes. A change that only narrows is\n"
        "applied. A first up asks only on a terminal and only for more than the baseline (the\n"
        "project read-only, the built-in image, no egress, secrets or ports). In a read-write mount\n"
        "the Sandboxfile, .sbx, .git/hooks, .git/config, .envrc and .vscode/tasks.json stay\n"
        "read-only in the guest (and 'protect' paths): see SPEC.md, \"Protected paths\".\n"
        "\n"
        "On hosts without usable hardware virtualisation (no /dev/kvm, or a PVM hypervisor) the guest\n"
        "runs under software emulation: sbx says so in one warning line.\n"
        "\n"
        "Every connection the guest makes through its HTTP proxy (HTTP_PROXY, set in every exec) goes\n"
        "to the sandbox's egress proxy, a separate host process that enforces [egress] and injects\n"
        "[[secret]] inject = \"header\" values. inject = \"env\" values are read by the sandbox's\n"
        "supervisor and set in the environment of the agent command and of every exec. Bound secrets\n"
        "must be readable without a prompt: a missing secret or a passphrase-protected store makes\n"
        "'sbx up' fail before booting (see 'sbx secret passphrase').\n"
        "\n"
        "SBX_EGRESS_RESOLVE=\"name=addr[,addr];name=addr\" pins names to addresses for the egress\n"
        "proxy, like curl's --resolve (a test server, split DNS); each 'sbx up' applies the value it\n"
        "sees (unset: no pins), as a hot update on a running sandbox. A pinned address is checked like\n"
        "a resolved one: loopback or private addresses still need a CIDR rule in [egress].\n"
        "\n"
        "EXIT STATUS\n"
        "    The agent command's exit status; 1 when the sandbox could not start; 2 usage error.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx up examples/hello\n"
        "    sbx up --detach && sbx exec -- ls /\n"
        "    sbx up --json\n",
    .options = {{"detach", 'd', "", "Start (or reuse) the sandbox but do not run the agent command."},
                {"fresh", 0, "", "Start over from the image: stop the sandbox if it runs and reset its disk."},
                {"yes", 'y', "", "Approve new grants of the Sandboxfile and reset the disk when the image changed, without asking (for scripts)."},
                {"timeout", 0, "SECONDS", "How long to wait for the guest to become ready (default 120)."},
                {"json", 0, "", "Print one JSON result on stdout; the agent's output goes to stderr."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_up,
};

}  // namespace sbx::cli
