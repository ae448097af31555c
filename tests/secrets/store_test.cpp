#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secrets/format.h"
#include "secrets/store.h"
#include "test_support.h"

namespace fs = std::filesystem;
using sbx::ErrorCode;
using sbx::secrets::KdfLimits;
using sbx::secrets::OpenOptions;
using sbx::secrets::SecretBuffer;
using sbx::secrets::Store;
using sbx::secrets::test::read_bytes;
using sbx::secrets::test::snapshot;
using sbx::secrets::test::TempDir;
using sbx::secrets::test::write_bytes;

namespace {

SecretBuffer buf(std::string_view s) { return *SecretBuffer::copy_of(s); }

sbx::secrets::PassphraseSource passphrase(std::string pw, int* calls = nullptr) {
  return [pw, calls](std::string_view) -> sbx::Result<SecretBuffer> {
    if (calls) ++*calls;
    return SecretBuffer::copy_of(pw);
  };
}

// A source that must never be consulted (adding a secret needs only the public key).
sbx::Result<SecretBuffer> no_passphrase(std::string_view) {
  FAIL("the passphrase was asked for");
  return SecretBuffer();
}

Store open_new(const TempDir& t) {
  auto s = Store::open({.dir = t.store(), .create = true, .passphrase = no_passphrase});
  REQUIRE(s);
  return std::move(*s);
}

Store reopen(const TempDir& t, sbx::secrets::PassphraseSource source = no_passphrase) {
  auto s = Store::open({.dir = t.store(), .create = false, .passphrase = std::move(source)});
  REQUIRE(s);
  return std::move(*s);
}

std::string get_value(const Store& s, std::string_view name) {
  auto v = s.get(name);
  REQUIRE(v);
  return std::string(v->reveal());
}

}  // namespace

TEST_CASE("a secret set in the store reads back the same after reopening", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  CHECK(s.wrap_mode() == sbx::secrets::WrapMode::key_file);
  REQUIRE(s.set("GITHUB_TOKEN", buf("ghp_abc123")));
  REQUIRE(s.set("binary", buf(std::string("\0\x01\xff\n", 4))));
  CHECK(get_value(reopen(t), "GITHUB_TOKEN") == "ghp_abc123");
  CHECK(get_value(reopen(t), "binary") == std::string("\0\x01\xff\n", 4));
  CHECK(s.public_key_base64().size() == 44);
  CHECK(reopen(t).public_key() == s.public_key());
}

TEST_CASE("replacing a secret keeps its created time and changes its value", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  REQUIRE(s.set("tok", buf("one")));
  const auto first = *s.info("tok");
  REQUIRE(s.set("tok", buf("two")));
  const auto second = *s.info("tok");
  CHECK(second.created == first.created);
  CHECK(second.updated >= first.updated);
  CHECK(second.value_size == 3);
  CHECK(get_value(s, "tok") == "two");
}

TEST_CASE("list shows names and times sorted, and remove deletes one", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  for (const char* n : {"zeta", "alpha", "mid"}) REQUIRE(s.set(n, buf("v")));
  auto list = s.list();
  REQUIRE(list);
  REQUIRE(list->size() == 3);
  CHECK((*list)[0].name == "alpha");
  CHECK((*list)[2].name == "zeta");
  CHECK((*list)[0].problem.empty());
  REQUIRE(s.remove("mid"));
  CHECK(s.list()->size() == 2);
  auto gone = s.get("mid");
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == ErrorCode::not_found);
  auto missing = s.remove("mid");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::not_found);
}

TEST_CASE("a misspelt secret name gets a did-you-mean hint", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  REQUIRE(s.set("GITHUB_TOKEN", buf("v")));
  auto r = s.get("GITHUB_TOKN");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::not_found);
  CHECK_THAT(r.error().hint, Catch::Contains("GITHUB_TOKEN"));
}

TEST_CASE("opening a missing store without create says how to make one", "[secrets]") {
  TempDir t;
  auto s = Store::open({.dir = t.store()});
  REQUIRE_FALSE(s);
  CHECK(s.error().code == ErrorCode::not_found);
  CHECK_THAT(s.error().hint, Catch::Contains("sbx secret set"));
}

