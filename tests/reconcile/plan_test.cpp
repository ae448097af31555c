#include <catch2/catch.hpp>

#include "reconcile/plan.h"

using namespace sbx::reconcile;
using sbx::supervisor::Phase;

TEST_CASE("a sandbox that never ran is created", "[reconcile]") {
  const Plan p = plan("sha256:a", Recorded{});
  CHECK(p.action == Action::create);
  CHECK(std::string(action_name(p.action)) == "create");
}

TEST_CASE("a live sandbox with the same digest is left alone", "[reconcile]") {
  const Plan p = plan("sha256:a", Recorded{.exists = true, .running = true, .phase = Phase::ready, .digest = "sha256:a"});
  CHECK(p.action == Action::nothing);
}

TEST_CASE("a live sandbox with another digest is recreated", "[reconcile]") {
  const Plan p = plan("sha256:b", Recorded{.exists = true, .running = true, .phase = Phase::ready, .digest = "sha256:a"});
  CHECK(p.action == Action::recreate);
  CHECK(p.reason.find("changed") != std::string::npos);
}

TEST_CASE("a crashed, stopped or orphaned sandbox is created afresh whatever its digest", "[reconcile]") {
  const Plan crashed = plan("sha256:a", Recorded{.exists = true, .running = false, .phase = Phase::crashed,
                                                 .digest = "sha256:a", .error = "the guest kernel panicked"});
  CHECK(crashed.action == Action::create);
  CHECK(crashed.reason.find("panicked") != std::string::npos);
  CHECK(plan("sha256:a", Recorded{.exists = true, .running = false, .phase = Phase::stopped, .digest = "sha256:a"}).action ==
        Action::create);
  const Plan orphan = plan("sha256:a", Recorded{.exists = true, .running = false, .phase = Phase::ready, .digest = "sha256:a"});
  CHECK(orphan.action == Action::create);
  CHECK(orphan.reason.find("supervisor is gone") != std::string::npos);
}

TEST_CASE("a sandbox caught stopping is recreated", "[reconcile]") {
  CHECK(plan("sha256:a", Recorded{.exists = true, .running = true, .phase = Phase::stopping, .digest = "sha256:a"}).action ==
        Action::recreate);
}
