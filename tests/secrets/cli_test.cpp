// End-to-end tests of `sbx secret ...`: they run the real build/bin/sbx with SBX_DATA_DIR in a temp dir.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "secrets/bindings.h"
#include "secrets/blob.h"
#include "secrets/store.h"
#include "support/subprocess.h"
#include "support/wait.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace sbx::secrets::test;
using sbx::test::Child;
using sbx::test::Ran;
using sbx::test::Spawn;
using sbx::secrets::SecretBuffer;
using sbx::secrets::Store;

namespace {

// The sbx binary under test.
std::string sbx_bin() { return SBX_BIN; }

// Run `sbx ARGS...` against the store in `data`, with `input` on stdin.
Ran run_sbx(const fs::path& data, std::vector<std::string> args, const std::string& input = {},
        std::map<std::string, std::string> env = {}, std::map<int, std::string> fds = {}, std::string cwd = {}) {
  Spawn s;
  s.argv = {sbx_bin()};
  s.argv.insert(s.argv.end(), args.begin(), args.end());
  s.env = std::move(env);
  s.env["SBX_DATA_DIR"] = data.string();
  s.fds = std::move(fds);
  s.cwd = std::move(cwd);
  return sbx::test::run(s, input);
}

std::string library_get(const fs::path& data, std::string_view name, std::string passphrase = {}) {
  sbx::secrets::OpenOptions o{.dir = data / "secrets"};
  o.passphrase = [passphrase](std::string_view) { return SecretBuffer::copy_of(passphrase); };
  auto store = Store::open(o);
  REQUIRE(store);
  auto v = store->get(name);
  if (!v) FAIL(v.error().message);
  return std::string(v->reveal());
}

std::string proc_file(pid_t pid, const char* what) {
  return read_bytes("/proc/" + std::to_string(pid) + "/" + what);
}

// Wait until `pid` has exec'd the sbx binary (so /proc shows its own argv and environment).
void wait_for_exec(pid_t pid) {
  std::error_code ec;
  REQUIRE(sbx::test::wait_until(
      [&] { return fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec) == fs::path(sbx_bin()); },
      std::chrono::seconds(10), std::chrono::milliseconds(5)));
}

}  // namespace

TEST_CASE("sbx secret set takes the value from stdin and ls shows names and times, never values", "[secrets][cli]") {
  TempDir t;
  Ran set = run_sbx(t.path(), {"secret", "set", "GITHUB_TOKEN"}, "ghp-value-from-stdin\n");
  INFO(set.err);
  REQUIRE(set.exit_code == 0);
  CHECK_THAT(set.err, Catch::Contains("created a new secret store"));
  CHECK(set.out.empty());
  CHECK(library_get(t.path(), "GITHUB_TOKEN") == "ghp-value-from-stdin");  // one trailing newline dropped

  write_bytes(t.path() / "pem", "-----BEGIN KEY-----\nabc\n-----END KEY-----\n");
  REQUIRE(run_sbx(t.path(), {"secret", "set", "--from-file", (t.path() / "pem").string(), "DEPLOY_KEY"}).exit_code == 0);
  CHECK(library_get(t.path(), "DEPLOY_KEY") == read_bytes(t.path() / "pem"));  // exact bytes

  Ran ls = run_sbx(t.path(), {"secret", "ls"});
  REQUIRE(ls.exit_code == 0);
  CHECK_THAT(ls.out, Catch::Contains("GITHUB_TOKEN") && Catch::Contains("DEPLOY_KEY") && Catch::Contains("CREATED"));
  CHECK(ls.out.find("ghp-value") == std::string::npos);

  Ran js = run_sbx(t.path(), {"secret", "ls", "--json"});
  REQUIRE(js.exit_code == 0);
  const auto doc = nlohmann::json::parse(js.out);
  CHECK(doc["ok"] == true);
  CHECK(doc["mode"] == "key-file");
  REQUIRE(doc["secrets"].size() == 2);
  CHECK(doc["secrets"][0]["name"] == "DEPLOY_KEY");
  CHECK(doc["secrets"][1]["name"] == "GITHUB_TOKEN");
  CHECK(doc["secrets"][1]["created"].get<std::string>().ends_with("Z"));
  CHECK(js.out.find("ghp-value") == std::string::npos);

  REQUIRE(run_sbx(t.path(), {"secret", "rm", "DEPLOY_KEY"}).exit_code == 0);
  Ran again = run_sbx(t.path(), {"secret", "rm", "DEPLOY_KEY"});
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("no secret named 'DEPLOY_KEY'"));
}

