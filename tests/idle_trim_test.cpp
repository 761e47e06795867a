#include <catch2/catch.hpp>

#include "framepipe/protocol/idle_trim.hpp"

using framepipe::protocol::IdleTrim;

// Passes of a loop every `step_ms` from `from_ms` to `to_ms` (inclusive), all idle: how many said
// the heap is due for a trim, and the time of the first that did (-1 when none did).
namespace {

struct Passes {
  int due = 0;
  int64_t first_due_ms = -1;
};

Passes idle_passes(IdleTrim& trim, int64_t from_ms, int64_t to_ms, int64_t step_ms = 50) {
  Passes passes;
  for (int64_t now = from_ms; now <= to_ms; now += step_ms) {
    if (!trim.due(false, now)) continue;
    if (passes.due++ == 0) passes.first_due_ms = now;
  }
  return passes;
}

}  // namespace

TEST_CASE("a role that has never had a job never trims", "[protocol]") {
  IdleTrim trim(1500);
  CHECK(idle_passes(trim, 0, 60'000).due == 0);
}

TEST_CASE("the heap is trimmed once, the quiet time after the last job ends", "[protocol]") {
  IdleTrim trim(1500);
  for (int64_t now = 0; now <= 10'000; now += 50) CHECK_FALSE(trim.due(true, now));
  const Passes passes = idle_passes(trim, 10'050, 70'000);
  CHECK(passes.due == 1);
  CHECK(passes.first_due_ms == 10'050 + 1500);
}

TEST_CASE("a job that starts before the quiet time is over puts the trim off", "[protocol]") {
  IdleTrim trim(1500);
  CHECK_FALSE(trim.due(true, 0));
  CHECK(idle_passes(trim, 50, 1000).due == 0);  // jobs one after the other: no trim between
  CHECK_FALSE(trim.due(true, 1050));
  CHECK(idle_passes(trim, 1100, 2550).due == 0);  // the quiet time starts again at 1100
  CHECK(trim.due(false, 2600));
}

TEST_CASE("every idle period after work trims once", "[protocol]") {
  IdleTrim trim(1000);
  for (int burst = 0; burst < 3; ++burst) {
    const int64_t start = burst * 100'000;
    CHECK_FALSE(trim.due(true, start));
    const Passes passes = idle_passes(trim, start + 10, start + 50'000, 10);
    CHECK(passes.due == 1);
    CHECK(passes.first_due_ms == start + 1010);
  }
}

TEST_CASE("a late pass after a long stall trims at once", "[protocol]") {
  IdleTrim trim(1500);
  CHECK_FALSE(trim.due(true, 0));
  CHECK_FALSE(trim.due(false, 100));  // the idle period starts here
  CHECK(trim.due(false, 30'000));     // the loop was held up (a slow poll): due now
  CHECK_FALSE(trim.due(false, 30'050));
}
