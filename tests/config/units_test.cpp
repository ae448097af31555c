#include <catch2/catch.hpp>

#include "config/units.h"

using sbx::config::format_size;
using sbx::config::parse_size;

TEST_CASE("binary size units are powers of 1024", "[config][units]") {
  CHECK(*parse_size("512MiB") == 512ull * 1024 * 1024);
  CHECK(*parse_size("2GiB") == 2ull * 1024 * 1024 * 1024);
  CHECK(*parse_size("4KiB") == 4096);
  CHECK(*parse_size("1TiB") == 1ull << 40);
  CHECK(*parse_size("3 mib") == 3ull * 1024 * 1024);
}

TEST_CASE("decimal size units are powers of 1000", "[config][units]") {
  CHECK(*parse_size("1G") == 1000000000ull);
  CHECK(*parse_size("1GB") == 1000000000ull);
  CHECK(*parse_size("5M") == 5000000ull);
  CHECK(*parse_size("7k") == 7000ull);
  CHECK(*parse_size("2T") == 2000000000000ull);
  CHECK(*parse_size("123B") == 123ull);
}

TEST_CASE("sizes without a number, with a fraction or with an unknown unit are rejected", "[config][units]") {
  CHECK_FALSE(parse_size("").has_value());
  CHECK_FALSE(parse_size("MiB").has_value());
  CHECK_FALSE(parse_size("512").has_value());
  CHECK_FALSE(parse_size("1.5GiB").has_value());
  CHECK(parse_size("1.5GiB").error().message == "sizes are whole numbers");
  CHECK_FALSE(parse_size("5XB").has_value());
  CHECK_FALSE(parse_size("5  MiB").has_value());
  CHECK_FALSE(parse_size("-5MiB").has_value());
}

TEST_CASE("sizes that overflow 64 bits are rejected rather than wrapped", "[config][units]") {
  CHECK_FALSE(parse_size("18446744073709551616B").has_value());
  CHECK_FALSE(parse_size("17179869184GiB").has_value());  // 2^34 GiB = 2^64 bytes
  CHECK(*parse_size("18446744073709551615B") == 18446744073709551615ull);
}

TEST_CASE("format_size prints the largest exact binary unit", "[config][units]") {
  CHECK(format_size(512ull * 1024 * 1024) == "512MiB");
  CHECK(format_size(2ull << 30) == "2GiB");
  CHECK(format_size(1536ull * 1024 * 1024) == "1536MiB");
  CHECK(format_size(1000) == "1000B");
  CHECK(format_size(4000000000ull) == "3906250KiB");
}