TEST_CASE("no file of the store ever contains a plaintext value or the passphrase", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  const std::string values[] = {"plain-token-7f3a9c", std::string(5000, 'Q') + "long-tail", "s3cr3t\nwith newline"};
  for (int i = 0; i < 3; ++i) REQUIRE(s.set("s" + std::to_string(i), buf(values[i])));
  REQUIRE(s.rewrap(buf("correct horse battery"), *KdfLimits::preset("min")));
  REQUIRE(s.set("after", buf("value-after-rewrap")));
  const auto files = snapshot(t.path());
  REQUIRE(files.size() >= 5);
  for (const auto& [path, bytes] : files) {
    INFO(path);
    for (const auto& v : values) {
      CHECK(bytes.find(v.substr(0, 16)) == std::string::npos);
      CHECK(bytes.find(sbx::secrets::test::hex(v.substr(0, 16))) == std::string::npos);
    }
    CHECK(bytes.find("value-after") == std::string::npos);
    CHECK(bytes.find("correct horse") == std::string::npos);
  }
}

TEST_CASE("passphrase mode: set needs no passphrase, get needs the right one", "[secrets]") {
  TempDir t;
  {
    Store s = open_new(t);
    REQUIRE(s.set("before", buf("v1")));
    REQUIRE(s.rewrap(buf("pw-right"), *KdfLimits::preset("min")));
    CHECK(s.wrap_mode() == sbx::secrets::WrapMode::passphrase);
  }
  CHECK_FALSE(fs::exists(t.store() / "wrap.key"));
  REQUIRE(reopen(t).set("after", buf("v2")));  // no_passphrase would FAIL if asked
  int calls = 0;
  Store s = reopen(t, passphrase("pw-right", &calls));
  CHECK(s.kdf_limits().opslimit == crypto_pwhash_OPSLIMIT_MIN);
  CHECK(get_value(s, "before") == "v1");
  CHECK(get_value(s, "after") == "v2");
  CHECK(calls == 1);  // unlocked once, then cached
}

TEST_CASE("a wrong passphrase is a clear error and changes nothing on disk", "[secrets]") {
  TempDir t;
  {
    Store s = open_new(t);
    REQUIRE(s.set("tok", buf("value")));
    REQUIRE(s.rewrap(buf("pw-right"), *KdfLimits::preset("min")));
  }
  const auto before = snapshot(t.path());
  Store s = reopen(t, passphrase("pw-wrong"));
  auto u = s.unlock();
  REQUIRE_FALSE(u);
  CHECK(u.error().code == ErrorCode::invalid);
  CHECK_THAT(u.error().message, Catch::Contains("wrong passphrase"));
  auto g = s.get("tok");
  REQUIRE_FALSE(g);
  CHECK_THAT(g.error().message, Catch::Contains("wrong passphrase"));
  CHECK(snapshot(t.path()) == before);
}

TEST_CASE("the passphrase can be removed again, back to key-file mode", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  REQUIRE(s.set("tok", buf("value")));
  REQUIRE(s.rewrap(buf("pw"), *KdfLimits::preset("min")));
  REQUIRE(s.rewrap(std::nullopt, {}));
  CHECK(fs::exists(t.store() / "wrap.key"));
  CHECK(get_value(reopen(t), "tok") == "value");
}

TEST_CASE("flipping any bit of a secret file is detected and the file is left as it is", "[secrets]") {
  TempDir t;
  {
    Store s = open_new(t);
    REQUIRE(s.set("tok", buf("small-value")));
  }
  const fs::path file = t.store() / "tok.secret";
  const std::string original = read_bytes(file);
  REQUIRE(original.size() > 100);
  Store s = reopen(t);
  for (std::size_t i = 0; i < original.size(); ++i) {
    for (unsigned char mask : {static_cast<unsigned char>(1u << (i % 8)), static_cast<unsigned char>(0xff)}) {
      INFO("byte " << i << " mask " << int(mask));
      std::string bad = original;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      write_bytes(file, bad);
      auto g = s.get("tok");
      REQUIRE_FALSE(g);
      CHECK(g.error().code == ErrorCode::invalid);
      CHECK_THAT(g.error().message, Catch::Contains(file.string()));
      CHECK_FALSE(g.error().hint.empty());
      auto l = s.list();
      REQUIRE(l);
      REQUIRE(l->size() == 1);
      CHECK_FALSE((*l)[0].problem.empty());
      auto replace = s.set("tok", buf("new-value"));  // must not overwrite the damaged file
      REQUIRE_FALSE(replace);
      CHECK_THAT(replace.error().hint, Catch::Contains("sbx secret rm tok"));
      CHECK(read_bytes(file) == bad);
    }
  }
  write_bytes(file, original);
  CHECK(get_value(s, "tok") == "small-value");
}

TEST_CASE("every truncation of a secret file is detected", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  REQUIRE(s.set("tok", buf("small-value")));
  const fs::path file = t.store() / "tok.secret";
  const std::string original = read_bytes(file);
  for (std::size_t n = 0; n < original.size(); ++n) {
    INFO("length " << n);
    write_bytes(file, original.substr(0, n));
    auto g = s.get("tok");
    REQUIRE_FALSE(g);
    CHECK(g.error().code == ErrorCode::invalid);
    CHECK(read_bytes(file).size() == n);
  }
  write_bytes(file, original + "x");
  CHECK_FALSE(s.get("tok"));
}