TEST_CASE("sbx secret set refuses bad names, empty values and values on the command line", "[secrets][cli]") {
  TempDir t;
  Ran bad = run_sbx(t.path(), {"secret", "set", "my token"}, "v");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("secret name has byte 0x20") && Catch::Contains("A-Z a-z 0-9 _ . -"));
  Ran empty = run_sbx(t.path(), {"secret", "set", "TOK"}, "\n");
  CHECK(empty.exit_code == 1);
  CHECK_THAT(empty.err, Catch::Contains("is empty"));
  Ran argv_value = run_sbx(t.path(), {"secret", "set", "TOK", "the-value"});
  CHECK(argv_value.exit_code == 2);  // no positional for a value exists
  CHECK_FALSE(fs::exists(t.store() / "TOK.secret"));
}

TEST_CASE("a secret value never shows in argv, the environment or any log of sbx, even at trace level", "[secrets][cli]") {
  TempDir t;
  const std::string value = "tr4ce-canary-value-91f2";
  const std::string pw = "pass-canary-77aa";
  const std::map<std::string, std::string> trace{{"SBX_LOG", "trace"}, {"SBX_DATA_DIR", t.path().string()}};
  std::vector<Ran> runs;

  // While `set` holds the value (read, stdin still open), look at its /proc entries.
  Spawn spec{.argv = {sbx_bin(), "secret", "set", "CANARY"}, .env = trace};
  Child child = Child::start(spec);
  wait_for_exec(child.pid());
  child.write_stdin(value, false);
  REQUIRE(sbx::test::wait_until([&] { return child.stdin_unread() == 0; }, std::chrono::seconds(10)));
  const std::string cmdline = proc_file(child.pid(), "cmdline");
  const std::string environ_text = proc_file(child.pid(), "environ");
  CHECK_THAT(cmdline, Catch::Contains("CANARY"));  // we do read the right process
  CHECK_THAT(environ_text, Catch::Contains("SBX_LOG=trace"));
  CHECK(cmdline.find(value) == std::string::npos);
  CHECK(environ_text.find(value) == std::string::npos);
  runs.push_back(child.wait());
  REQUIRE(runs.back().exit_code == 0);

  runs.push_back(run_sbx(t.path(), {"secret", "ls"}, {}, trace));
  runs.push_back(run_sbx(t.path(), {"secret", "ls", "--json"}, {}, trace));
  runs.push_back(run_sbx(t.path(), {"secret", "show-public-key", "--json"}, {}, trace));
  const std::string key = nlohmann::json::parse(runs.back().out)["public_key"];
  runs.push_back(run_sbx(t.path(), {"secret", "seal", "--public-key", key, "SEALED"}, value, trace));
  REQUIRE(runs.back().exit_code == 0);
  write_bytes(t.path() / "blob", runs.back().out);
  runs.push_back(run_sbx(t.path(), {"secret", "passphrase", "--kdf", "interactive"}, {},
                     {{"SBX_LOG", "trace"}, {"SBX_SECRET_NEW_PASSPHRASE_FD", "3"}}, {{3, pw + "\n"}}));
  REQUIRE(runs.back().exit_code == 0);
  runs.push_back(run_sbx(t.path(), {"secret", "import", (t.path() / "blob").string()}, {},
                     {{"SBX_LOG", "trace"}, {"SBX_SECRET_PASSPHRASE_FD", "3"}}, {{3, pw + "\n"}}));
  REQUIRE(runs.back().exit_code == 0);
  runs.push_back(run_sbx(t.path(), {"secret", "set", "CANARY"}, value, trace));
  runs.push_back(run_sbx(t.path(), {"secret", "rm", "CANARY", "SEALED"}, {}, trace));
  REQUIRE(runs.back().exit_code == 0);

  bool saw_trace = false;
  for (const Ran& r : runs) {
    INFO(r.err);
    CHECK(r.out.find(value) == std::string::npos);
    CHECK(r.err.find(value) == std::string::npos);
    CHECK(r.out.find(pw) == std::string::npos);
    CHECK(r.err.find(pw) == std::string::npos);
    saw_trace = saw_trace || r.err.find("sbx[secrets]") != std::string::npos;
  }
  CHECK(saw_trace);  // the logs were really on, so their silence about values means something
}

