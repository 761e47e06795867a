// The sink's rules for one job with fake time and no sockets.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "framepipe/sink/job_tracker.hpp"

using framepipe::sink::JobTracker;
using framepipe::sink::Verdict;

namespace {

std::vector<int> drain(JobTracker<int>& tracker) {
  std::vector<int> out;
  while (auto item = tracker.next()) out.push_back(*item);
  return out;
}

}  // namespace

TEST_CASE("results are encoded in order whatever order they arrive in", "[sink]") {
  std::vector<int> order(300);
  for (int i = 0; i < 300; ++i) order[i] = i;
  std::mt19937 random(11);
  for (int round = 0; round < 10; ++round) {
    std::shuffle(order.begin(), order.end(), random);
    JobTracker<int> tracker(512, 0);
    tracker.set_total(300);
    std::vector<int> out;
    for (int index : order) {
      REQUIRE(tracker.offer(index, index) == Verdict::accepted);
      for (int item : drain(tracker)) out.push_back(item);
    }
    REQUIRE(out.size() == 300);
    for (int i = 0; i < 300; ++i) REQUIRE(out[i] == i);
    CHECK(tracker.complete());
  }
}

TEST_CASE("a result sent twice is encoded once", "[sink]") {
  JobTracker<int> tracker(8, 0);
  CHECK(tracker.offer(1, 1) == Verdict::accepted);
  CHECK(tracker.offer(1, 1) == Verdict::duplicate);  // still waiting for frame 0
  CHECK(tracker.offer(0, 0) == Verdict::accepted);
  CHECK(drain(tracker) == std::vector<int>{0, 1});
  CHECK(tracker.is_duplicate(0));
  CHECK_FALSE(tracker.is_duplicate(2));
  CHECK(tracker.offer(0, 0) == Verdict::duplicate);  // already encoded
  CHECK(tracker.duplicates() == 2);
}

TEST_CASE("results that do not belong to the job are refused", "[sink]") {
  JobTracker<int> tracker(4, 0);
  CHECK(tracker.offer(-1, 0) == Verdict::out_of_range);
  CHECK(tracker.offer(4, 0) == Verdict::too_far_ahead);  // the window never sends that far
  tracker.set_total(3);
  CHECK(tracker.offer(3, 0) == Verdict::out_of_range);  // past the last frame
  CHECK(tracker.offer(2, 0) == Verdict::accepted);
}

TEST_CASE("the job is complete only when every counted frame is encoded", "[sink]") {
  JobTracker<int> tracker(8, 0);
  tracker.offer(0, 0);
  tracker.offer(1, 1);
  drain(tracker);
  CHECK_FALSE(tracker.complete());  // the ventilator has not counted the frames yet
  CHECK(tracker.set_total(3));
  CHECK_FALSE(tracker.set_total(2));  // the first count stands
  CHECK(tracker.total() == 3);
  CHECK_FALSE(tracker.complete());
  tracker.offer(2, 2);
  drain(tracker);
  CHECK(tracker.complete());
}

TEST_CASE("a negative frame count is refused", "[sink]") {
  JobTracker<int> tracker(8, 0);
  CHECK_FALSE(tracker.set_total(-1));
  CHECK(tracker.total() == -1);
  CHECK_FALSE(tracker.complete());
}

TEST_CASE("a job of no frames is complete at once", "[sink]") {
  JobTracker<int> tracker(8, 0);
  CHECK(tracker.set_total(0));
  CHECK(tracker.complete());
}

TEST_CASE("the ventilator never hears a frame done while its shared buffer is read", "[sink]") {
  JobTracker<int> tracker(8, 0);
  for (int i = 0; i < 4; ++i) tracker.offer(i, i);
  drain(tracker);
  tracker.hold(2);
  CHECK(tracker.frames_done() == 2);
  CHECK(tracker.take_acknowledgement() == 2);
  CHECK_FALSE(tracker.take_acknowledgement());  // nothing new
  tracker.release(2);
  CHECK(tracker.take_acknowledgement() == 4);
}

TEST_CASE("a job the ventilator stops listing twice in a row is lost", "[sink]") {
  JobTracker<int> tracker(8, 0);
  CHECK_FALSE(tracker.lost_by_ventilator(false));
  CHECK_FALSE(tracker.lost_by_ventilator(true));  // listed again: the count starts over
  CHECK_FALSE(tracker.lost_by_ventilator(false));
  CHECK(tracker.lost_by_ventilator(false));
}

TEST_CASE("frames per second come from encoded frames over time", "[sink]") {
  JobTracker<int> tracker(64, 1000);
  for (int i = 0; i < 50; ++i) tracker.offer(i, i);
  drain(tracker);
  tracker.sample_fps(1500);  // too soon: no sample
  CHECK(tracker.fps() == 0);
  tracker.sample_fps(2000);
  CHECK(tracker.fps() == Approx(50));
  tracker.sample_fps(4000);  // nothing encoded for two seconds
  CHECK(tracker.fps() == Approx(25));
}
