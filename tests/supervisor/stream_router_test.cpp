#include <catch2/catch.hpp>

#include "supervisor/stream_router.h"

using namespace sbx::supervisor;

TEST_CASE("each client stream gets its own odd guest stream id, never reused", "[supervisor]") {
  StreamRouter router;
  const auto a = router.open_for_client(1, 1, nullptr);
  const auto b = router.open_for_client(2, 1, nullptr);  // the same client id on another client
  const auto c = router.open_for_client(1, 3, nullptr);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  CHECK(*a % 2 == 1);
  CHECK(*b % 2 == 1);
  CHECK(*c % 2 == 1);
  CHECK(*a != *b);
  CHECK(*b != *c);
  CHECK(router.guest_stream(1, 1) == a);
  CHECK(router.guest_stream(2, 1) == b);
  CHECK(router.guest_stream(1, 3) == c);
  CHECK_FALSE(router.guest_stream(3, 1));
  auto it = router.find(*b);
  REQUIRE(it != router.end());
  CHECK(it->second.owner == RouteOwner::client);
  CHECK(it->second.conn == 2);
  CHECK(it->second.client_stream == 1);
  router.erase(*a);
  const auto d = router.open_for_client(1, 1, nullptr);
  REQUIRE(d);
  CHECK(*d != *a);
  CHECK(*d > *c);
}

TEST_CASE("a client cannot open two streams on one id", "[supervisor]") {
  StreamRouter router;
  REQUIRE(router.open_for_client(1, 5, nullptr));
  RouteRefusal why{};
  CHECK_FALSE(router.open_for_client(1, 5, &why));
  CHECK(why == RouteRefusal::id_in_use);
  CHECK(router.size() == 1);
}

TEST_CASE("routes past the budget are refused, log streams included", "[supervisor][security]") {
  StreamRouter router(3);
  REQUIRE(router.open_guest_log(2, 100));
  REQUIRE(router.open_for_client(1, 1, nullptr));
  REQUIRE(router.open_for_client(1, 3, nullptr));
  RouteRefusal why{};
  CHECK_FALSE(router.open_for_client(1, 5, &why));
  CHECK(why == RouteRefusal::over_budget);
  CHECK_FALSE(router.open_guest_log(4, 100));
  CHECK(router.size() == 3);
  CHECK(router.log_streams() == 1);
  router.erase(2);
  CHECK(router.log_streams() == 0);
  CHECK(router.open_for_client(1, 5, nullptr));
}

TEST_CASE("a client that goes away takes its routes with it, and no one else's", "[supervisor][security]") {
  StreamRouter router;
  const auto mine1 = *router.open_for_client(1, 1, nullptr);
  const auto mine2 = *router.open_for_client(1, 3, nullptr);
  const auto theirs = *router.open_for_client(2, 1, nullptr);
  REQUIRE(router.open_guest_log(2, 64));
  router.find(mine2)->second.host_closed = true;
  const auto to_close = router.drop_client(1);
  CHECK(to_close == std::vector<std::uint32_t>{mine1});  // mine2 was closed already
  CHECK_FALSE(router.contains(mine1));
  CHECK_FALSE(router.contains(mine2));
  CHECK(router.contains(theirs));
  CHECK(router.contains(2));
  CHECK(router.log_streams() == 1);
  CHECK(router.drop_client(1).empty());
}

TEST_CASE("a guest log stream is routed to the log with its window", "[supervisor]") {
  StreamRouter router;
  REQUIRE(router.open_guest_log(8, 4096));
  auto it = router.find(8);
  REQUIRE(it != router.end());
  CHECK(it->second.owner == RouteOwner::guest_log);
  CHECK(it->second.credit == 4096);
  CHECK_FALSE(router.guest_stream(0, 0));  // a log route is no client's stream
  router.erase(it);
  CHECK(router.size() == 0);
  CHECK(router.log_streams() == 0);
}