TEST_CASE("flipping any bit of store.key or wrap.key is detected before use, in both modes", "[secrets]") {
  TempDir t;
  {
    Store s = open_new(t);
    REQUIRE(s.set("tok", buf("value")));
  }
  auto sweep = [&](const fs::path& file) {
    const std::string original = read_bytes(file);
    for (std::size_t i = 0; i < original.size(); ++i) {
      INFO(file.filename().string() << " byte " << i);
      std::string bad = original;
      bad[i] = static_cast<char>(bad[i] ^ (1u << (i % 8)));
      write_bytes(file, bad);
      auto s = Store::open({.dir = t.store(), .create = true, .passphrase = passphrase("pw")});
      REQUIRE_FALSE(s);
      CHECK(s.error().code == ErrorCode::invalid);
      CHECK_THAT(s.error().message, Catch::Contains(file.string()));
      CHECK(read_bytes(file) == bad);  // create=true must not "repair" it
    }
    write_bytes(file, original);
  };
  SECTION("key-file mode") {
    sweep(t.store() / "store.key");
    sweep(t.store() / "wrap.key");
    CHECK(get_value(reopen(t), "tok") == "value");
  }
  SECTION("passphrase mode") {
    REQUIRE(reopen(t).rewrap(buf("pw"), *KdfLimits::preset("min")));
    sweep(t.store() / "store.key");
    CHECK(get_value(reopen(t, passphrase("pw")), "tok") == "value");
  }
}

TEST_CASE("a wrap.key from another store is refused with a clear error", "[secrets]") {
  TempDir a;
  { open_new(a); }
  const std::string wrap_a = read_bytes(a.store() / "wrap.key");
  TempDir b;
  Store s = open_new(b);
  REQUIRE(s.set("tok", buf("value")));
  write_bytes(b.store() / "wrap.key", wrap_a);
  auto g = reopen(b).get("tok");
  REQUIRE_FALSE(g);
  CHECK_THAT(g.error().message, Catch::Contains("does not unlock"));
}

TEST_CASE("a secret file renamed to another name is detected, even with a valid header", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  REQUIRE(s.set("alpha", buf("value-a")));
  REQUIRE(s.set("beta", buf("value-b")));
  // Plain rename: the header names the other secret.
  fs::copy_file(t.store() / "alpha.secret", t.store() / "gamma.secret");
  auto g = s.get("gamma");
  REQUIRE_FALSE(g);
  CHECK_THAT(g.error().message, Catch::Contains("renamed"));
  // A forged header with a fresh checksum: the name sealed inside the box still says alpha.
  auto file = sbx::secrets::detail::decode_secret_file(read_bytes(t.store() / "alpha.secret"), "alpha.secret");
  REQUIRE(file);
  file->name = "beta";
  write_bytes(t.store() / "beta.secret", sbx::secrets::detail::encode_secret_file(*file));
  auto forged = s.get("beta");
  REQUIRE_FALSE(forged);
  CHECK_THAT(forged.error().message, Catch::Contains("belongs to secret 'alpha'"));
}

TEST_CASE("group- or world-accessible store files are refused with the chmod that fixes them", "[secrets]") {
  TempDir t;
  {
    Store s = open_new(t);
    REQUIRE(s.set("tok", buf("value")));
  }
  SECTION("a 0644 secret file") {
    const fs::path f = t.store() / "tok.secret";
    ::chmod(f.c_str(), 0644);
    auto g = reopen(t).get("tok");
    REQUIRE_FALSE(g);
    CHECK(g.error().code == ErrorCode::permission);
    CHECK_THAT(g.error().message, Catch::Contains("0644"));
    CHECK(g.error().hint == "run: chmod 600 " + f.string());
    auto l = reopen(t).list();
    REQUIRE(l);
    CHECK_THAT((*l)[0].problem, Catch::Contains("chmod 600"));
  }
  SECTION("a 0755 store directory") {
    ::chmod(t.store().c_str(), 0755);
    auto s = Store::open({.dir = t.store()});
    REQUIRE_FALSE(s);
    CHECK(s.error().code == ErrorCode::permission);
    CHECK(s.error().hint == "run: chmod 700 " + t.store().string());
  }
  SECTION("a 0640 store.key and a 0604 wrap.key") {
    for (const char* name : {"store.key", "wrap.key"}) {
      const fs::path f = t.store() / name;
      ::chmod(f.c_str(), std::string(name) == "store.key" ? 0640 : 0604);
      auto s = Store::open({.dir = t.store()});
      REQUIRE_FALSE(s);
      CHECK(s.error().code == ErrorCode::permission);
      CHECK(s.error().hint == "run: chmod 600 " + f.string());
      ::chmod(f.c_str(), 0600);
    }
  }
  SECTION("a secret file that is a symbolic link") {
    fs::rename(t.store() / "tok.secret", t.path() / "elsewhere");
    fs::create_symlink(t.path() / "elsewhere", t.store() / "tok.secret");
    auto g = reopen(t).get("tok");
    REQUIRE_FALSE(g);
    CHECK(g.error().code == ErrorCode::permission);
    CHECK_THAT(g.error().message, Catch::Contains("symbolic link"));
  }
  SECTION("a file owned by someone else") {
    if (::geteuid() != 0) {
      WARN("not root: cannot chown a file to another user here");
      return;
    }
    const fs::path f = t.store() / "tok.secret";
    REQUIRE(::chown(f.c_str(), 65534, 65534) == 0);
    auto g = reopen(t).get("tok");
    REQUIRE_FALSE(g);
    CHECK(g.error().code == ErrorCode::permission);
    CHECK_THAT(g.error().message, Catch::Contains("owned by uid 65534"));
    CHECK_THAT(g.error().hint, Catch::Contains("chown"));
  }
}

