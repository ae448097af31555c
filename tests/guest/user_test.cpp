#include <catch2/catch.hpp>

#include <string>

#include "guest/protocol/user.h"

namespace p = sbx::guest::protocol;

// The rule is constexpr: the guest agent may check users where no allocation is wanted.
static_assert(p::valid_user_spec("agent") && !p::valid_user_spec("Root"));

TEST_CASE("a user is a name, a uid, name:group or uid:gid", "[guest][user]") {
  for (const char* ok : {"agent", "root", "_svc", "dev-1", "a", "node", "1000", "0", "1000:1000", "www-data:www-data",
                         "app.user", "_svc:0", "agent:1000"})
    CHECK(p::valid_user_spec(ok));
}

TEST_CASE("a user with upper case, punctuation, a path, two colons or an empty part is refused", "[guest][user][security]") {
  for (const char* bad : {"", "Root", "1user", "-x", ".x", "name;rm", "../x", "a b", "a:b:c", "1000:", ":1000", ":",
                          "12345678901", "agent\n", "ag\xc3\xa9nt"})
    CHECK_FALSE(p::valid_user_spec(bad));
}

TEST_CASE("a user name is at most 32 bytes and an id at most 10 digits", "[guest][user]") {
  CHECK(p::valid_user_part(std::string(32, 'a')));
  CHECK_FALSE(p::valid_user_part(std::string(33, 'a')));
  CHECK(p::valid_user_part("1234567890"));
  CHECK_FALSE(p::valid_user_part("12345678901"));
  CHECK(p::valid_user_spec(std::string(32, 'a') + ":" + std::string(32, 'b')));
  CHECK_FALSE(p::valid_user_spec(std::string(32, 'a') + ":" + std::string(33, 'b')));
}
