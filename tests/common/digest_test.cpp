#include <catch2/catch.hpp>

#include "common/digest.h"

TEST_CASE("sha256 matches the FIPS 180-2 test vector", "[common]") {
  CHECK(sbx::digest::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sbx::digest::sha256("") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("incremental hashing equals one-shot hashing", "[common]") {
  sbx::digest::Sha256 h;
  h.update("a");
  h.update("bc");
  CHECK(h.hex() == sbx::digest::sha256_hex("abc"));
}
