// sbx secret ls: names, times and Sandboxfile bindings of the stored secrets; never values.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/cmd_secret_common.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "secrets/bindings.h"

namespace sbx::cli {
namespace {

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

int run_secret_ls(const Args& args) {
  const Output out = Output::for_args(args);
  const bool json = out.json();
  if (auto ok = secret_cmd::prepare(); !ok) return out.error(ok.error());

  // Bindings: --sandboxfile must load; the one in the current directory is optional.
  secrets::Bindings bindings;
  std::string bindings_note;
  if (auto path = args.value("sandboxfile")) {
    auto b = secrets::load_bindings(*path, true);
    if (!b) return out.error(b.error());
    bindings = std::move(*b);
  } else {
    std::error_code ec;
    auto b = secrets::load_bindings(std::filesystem::current_path(ec), false);
    if (b) bindings = std::move(*b);
    else bindings_note = "bindings not shown: " + b.error().message;
  }
  std::map<std::string, std::vector<const secrets::Binding*>> used_by;
  for (const auto& b : bindings.items) used_by[b.secret].push_back(&b);

  std::vector<secrets::SecretInfo> infos;
  const bool exists = secrets::Store::exists();
  std::optional<secrets::Store> store;
  if (exists) {
    auto opened = secrets::Store::open({});
    if (!opened) return out.error(opened.error());
    store.emplace(std::move(*opened));
    auto listed = store->list();
    if (!listed) return out.error(listed.error());
    infos = std::move(*listed);
  }
  std::set<std::string> stored;
  bool damaged = false;
  for (const auto& i : infos) {
    stored.insert(i.name);
    damaged = damaged || !i.problem.empty();
  }

  if (json) {
    nlohmann::json secrets_json = nlohmann::json::array();
    auto binding_json = [](const secrets::Binding& b) { return nlohmann::json{{"where", b.where}, {"how", b.how}}; };
    for (const auto& i : infos) {
      nlohmann::json j{{"name", i.name}};
      if (i.problem.empty()) {
        j["created"] = secret_cmd::iso_time(i.created);
        j["updated"] = secret_cmd::iso_time(i.updated);
        j["size"] = i.value_size;
      } else {
        j["problem"] = i.problem;
      }
      nlohmann::json uses = nlohmann::json::array();
      for (const auto* b : used_by[i.name]) uses.push_back(binding_json(*b));
      j["used_by"] = uses;
      secrets_json.push_back(std::move(j));
    }
    nlohmann::json missing = nlohmann::json::array();
    for (const auto& b : bindings.items)
      if (!stored.contains(b.secret)) missing.push_back({{"name", b.secret}, {"where", b.where}, {"how", b.how}});
    nlohmann::json doc{{"ok", !damaged},
                       {"store", (store ? store->dir() : secrets::Store::default_dir()).string()},
                       {"exists", exists},
                       {"sandboxfile", bindings.sandboxfile.empty() ? nlohmann::json(nullptr)
                                                                     : nlohmann::json(bindings.sandboxfile.string())},
                       {"secrets", secrets_json},
                       {"missing", missing}};
    if (store) {
      doc["mode"] = store->wrap_mode() == secrets::WrapMode::passphrase ? "passphrase" : "key-file";
      doc["public_key"] = store->public_key_base64();
    }
    if (!bindings_note.empty()) doc["note"] = bindings_note;
    out.result(doc);
    return damaged ? 1 : 0;
  }

  if (!exists) out.note("no secret store yet in " + secrets::Store::default_dir().string() + " ('sbx secret set NAME' creates it)");
  if (!bindings_note.empty()) out.note(bindings_note);
  if (!infos.empty()) {
    std::size_t w = 4;
    for (const auto& i : infos) w = std::max(w, i.name.size());
    std::cout << pad("NAME", w + 2) << pad("CREATED", 22) << pad("UPDATED", 22) << "USED BY\n";
    for (const auto& i : infos) {
      if (!i.problem.empty()) {
        std::cout << pad(i.name, w + 2) << "DAMAGED: " << i.problem << '\n';
        continue;
      }
      std::string uses;
      for (const auto* b : used_by[i.name]) uses += (uses.empty() ? "" : "; ") + b->how + " (" + b->where + ")";
      std::cout << pad(i.name, w + 2) << pad(secret_cmd::iso_time(i.created), 22) << pad(secret_cmd::iso_time(i.updated), 22)
                << (uses.empty() ? "-" : uses) << '\n';
    }
  } else if (exists) {
    out.note("the secret store is empty");
  }
  for (const auto& b : bindings.items)
    if (!stored.contains(b.secret))
      out.note(b.where + ": the Sandboxfile binds secret '" + b.secret + "', which is not in the store",
               "add it with 'sbx secret set " + b.secret + "'");
  if (damaged)
    out.note("some secret files are damaged (see above)", "remove them with 'sbx secret rm NAME' and set them again");
  return damaged ? 1 : 0;
}

}  // namespace

const CommandSpec kSecretLsCommand{
    .name = "secret ls",
    .summary = "List stored secrets and which Sandboxfile bindings use them",
    .usage = "sbx secret ls [--json] [--sandboxfile PATH]",
    .description =
        "Lists the secrets in the host secret store: name, created and updated times (UTC), and\n"
        "the [[secrets]] bindings of the Sandboxfile that use each one. Values are never shown\n"
        "and no passphrase is needed: only metadata is read, and every file is integrity-checked\n"
        "on the way (a damaged one is listed as DAMAGED and the exit status is 1).\n"
        "\n"
        "Bindings come from --sandboxfile PATH, or from ./Sandboxfile when there is one. Secrets\n"
        "that the Sandboxfile binds but the store lacks are reported on stderr.\n"
        "EXIT STATUS\n"
        "0  listed;  1  the store or the --sandboxfile cannot be read, or a secret is damaged;\n"
        "2  usage error\n"
        "OUTPUT\n"
        "A table on stdout. --json: {\"ok\",\"store\",\"exists\",\"mode\",\"public_key\",\"sandboxfile\",\n"
        "\"secrets\":[{\"name\",\"created\",\"updated\",\"size\",\"used_by\":[{\"where\",\"how\"}],\n"
        "\"problem\"?}],\"missing\":[{\"name\",\"where\",\"how\"}]}\n"
        SBX_SECRET_HELP_FILES
        "EXAMPLES\n"
        "sbx secret ls\n"
        "sbx secret ls --json --sandboxfile examples/hello",
    .options = {{"json", 0, "", "Print a JSON object on stdout."},
                {"sandboxfile", 0, "PATH", "Show bindings of this Sandboxfile (file or directory)."}},
    .min_positionals = 0,
    .max_positionals = 0,
    .run = run_secret_ls,
};

}  // namespace sbx::cli
