#include <catch2/catch.hpp>

#include <sodium.h>

#include "secrets/blob.h"
#include "secrets/format.h"
#include "secrets/store.h"

using sbx::secrets::decode_blob;
using sbx::secrets::encode_blob;
using sbx::secrets::SealedBlob;

namespace {

// The base64 payload of a blob, decoded, and a way back.
std::string payload(const std::string& text) {
  const std::string b64 = text.substr(text.find(':') + 1, text.size() - text.find(':') - 2);
  std::string bin(b64.size(), '\0');
  std::size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), b64.data(), b64.size(), nullptr, &len,
                            nullptr, sodium_base64_VARIANT_ORIGINAL) == 0);
  bin.resize(len);
  return bin;
}

std::string armour(const std::string& bin) {
  std::string b64(sodium_base64_encoded_len(bin.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(bin.data()), bin.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  return "sbx-sealed-secret-v1:" + std::string(b64.c_str()) + "\n";
}

SealedBlob sample() {
  return SealedBlob{"NPM_TOKEN", std::string(32, 'k'), std::string(crypto_box_SEALBYTES + 20, 'b')};
}

}  // namespace

TEST_CASE("a sealed blob is one line of text that decodes to what was encoded", "[secrets]") {
  REQUIRE(sodium_init() >= 0);
  const std::string text = encode_blob(sample());
  CHECK(text.starts_with("sbx-sealed-secret-v1:"));
  CHECK(text.find('\n') == text.size() - 1);
  auto back = decode_blob("  " + text + "\n\n", "blob");
  REQUIRE(back);
  CHECK(back->name == "NPM_TOKEN");
  CHECK(back->recipient == std::string(32, 'k'));
  CHECK(back->box == sample().box);
}

TEST_CASE("flipping any bit of a blob's payload is detected", "[secrets]") {
  REQUIRE(sodium_init() >= 0);
  const std::string bin = payload(encode_blob(sample()));
  for (std::size_t i = 0; i < bin.size(); ++i) {
    INFO("byte " << i);
    std::string bad = bin;
    bad[i] = static_cast<char>(bad[i] ^ (1u << (i % 8)));
    auto r = decode_blob(armour(bad), "npm.sealed");
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::StartsWith("npm.sealed: "));
  }
  for (std::size_t n = 0; n < bin.size(); ++n) CHECK_FALSE(decode_blob(armour(bin.substr(0, n)), "b"));
}

TEST_CASE("text that is not a sealed blob is refused with a reason", "[secrets]") {
  CHECK_THAT(decode_blob("hello", "f").error().message, Catch::Contains("is not a sealed secret"));
  CHECK_THAT(decode_blob("sbx-sealed-secret-v1:!!!!", "f").error().message, Catch::Contains("base64"));
  CHECK_THAT(decode_blob("sbx-sealed-secret-v1:AAAA", "f").error().message, Catch::Contains("magic"));
}

TEST_CASE("a blob naming an unsafe secret name is refused before any key is used", "[secrets]") {
  REQUIRE(sodium_init() >= 0);
  SealedBlob b = sample();
  b.name = "../../etc/passwd";
  auto r = decode_blob(encode_blob(b), "b");
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("invalid secret"));
}
