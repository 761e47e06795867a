#include <catch2/catch.hpp>

#include "framepipe/registry/registry.hpp"

using namespace framepipe;
using Beat = registry::WorkerTable::Beat;

TEST_CASE("workers join, heartbeat and are declared dead when silent", "[registry]") {
  registry::WorkerTable table(3000);
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, "a", 0) ==
        registry::WorkerTable::Hello::joined);
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, "a", 10) ==
        registry::WorkerTable::Hello::known);
  CHECK(table.hello(protocol::Hello{"b", "h", 2, 2, "v"}, "b", 0) ==
        registry::WorkerTable::Hello::joined);
  protocol::WorkerStats stats;
  stats.frames_done = 42;
  CHECK(table.heartbeat(protocol::Heartbeat{"a", stats}, "a", 2500) == Beat::refreshed);
  CHECK(table.heartbeat(protocol::Heartbeat{"stranger", stats}, "stranger", 2500) == Beat::unknown);
  auto dead = table.expire(3500);
  CHECK(dead == std::vector<std::string>{"b"});
  auto list = table.list(3600);
  REQUIRE(list.workers.size() == 1);
  CHECK(list.workers[0].name == "a");
  CHECK(list.workers[0].stats.frames_done == 42);
  CHECK(list.workers[0].last_heartbeat_ms_ago == 1100);
  CHECK(list.dead == std::vector<std::string>{"b"});
  // A dead worker that comes back is live again and no longer listed as dead.
  table.hello(protocol::Hello{"b", "h", 2, 2, "v"}, "b", 4000);
  CHECK(table.list(4000).dead.empty());
  CHECK(table.size() == 2);
}

TEST_CASE("a full table refuses new workers but keeps serving known ones", "[registry]") {
  registry::WorkerTable table(3000, 2);
  using Hello = registry::WorkerTable::Hello;
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, "a", 0) == Hello::joined);
  CHECK(table.hello(protocol::Hello{"b", "h", 2, 2, "v"}, "b", 0) == Hello::joined);
  CHECK(table.hello(protocol::Hello{"flood", "h", 3, 2, "v"}, "flood", 0) == Hello::full);
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, "a", 10) == Hello::known);
  CHECK(table.size() == 2);
  // Room again once a worker has died.
  table.heartbeat(protocol::Heartbeat{"a", {}}, "a", 2900);
  CHECK(table.expire(3500) == std::vector<std::string>{"b"});
  CHECK(table.hello(protocol::Hello{"c", "h", 4, 2, "v"}, "c", 3600) == Hello::joined);
}

TEST_CASE("only the peer that said hello keeps a worker alive", "[registry]") {
  registry::WorkerTable table(3000);
  using Hello = registry::WorkerTable::Hello;
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, "a", 0) == Hello::joined);
  protocol::WorkerStats stats;
  stats.frames_done = 7;
  // Another peer names worker a: refused, and a is neither refreshed nor given its stats.
  CHECK(table.heartbeat(protocol::Heartbeat{"a", stats}, "evil", 2900) == Beat::foreign);
  CHECK(table.list(2900).workers.at(0).stats.frames_done == 0);
  CHECK(table.list(2900).workers.at(0).last_heartbeat_ms_ago == 2900);
  // Nor may it take the name over by saying hello.
  CHECK(table.hello(protocol::Hello{"a", "other", 9, 2, "v"}, "evil", 2900) == Hello::taken);
  CHECK(table.list(2900).workers.at(0).host == "h");
  CHECK(table.expire(3500) == std::vector<std::string>{"a"});
  // Once a is dead its name is free again.
  CHECK(table.hello(protocol::Hello{"a", "h", 1, 2, "v"}, "new", 3600) == Hello::joined);
  CHECK(table.heartbeat(protocol::Heartbeat{"a", stats}, "new", 3700) == Beat::refreshed);
}