TEST_CASE("a lost store.key is not silently replaced while secrets sealed to it remain", "[secrets]") {
  TempDir t;
  {
    Store s = open_new(t);
    REQUIRE(s.set("tok", buf("value")));
  }
  fs::remove(t.store() / "store.key");
  auto s = Store::open({.dir = t.store(), .create = true});
  REQUIRE_FALSE(s);
  CHECK(s.error().code == ErrorCode::conflict);
  CHECK_THAT(s.error().message, Catch::Contains("store.key is missing"));
  CHECK_THAT(s.error().hint, Catch::Contains("backup"));
  CHECK_FALSE(fs::exists(t.store() / "store.key"));
}

TEST_CASE("temp files left by a crashed writer are ignored and cleaned up", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  write_bytes(t.store() / ".tmp-tok.secret-123-abcd", "half-written");
  ::chmod((t.store() / ".tmp-tok.secret-123-abcd").c_str(), 0600);
  CHECK(s.list()->empty());
  REQUIRE(s.set("tok", buf("value")));
  CHECK_FALSE(fs::exists(t.store() / ".tmp-tok.secret-123-abcd"));
}

TEST_CASE("a value sealed to one store's public key imports only into that store", "[secrets]") {
  TempDir mine;
  Store owner = open_new(mine);
  TempDir other;
  Store stranger = open_new(other);
  auto box = sbx::secrets::seal_for(*sbx::secrets::decode_public_key(owner.public_key_base64()), "NPM_TOKEN", buf("npm_xyz"));
  REQUIRE(box);
  auto wrong_store = stranger.import_sealed("NPM_TOKEN", *box);
  REQUIRE_FALSE(wrong_store);
  CHECK_THAT(wrong_store.error().message, Catch::Contains("does not open with this store's key"));
  auto renamed = owner.import_sealed("OTHER", *box);
  REQUIRE_FALSE(renamed);
  CHECK_THAT(renamed.error().message, Catch::Contains("belongs to secret 'NPM_TOKEN'"));
  CHECK(owner.list()->empty());
  REQUIRE(owner.import_sealed("NPM_TOKEN", *box));
  CHECK(get_value(reopen(mine), "NPM_TOKEN") == "npm_xyz");
}

TEST_CASE("empty, oversized and badly named values are refused", "[secrets]") {
  TempDir t;
  Store s = open_new(t);
  CHECK(s.set("tok", SecretBuffer()).error().code == ErrorCode::invalid);
  CHECK(s.set("tok", *SecretBuffer::allocate((1 << 20) + 1)).error().code == ErrorCode::invalid);
  CHECK(s.set("../x", buf("v")).error().code == ErrorCode::invalid);
  CHECK(s.list()->empty());
  CHECK_FALSE(sbx::secrets::decode_public_key("not-a-key"));
  CHECK_FALSE(sbx::secrets::decode_public_key(std::string(44, 'A') + "="));
}

TEST_CASE("Argon2id presets map to libsodium's limits", "[secrets]") {
  CHECK(KdfLimits::preset("moderate")->memlimit == crypto_pwhash_MEMLIMIT_MODERATE);
  CHECK(KdfLimits::preset("interactive")->opslimit == crypto_pwhash_OPSLIMIT_INTERACTIVE);
  CHECK_FALSE(KdfLimits::preset("fast"));
}