TEST_CASE("the hidden prompt on a terminal does not echo the value", "[secrets][cli]") {
  TempDir t;
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  REQUIRE(master >= 0);
  REQUIRE(::grantpt(master) == 0);
  REQUIRE(::unlockpt(master) == 0);
  const std::string slave = ::ptsname(master);
  const std::string data = "SBX_DATA_DIR=" + t.path().string();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setsid();
    const int s = ::open(slave.c_str(), O_RDWR);  // becomes the controlling terminal
    ::dup2(s, 0);
    ::dup2(s, 1);
    ::dup2(s, 2);
    ::putenv(const_cast<char*>(data.c_str()));
    ::execl(sbx_bin().c_str(), "sbx", "secret", "set", "TTY_TOKEN", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string seen;
  auto read_for = [&](int ms, std::string_view until) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline && (until.empty() || seen.find(until) == std::string::npos)) {
      pollfd p{master, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0) break;  // EIO: the child closed the terminal
      seen.append(buf, static_cast<std::size_t>(n));
    }
  };
  read_for(10000, "(input hidden): ");
  REQUIRE_THAT(seen, Catch::Contains("Value for secret 'TTY_TOKEN'"));
  const std::string typed = "typed-on-tty-5521";
  REQUIRE(::write(master, (typed + "\n").data(), typed.size() + 1) == static_cast<ssize_t>(typed.size() + 1));
  int status = 0;
  for (int i = 0; i < 1000 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) read_for(10, {});
  read_for(100, {});
  ::close(master);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(seen.find(typed) == std::string::npos);
  CHECK(library_get(t.path(), "TTY_TOKEN") == typed);
}

TEST_CASE("two sbx processes setting 50 secrets each at the same time lose nothing", "[secrets][cli]") {
  TempDir t;
  REQUIRE(run_sbx(t.path(), {"secret", "show-public-key"}).exit_code == 0);  // the store exists before the race
  auto writer = [&](char who, std::vector<int>* failures) {
    for (int i = 0; i < 50; ++i) {
      const std::string n = std::to_string(i);
      if (run_sbx(t.path(), {"secret", "set", std::string(1, who) + n}, std::string(1, who) + "-value-" + n).exit_code != 0)
        failures->push_back(i);
      if (i % 5 == 0 && run_sbx(t.path(), {"secret", "set", "SHARED"}, std::string(1, who) + "-shared-" + n).exit_code != 0)
        failures->push_back(1000 + i);
    }
  };
  std::vector<int> fa, fb;
  std::thread a(writer, 'A', &fa), b(writer, 'B', &fb);
  a.join();
  b.join();
  CHECK(fa.empty());
  CHECK(fb.empty());
  Ran ls = run_sbx(t.path(), {"secret", "ls", "--json"});
  REQUIRE(ls.exit_code == 0);
  CHECK(nlohmann::json::parse(ls.out)["secrets"].size() == 101);
  for (int i = 0; i < 50; ++i)
    for (char who : {'A', 'B'})
      CHECK(library_get(t.path(), std::string(1, who) + std::to_string(i)) ==
            std::string(1, who) + "-value-" + std::to_string(i));
  const std::string shared = library_get(t.path(), "SHARED");
  CHECK((shared == "A-shared-45" || shared == "B-shared-45"));  // the last write of one of them, intact
  for (const auto& e : fs::directory_iterator(t.store())) CHECK_FALSE(e.path().filename().string().starts_with(".tmp-"));
}

