#include <catch2/catch.hpp>

#include "framepipe/registry/registry.hpp"

using namespace framepipe;

TEST_CASE("workers join, heartbeat and are declared dead when silent", "[registry]") {
  registry::WorkerTable table(3000);
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, 0) ==
        registry::WorkerTable::Hello::joined);
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, 10) ==
        registry::WorkerTable::Hello::known);
  CHECK(table.hello(protocol::Hello{"b", "h", 2, 2, "v"}, 0) ==
        registry::WorkerTable::Hello::joined);
  protocol::WorkerStats stats;
  stats.frames_done = 42;
  CHECK(table.heartbeat(protocol::Heartbeat{"a", stats}, 2500));
  CHECK_FALSE(table.heartbeat(protocol::Heartbeat{"stranger", stats}, 2500));
  auto dead = table.expire(3500);
  CHECK(dead == std::vector<std::string>{"b"});
  auto list = table.list(3600);
  REQUIRE(list.workers.size() == 1);
  CHECK(list.workers[0].name == "a");
  CHECK(list.workers[0].stats.frames_done == 42);
  CHECK(list.workers[0].last_heartbeat_ms_ago == 1100);
  CHECK(list.dead == std::vector<std::string>{"b"});
  // A dead worker that comes back is live again and no longer listed as dead.
  table.hello(protocol::Hello{"b", "h", 2, 2, "v"}, 4000);
  CHECK(table.list(4000).dead.empty());
  CHECK(table.size() == 2);
}

TEST_CASE("a full table refuses new workers but keeps serving known ones", "[registry]") {
  registry::WorkerTable table(3000, 2);
  using Hello = registry::WorkerTable::Hello;
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, 0) == Hello::joined);
  CHECK(table.hello(protocol::Hello{"b", "h", 2, 2, "v"}, 0) == Hello::joined);
  CHECK(table.hello(protocol::Hello{"flood", "h", 3, 2, "v"}, 0) == Hello::full);
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, 10) == Hello::known);
  CHECK(table.size() == 2);
  // Room again once a worker has died.
  table.heartbeat(protocol::Heartbeat{"a", {}}, 2900);
  CHECK(table.expire(3500) == std::vector<std::string>{"b"});
  CHECK(table.hello(protocol::Hello{"c", "h", 4, 2, "v"}, 3600) == Hello::joined);
}
