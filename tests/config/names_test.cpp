#include <catch2/catch.hpp>

#include <string>

#include "config/names.h"

using namespace sbx::config;

TEST_CASE("environment variable names are letters, digits and '_', not starting with a digit", "[config][names]") {
  for (const char* ok : {"PATH", "_x", "lower_Case9", "A"}) CHECK(is_env_name(ok));
  for (const char* bad : {"", "9LIVES", "WITH-DASH", "A=B", "SP ACE", "DOT.TED"}) CHECK_FALSE(is_env_name(bad));
  CHECK(is_env_name(std::string(128, 'A')));
  CHECK_FALSE(is_env_name(std::string(129, 'A')));
}

TEST_CASE("the proxy variables and SBX_ are reserved for sbx in any case", "[config][names][security]") {
  for (const char* reserved : {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                               "no_proxy", "all_proxy", "SBX_", "SBX_AGENT", "Http_Proxy", "hTTPS_pROXY", "No_Proxy",
                               "All_proxy", "sbx_agent", "Sbx_X"})
    CHECK(is_reserved_env_name(reserved));
  for (const char* free : {"PROXY", "HTTP_PROXY_X", "MY_SBX_", "LANG"}) CHECK_FALSE(is_reserved_env_name(free));
}

TEST_CASE("secret names are the store's alphabet, not starting with '.' or '-'", "[config][names]") {
  for (const char* ok : {"github-token", "_ok.name-1", "A.B", "9x"}) CHECK(is_secret_name(ok));
  for (const char* bad : {"", ".hidden", "-flag", "a/b", "a b", "a\nb"}) CHECK_FALSE(is_secret_name(bad));
  CHECK(is_secret_name(std::string(128, 'a')));
  CHECK_FALSE(is_secret_name(std::string(129, 'a')));
}

TEST_CASE("sandbox names are sanitised from directory names and checked", "[config][names]") {
  CHECK(sanitise_name("My_Project 2") == "my-project-2");
  CHECK(sanitise_name("---") == "sandbox");
  CHECK(sanitise_name(std::string(100, 'a')).size() == 63);
  CHECK(valid_name("web-1"));
  for (const char* bad : {"", "-web", "web-", "Web", "w_b"}) CHECK_FALSE(valid_name(bad));
  CHECK_FALSE(valid_name(std::string(64, 'a')));
}