TEST_CASE("a blob sealed to another store's public key imports there and nowhere else", "[secrets][cli]") {
  TempDir owner;   // the developer's store
  TempDir other;   // an unrelated store
  TempDir sender;  // a CI job with no store at all
  Ran pk = run_sbx(owner.path(), {"secret", "show-public-key"});
  REQUIRE(pk.exit_code == 0);
  REQUIRE(run_sbx(other.path(), {"secret", "show-public-key"}).exit_code == 0);
  write_bytes(sender.path() / "owner.pub", pk.out);

  Ran sealed = run_sbx(sender.path(), {"secret", "seal", "--public-key", "@" + (sender.path() / "owner.pub").string(), "NPM_TOKEN"},
                   "npm-sealed-value\n");
  INFO(sealed.err);
  REQUIRE(sealed.exit_code == 0);
  CHECK_FALSE(fs::exists(sender.store()));  // sealing needs no store
  const fs::path blob = sender.path() / "npm.sealed";
  write_bytes(blob, sealed.out);

  Ran wrong = run_sbx(other.path(), {"secret", "import", blob.string()});
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.err, Catch::Contains("sealed for another store"));

  // A blob renamed on the way (outer name rewritten, checksum fixed up) is caught by the sealed name.
  auto decoded = sbx::secrets::decode_blob(sealed.out, "blob");
  REQUIRE(decoded);
  decoded->name = "PROD_DB_PASSWORD";
  write_bytes(sender.path() / "renamed.sealed", sbx::secrets::encode_blob(*decoded));
  Ran renamed = run_sbx(owner.path(), {"secret", "import", (sender.path() / "renamed.sealed").string()});
  CHECK(renamed.exit_code == 1);
  CHECK_THAT(renamed.err, Catch::Contains("belongs to secret 'NPM_TOKEN'"));

  std::string damaged = sealed.out;
  damaged[40] = damaged[40] == 'A' ? 'B' : 'A';
  write_bytes(sender.path() / "damaged.sealed", damaged);
  Ran bad = run_sbx(owner.path(), {"secret", "import", (sender.path() / "damaged.sealed").string()});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("damaged"));

  Ran ok = run_sbx(owner.path(), {"secret", "import", blob.string()});
  INFO(ok.err);
  REQUIRE(ok.exit_code == 0);
  CHECK(library_get(owner.path(), "NPM_TOKEN") == "npm-sealed-value");
  CHECK(Store::open({.dir = other.store()})->list()->empty());
}

TEST_CASE("passphrase mode through descriptors: set needs none, a wrong one changes nothing", "[secrets][cli]") {
  TempDir t;
  REQUIRE(run_sbx(t.path(), {"secret", "set", "BEFORE"}, "v-before").exit_code == 0);
  Ran pw = run_sbx(t.path(), {"secret", "passphrase", "--kdf", "interactive"}, {}, {{"SBX_SECRET_NEW_PASSPHRASE_FD", "3"}},
               {{3, "right horse\n"}});
  INFO(pw.err);
  REQUIRE(pw.exit_code == 0);
  CHECK_FALSE(fs::exists(t.store() / "wrap.key"));
  // No passphrase source and no terminal: set must still work.
  REQUIRE(run_sbx(t.path(), {"secret", "set", "AFTER"}, "v-after").exit_code == 0);
  CHECK(nlohmann::json::parse(run_sbx(t.path(), {"secret", "ls", "--json"}).out)["mode"] == "passphrase");

  const auto before = snapshot(t.path());
  Ran wrong = run_sbx(t.path(), {"secret", "passphrase", "--remove"}, {}, {{"SBX_SECRET_PASSPHRASE_FD", "3"}}, {{3, "wrong horse\n"}});
  CHECK(wrong.exit_code == 1);
  CHECK_THAT(wrong.err, Catch::Contains("wrong passphrase"));
  CHECK(snapshot(t.path()) == before);
  Ran none = run_sbx(t.path(), {"secret", "passphrase", "--remove"});
  CHECK(none.exit_code != 0);
  CHECK_THAT(none.err, Catch::Contains("SBX_SECRET_PASSPHRASE_FD") || Catch::Contains("terminal"));
  CHECK(snapshot(t.path()) == before);

  CHECK(library_get(t.path(), "BEFORE", "right horse") == "v-before");
  CHECK(library_get(t.path(), "AFTER", "right horse") == "v-after");
  REQUIRE(run_sbx(t.path(), {"secret", "passphrase", "--remove"}, {}, {{"SBX_SECRET_PASSPHRASE_FD", "3"}}, {{3, "right horse\n"}})
              .exit_code == 0);
  CHECK(library_get(t.path(), "AFTER") == "v-after");
}

