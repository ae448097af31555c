// sbx logs [PATH] [--name N] [--console] [--follow]: a sandbox's logs.
#include <fstream>
#include <iostream>
#include <thread>
#include <unistd.h>

#include "cli/cmd_sandbox_common.h"
#include "cli/commands.h"
#include "cli/cmd_logs_egress.h"
#include "cli/output.h"
#include "common/escape.h"
#include "supervisor/spawn.h"

namespace sbx::cli {
namespace {

// The egress log: complete lines only (the proxy appends whole lines), as JSON or as a table.
int egress_logs(const supervisor::SandboxPaths& paths, bool json, bool follow) {
  const Output out;  // --json here means the raw log lines; errors stay for a person
  std::ifstream in(paths.egress_log(), std::ios::binary);
  if (!in)
    return out.error(make_error(ErrorCode::not_found, "no egress log " + paths.egress_log().string(),
                             "the sandbox has made no outbound connection yet (or has not run: 'sbx up')"));
  if (!json) std::cout << egress_table_header() << "\n";
  std::string partial;
  auto emit = [&](const std::string& line) {
    if (json) std::cout << line << "\n";
    else std::cout << format_egress_line(line) << "\n";
  };
  for (;;) {
    char buf[8192];
    in.read(buf, sizeof buf);
    const auto n = in.gcount();
    if (n > 0) {
      partial.append(buf, static_cast<size_t>(n));
      size_t at;
      while ((at = partial.find('\n')) != std::string::npos) {
        emit(partial.substr(0, at));
        partial.erase(0, at + 1);
      }
      continue;
    }
    std::cout.flush();
    if (!follow) return 0;
    in.clear();
    auto st = supervisor::read_state(paths);
    if (!st || !supervisor::supervisor_alive(st->supervisor_pid)) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Log bytes to stdout: as they are on a pipe or in a file (the user asked for the log), and line by
// line with every control sequence escaped on a terminal (a guest must not drive it).
class LogWriter {
 public:
  explicit LogWriter(bool escape) : escape_(escape) {}
  void write(const char* data, size_t n) {
    if (!escape_) {
      std::cout.write(data, static_cast<std::streamsize>(n));
      return;
    }
    partial_.append(data, n);
    const size_t last = partial_.rfind('\n');
    if (last == std::string::npos) return;
    std::cout << text::escape_lines_for_terminal(std::string_view(partial_).substr(0, last + 1), "");
    partial_.erase(0, last + 1);
  }
  /// The unterminated rest, when no more is coming.
  void finish() {
    if (escape_ && !partial_.empty()) std::cout << text::escape_lines_for_terminal(partial_, "");
    partial_.clear();
    std::cout.flush();
  }

 private:
  bool escape_;
  std::string partial_;
};

int run_logs(const Args& args) {
  const Output out;  // --json (with --egress) means the raw log lines; errors stay for a person
  auto t = resolve_sandbox(args, true);
  if (!t) return out.error(t.error());
  if (args.flag("egress")) return egress_logs(t->paths, args.flag("json"), args.flag("follow"));
  if (args.flag("json"))
    return out.error(make_error(ErrorCode::usage, "--json goes with --egress", "sbx logs --egress --json"));
  const auto file = args.flag("console") ? t->paths.console_log()
                    : args.flag("guest") ? t->paths.guest_log()
                                         : t->paths.supervisor_log();
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return out.error(make_error(ErrorCode::not_found, "no log " + file.string(), "has the sandbox run? start it with 'sbx up'"));
  LogWriter writer(::isatty(STDOUT_FILENO) == 1);
  // Print what is there; with --follow, keep going until the supervisor is gone.
  char buf[8192];
  for (;;) {
    in.read(buf, sizeof buf);
    const auto n = in.gcount();
    if (n > 0) {
      writer.write(buf, static_cast<size_t>(n));
      continue;
    }
    std::cout.flush();
    in.clear();
    if (!args.flag("follow")) break;
    auto st = supervisor::read_state(t->paths);
    if (!st || !supervisor::supervisor_alive(st->supervisor_pid)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  writer.finish();
  return 0;
}

}  // namespace

const CommandSpec kLogsCommand{
    .name = "logs",
    .summary = "Print a sandbox's logs",
    .usage = "sbx logs [OPTIONS] [PATH]",
    .description =
        "Prints the supervisor log of the sandbox of the Sandboxfile at PATH or in the current\n"
        "directory (or --name): lifecycle lines (VMM started, guest hello, ready, stop) and errors.\n"
        "--console prints the guest's serial console instead (kernel messages, panics), --guest the\n"
        "log streams the guest agent sent. The files live in the sandbox's state directory and are\n"
        "kept after 'sbx down'. On a terminal every control character (escape sequences, carriage\n"
        "returns, invalid UTF-8) is shown escaped, as \\x1b; on a pipe the bytes are printed as they are.\n"
        "\n"
        "--egress prints the egress proxy's decisions (egress.log): one row per connection or request\n"
        "with its time (UTC), allow/deny (or learned), method, host:port, the rule (file:line) or\n"
        "default that decided, bytes up/down and duration; a refusal adds why and the [egress] line\n"
        "that would allow it. With --json the log's own JSON lines are printed unchanged (time, method,\n"
        "host, port, address, decision, rule, rule_text, reason, fix, status, intercepted, bytes_up,\n"
        "bytes_down, duration_ms, learned). Secret values never appear in it.\n"
        "\n"
        "EXAMPLES\n"
        "    sbx logs --follow\n"
        "    sbx logs --egress\n"
        "    sbx logs --egress --json | jq 'select(.decision == \"deny\")'\n",
    .options = {{"name", 'n', "NAME", "The sandbox."},
                {"console", 'c', "", "The guest serial console (kernel messages)."},
                {"guest", 'g', "", "The guest agent's log streams."},
                {"egress", 'e', "", "The egress proxy's decisions (a table; --json for the raw lines)."},
                {"json", 0, "", "With --egress: print the JSON lines as they are."},
                {"follow", 'f', "", "Keep printing new lines while the sandbox runs."}},
    .min_positionals = 0,
    .max_positionals = 1,
    .run = run_logs,
};

}  // namespace sbx::cli