TEST_CASE("wrong modes make sbx secret commands fail with the chmod that fixes them", "[secrets][cli]") {
  TempDir t;
  REQUIRE(run_sbx(t.path(), {"secret", "set", "TOK"}, "v").exit_code == 0);
  const fs::path f = t.store() / "TOK.secret";
  ::chmod(f.c_str(), 0644);
  Ran set = run_sbx(t.path(), {"secret", "set", "TOK"}, "v2");
  CHECK(set.exit_code == 1);
  CHECK_THAT(set.err, Catch::Contains("has mode 0644") && Catch::Contains("chmod 600 " + f.string()));
  Ran ls = run_sbx(t.path(), {"secret", "ls"});
  CHECK(ls.exit_code == 1);
  CHECK_THAT(ls.out, Catch::Contains("DAMAGED") && Catch::Contains("chmod 600"));
  ::chmod(f.c_str(), 0600);
  ::chmod(t.store().c_str(), 0755);
  Ran dir = run_sbx(t.path(), {"secret", "set", "OTHER"}, "v");
  CHECK(dir.exit_code == 1);
  CHECK_THAT(dir.err, Catch::Contains("chmod 700 " + t.store().string()));
  CHECK_FALSE(fs::exists(t.store() / "OTHER.secret"));
}

TEST_CASE("a store.key damaged at any byte stops sbx secret set and is left untouched", "[secrets][cli]") {
  TempDir t;
  REQUIRE(run_sbx(t.path(), {"secret", "set", "TOK"}, "v").exit_code == 0);
  const fs::path key = t.store() / "store.key";
  const std::string original = read_bytes(key);
  for (std::size_t i = 0; i < original.size(); ++i) {
    INFO("byte " << i);
    std::string bad = original;
    bad[i] = static_cast<char>(bad[i] ^ (1u << (i % 8)));
    write_bytes(key, bad);
    Ran r = run_sbx(t.path(), {"secret", "set", "NEW"}, "v");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains(key.string()));
    CHECK(read_bytes(key) == bad);
    CHECK_FALSE(fs::exists(t.store() / "NEW.secret"));
  }
}

TEST_CASE("sbx secret ls shows which Sandboxfile bindings use each secret", "[secrets][cli]") {
  TempDir t;
  const fs::path project = t.path() / "project";
  fs::create_directories(project);
  write_bytes(project / "Sandboxfile",
              "version = 1\n"
              "[agent]\npreset = \"shell\"\n"
              "[egress]\nallow = [\"api.github.com\"]\n"
              "[[secret]]\nname = \"GITHUB_TOKEN\"\nhosts = [\"api.github.com\"]\nheader = \"Authorization\"\n"
              "template = \"Bearer {}\"\n"
              "[[secret]]\nname = \"NPM_TOKEN\"\ninject = \"env\"\nenv = \"NPM_TOKEN\"\n");
  REQUIRE(run_sbx(t.path(), {"secret", "set", "GITHUB_TOKEN"}, "v").exit_code == 0);
  REQUIRE(run_sbx(t.path(), {"secret", "set", "UNUSED"}, "v").exit_code == 0);

  // Without a Sandboxfile in the working directory, ls still works.
  Ran plain = run_sbx(t.path(), {"secret", "ls", "--json"}, {}, {}, {}, t.path().string());
  REQUIRE(plain.exit_code == 0);
  CHECK(nlohmann::json::parse(plain.out)["sandboxfile"].is_null());

  Ran r = run_sbx(t.path(), {"secret", "ls", "--json", "--sandboxfile", project.string()});
  if (!sbx::secrets::bindings_supported()) {
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Catch::Contains("without the config loader"));
    return;
  }
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  const auto doc = nlohmann::json::parse(r.out);
  REQUIRE(doc["secrets"].size() == 2);
  CHECK(doc["secrets"][0]["name"] == "GITHUB_TOKEN");
  REQUIRE(doc["secrets"][0]["used_by"].size() == 1);
  CHECK(doc["secrets"][0]["used_by"][0]["how"] == "header Authorization for api.github.com");
  CHECK_THAT(doc["secrets"][0]["used_by"][0]["where"].get<std::string>(), Catch::Contains((project / "Sandboxfile").string() + ":"));
  CHECK(doc["secrets"][1]["used_by"].empty());
  REQUIRE(doc["missing"].size() == 1);
  CHECK(doc["missing"][0]["name"] == "NPM_TOKEN");

  // The Sandboxfile of the working directory is picked up by itself; the text form says the same.
  Ran text = run_sbx(t.path(), {"secret", "ls"}, {}, {}, {}, project.string());
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("header Authorization for api.github.com"));
  CHECK_THAT(text.err, Catch::Contains("'NPM_TOKEN', which is not in the store"));

  Ran missing = run_sbx(t.path(), {"secret", "ls", "--sandboxfile", (t.path() / "nope").string()});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("no Sandboxfile"));
}
