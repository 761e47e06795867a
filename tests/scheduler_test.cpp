// The ventilator's scheduling rules with fake time and no sockets.
#include <catch2/catch.hpp>

#include <set>

#include "framepipe/ventilator/scheduler.hpp"

using framepipe::ventilator::Assignment;
using framepipe::ventilator::Scheduler;
using framepipe::ventilator::SchedulerSettings;
using framepipe::ventilator::WorkerReport;

namespace {

constexpr int64_t kFloor = 1000;

Scheduler make_scheduler(int64_t window = 8) {
  return Scheduler(SchedulerSettings{window, kFloor, 4});
}

WorkerReport asks(int credit) {
  WorkerReport report;
  report.credit = credit;
  return report;
}

WorkerReport filtered(const std::string& job, int64_t index, int credit = 1) {
  WorkerReport report;
  report.job_id = job;
  report.index = index;
  report.credit = credit;
  return report;
}

// A sign of progress while it transcodes a segment: no credit.
WorkerReport progressing(const std::string& job, int64_t index) {
  WorkerReport report;
  report.job_id = job;
  report.index = index;
  report.progress = true;
  return report;
}

// The indices dealt to `worker`, in order.
std::vector<int64_t> dealt_to(const std::vector<Assignment>& dealt, const std::string& worker) {
  std::vector<int64_t> out;
  for (const auto& assignment : dealt) {
    if (assignment.worker == worker) out.push_back(assignment.index);
  }
  return out;
}

WorkerReport idle(int credit) {
  WorkerReport report = asks(credit);
  report.idle = true;
  return report;
}

void decode(Scheduler& scheduler, const std::string& job, int frames) {
  for (int i = 0; i < frames; ++i) scheduler.add_frame(job);
}

// Assigns and sends as long as there are credit and frames; returns what went where.
std::vector<Assignment> deal(Scheduler& scheduler, const std::string& job, int64_t now) {
  std::vector<Assignment> dealt;
  while (auto assignment = scheduler.assign(job)) {
    scheduler.sent(*assignment, now);
    dealt.push_back(*assignment);
  }
  return dealt;
}

std::multiset<int64_t> indices(const std::vector<Assignment>& dealt) {
  std::multiset<int64_t> result;
  for (const auto& assignment : dealt) result.insert(assignment.index);
  return result;
}

}  // namespace

TEST_CASE("a worker gets no more frames than it asked for, oldest credit first", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 6);
  CHECK_FALSE(scheduler.assign("j"));  // nobody asked
  scheduler.on_ready("a", asks(2), 0);
  scheduler.on_ready("b", asks(1), 0);
  const auto dealt = deal(scheduler, "j", 0);
  REQUIRE(dealt.size() == 3);
  CHECK(dealt[0].worker == "a");
  CHECK(dealt[1].worker == "a");
  CHECK(dealt[2].worker == "b");
  CHECK(dealt[0].index == 0);
  CHECK(dealt[2].index == 2);
  CHECK(scheduler.credit("a") == 0);
  CHECK_FALSE(scheduler.has_credit());
}

TEST_CASE("credit is capped whatever a worker asks", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.on_ready("greedy", asks(1000), 0);
  CHECK(scheduler.credit("greedy") == 4);
  scheduler.on_ready("greedy", asks(3), 0);
  CHECK(scheduler.credit("greedy") == 4);
  scheduler.on_ready("greedy", asks(-5), 0);
  CHECK(scheduler.credit("greedy") == 4);
}

TEST_CASE("an unused credit stays with its worker when there is nothing to send", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  scheduler.on_ready("a", asks(1), 0);
  CHECK_FALSE(scheduler.assign("j"));
  CHECK(scheduler.credit("a") == 1);
  decode(scheduler, "j", 1);
  auto assignment = scheduler.assign("j");
  REQUIRE(assignment);
  CHECK(assignment->worker == "a");
}

TEST_CASE("a dead worker's frames and unacknowledged results go again", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 4);
  scheduler.on_ready("a", asks(3), 0);
  scheduler.on_ready("b", asks(1), 0);
  deal(scheduler, "j", 0);                           // a: 0 1 2, b: 3
  scheduler.on_ready("a", filtered("j", 0, 0), 10);  // 0's result is on its way to the sink
  scheduler.acknowledge("j", 0, 10);
  CHECK(scheduler.drop_worker("a") == 3);  // 1 and 2 held, 0 reported but not acknowledged
  CHECK(scheduler.drop_worker("a") == -1);
  CHECK(scheduler.workers() == 1);
  CHECK(scheduler.frames_resent() == 3);
  scheduler.on_ready("b", filtered("j", 3, 3), 20);
  CHECK(indices(deal(scheduler, "j", 20)) == std::multiset<int64_t>{0, 1, 2});
}

TEST_CASE("results the sink acknowledged do not go again when their worker dies", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 2);
  scheduler.on_ready("a", asks(2), 0);
  deal(scheduler, "j", 0);
  scheduler.on_ready("a", filtered("j", 0, 0), 5);
  scheduler.on_ready("a", filtered("j", 1, 0), 5);
  CHECK(scheduler.acknowledge("j", 2, 6) == 2);
  CHECK(scheduler.drop_worker("a") == 0);
  CHECK_FALSE(scheduler.window("j").has_to_send());
}

TEST_CASE("an idle worker that should hold frames gets them again", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 3);
  scheduler.on_ready("a", asks(2), 0);
  deal(scheduler, "j", 0);  // 0 and 1 at a
  // a restarted (or the frames were lost): it says it holds nothing and asks afresh.
  const auto outcome = scheduler.on_ready("a", idle(2), 100);
  CHECK(outcome.taken_back == 2);
  CHECK(scheduler.credit("a") == 2);  // not 2 + leftovers
  CHECK(indices(deal(scheduler, "j", 100)) == std::multiset<int64_t>{0, 1});
  CHECK(scheduler.credit("a") == 0);
}

TEST_CASE("an idle worker's old credit is not counted twice", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  scheduler.on_ready("a", asks(2), 0);
  scheduler.on_ready("a", idle(2), 10);
  decode(scheduler, "j", 8);
  CHECK(deal(scheduler, "j", 10).size() == 2);
}

TEST_CASE("a worker cannot report a frame another worker holds", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 1);
  scheduler.on_ready("a", asks(1), 0);
  deal(scheduler, "j", 0);
  scheduler.on_ready("liar", filtered("j", 0, 0), 5);
  CHECK(scheduler.drop_worker("a") == 1);  // still a's, so it goes again when a dies
}

TEST_CASE("a frame held past the deadline goes to another worker", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 2);
  scheduler.on_ready("frozen", asks(1), 0);
  scheduler.on_ready("b", asks(1), 0);
  deal(scheduler, "j", 0);
  scheduler.on_ready("b", filtered("j", 1, 0), 50);
  CHECK(scheduler.check_deadlines(kFloor).empty());  // not past it yet
  const auto late = scheduler.check_deadlines(kFloor + 1);
  REQUIRE(late.size() == 1);
  CHECK(late[0].index == 0);
  CHECK(late[0].worker == "frozen");
  CHECK_FALSE(late[0].reported);
  scheduler.on_ready("b", asks(1), kFloor + 2);
  auto again = scheduler.assign("j");
  REQUIRE(again);
  CHECK(again->index == 0);
  CHECK(again->worker == "b");
}

TEST_CASE("the deadline follows measured round trips and filter times, above its floor",
          "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  CHECK(scheduler.deadline_ms() == kFloor);
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 1);
  scheduler.on_ready("slow", asks(1), 0);
  deal(scheduler, "j", 0);
  WorkerReport report = filtered("j", 0, 0);
  report.filter_us = 400'000;  // 400 ms a frame
  scheduler.on_ready("slow", report, 500);
  CHECK(scheduler.round_trip_ms() == 500);
  CHECK(scheduler.deadline_ms() == 20 * 400);
}

TEST_CASE("a result that never reached the sink goes again once the job stalls", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 2);
  scheduler.on_ready("a", asks(2), 0);
  deal(scheduler, "j", 0);
  scheduler.on_ready("a", filtered("j", 0, 0), 10);  // its result is lost on the way
  scheduler.on_ready("a", filtered("j", 1, 0), 10);
  CHECK(scheduler.check_deadlines(10 + kFloor).empty());
  const auto late = scheduler.check_deadlines(11 + kFloor);
  REQUIRE(late.size() == 1);  // only the frame the sink waits for, not the one behind it
  CHECK(late[0].index == 0);
  CHECK(late[0].reported);
}

TEST_CASE("a job whose sink is moving is not re-sent for an old report", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 3);
  scheduler.on_ready("a", asks(3), 0);
  deal(scheduler, "j", 0);
  scheduler.on_ready("a", filtered("j", 1, 0), 10);
  scheduler.on_ready("a", filtered("j", 0, 0), 2000);
  scheduler.acknowledge("j", 1, 2000);                 // the sink moved on recently
  CHECK(scheduler.check_deadlines(2500).size() == 1);  // frame 2, held by a since 0
}

TEST_CASE("the window bounds decoding and only the sink frees it", "[scheduler]") {
  Scheduler scheduler = make_scheduler(3);
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 3);
  CHECK_FALSE(scheduler.window("j").has_room());
  scheduler.on_ready("a", asks(3), 0);
  deal(scheduler, "j", 0);
  for (int64_t i = 0; i < 3; ++i) scheduler.on_ready("a", filtered("j", i, 0), 1);
  CHECK_FALSE(scheduler.window("j").has_room());   // filtered is not encoded
  CHECK(scheduler.acknowledge("j", 100, 2) == 3);  // not beyond what was decoded
  CHECK(scheduler.window("j").done() == 3);
  CHECK(scheduler.window("j").has_room());
  CHECK(scheduler.acknowledge("j", 2, 3) == 0);  // never backwards
}

TEST_CASE("a sink restart starts the job again from its first frame", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 4);
  scheduler.on_ready("a", asks(2), 0);
  deal(scheduler, "j", 0);
  scheduler.acknowledge("j", 1, 5);
  scheduler.start_job("j", 10);
  CHECK(scheduler.window("j").decoded() == 0);
  CHECK(scheduler.window("j").done() == 0);
  CHECK(scheduler.check_deadlines(10 * kFloor).empty());  // nothing of the old run is tracked
  CHECK(scheduler.add_frame("j") == 0);
}

TEST_CASE("frames go again when the sink stops reading shared memory", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 4);
  while (scheduler.next_direct("j")) {
  }
  scheduler.acknowledge("j", 1, 1);
  scheduler.resend_window("j");
  std::vector<int64_t> again;
  while (auto index = scheduler.next_direct("j")) again.push_back(*index);
  CHECK(again == std::vector<int64_t>{1, 2, 3});
}

TEST_CASE("a worker that stops reading by reference gets its frames again", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 2);
  WorkerReport sharing = asks(2);
  sharing.reads_shared = true;
  CHECK(scheduler.on_ready("a", sharing, 0).sharing_changed);
  const auto dealt = deal(scheduler, "j", 0);
  REQUIRE(dealt.size() == 2);
  CHECK(dealt[0].by_reference);
  const auto outcome = scheduler.on_ready("a", asks(1), 5);
  CHECK(outcome.sharing_changed);
  CHECK(outcome.taken_back == 2);
  auto again = scheduler.assign("j");
  REQUIRE(again);
  CHECK_FALSE(again->by_reference);
}

TEST_CASE("an unreachable worker is dropped and its frame goes again", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("j", 0);
  decode(scheduler, "j", 2);
  scheduler.on_ready("gone", asks(1), 0);
  scheduler.on_ready("b", asks(1), 0);
  auto assignment = scheduler.assign("j");
  REQUIRE(assignment);
  CHECK(assignment->worker == "gone");
  CHECK(scheduler.unreachable(*assignment) == 0);
  CHECK(scheduler.workers() == 1);
  const auto dealt = deal(scheduler, "j", 1);
  REQUIRE(dealt.size() == 1);
  CHECK(dealt[0].worker == "b");
  CHECK(dealt[0].index == 0);
}

TEST_CASE("jobs are independent and an ended job is forgotten", "[scheduler]") {
  Scheduler scheduler = make_scheduler();
  scheduler.start_job("x", 0);
  scheduler.start_job("y", 0);
  decode(scheduler, "x", 1);
  decode(scheduler, "y", 1);
  scheduler.on_ready("a", asks(2), 0);
  CHECK(deal(scheduler, "x", 0).size() == 1);
  CHECK(deal(scheduler, "y", 0).size() == 1);
  scheduler.end_job("x");
  CHECK_FALSE(scheduler.has_job("x"));
  CHECK(scheduler.drop_worker("a") == 1);  // only y's frame is left to send again
  CHECK(scheduler.window("y").pending_sends() == 1);
}

TEST_CASE("a segmented job has its own window beside a frame job's", "[scheduler]") {
  Scheduler scheduler = make_scheduler(8);
  scheduler.start_job("frames", 0);
  scheduler.start_job("segments", 0, 2);
  decode(scheduler, "segments", 2);
  CHECK_FALSE(scheduler.window("segments").has_room());
  decode(scheduler, "frames", 7);
  CHECK(scheduler.window("frames").has_room());
  // A worker that returned a segment and died before the sink had it: the segment goes again.
  scheduler.on_ready("a", asks(2), 0);
  CHECK(indices(deal(scheduler, "segments", 0)) == std::multiset<int64_t>{0, 1});
  scheduler.on_ready("a", filtered("segments", 0, 0), 1);
  CHECK(scheduler.drop_worker("a") == 2);
  scheduler.on_ready("b", asks(2), 2);
  CHECK(indices(deal(scheduler, "segments", 2)) == std::multiset<int64_t>{0, 1});
}

TEST_CASE("a segment's time does not count as one frame's filter time", "[scheduler]") {
  Scheduler scheduler = make_scheduler(8);
  scheduler.start_job("frames", 0);
  scheduler.start_job("segments", 0, 4, true);
  decode(scheduler, "frames", 1);
  decode(scheduler, "segments", 1);
  scheduler.on_ready("a", asks(2), 0);
  deal(scheduler, "frames", 0);
  deal(scheduler, "segments", 0);
  WorkerReport frame = filtered("frames", 0);
  frame.filter_us = 10'000;
  scheduler.on_ready("a", frame, 5);
  WorkerReport segment = filtered("segments", 0);
  segment.filter_us = 3'000'000;
  scheduler.on_ready("a", segment, 3000);
  CHECK(scheduler.filter_ms() == Approx(10));
}

TEST_CASE("a segment's deadline scales with its frames and the job's slowest segment",
          "[scheduler]") {
  Scheduler scheduler = make_scheduler(8);
  // 100 frames a segment: 100 s before a segment goes again (VP9 on a busy machine), while a
  // frame job beside it keeps the floor.
  scheduler.start_job("segments", 0, 4, true, 100);
  scheduler.start_job("frames", 0);
  CHECK(scheduler.deadline_ms("segments") == 100'000);
  CHECK(scheduler.deadline_ms("frames") == kFloor);
  decode(scheduler, "segments", 3);
  scheduler.on_ready("a", asks(2), 0);
  scheduler.on_ready("b", asks(1), 0);
  const auto dealt = deal(scheduler, "segments", 0);
  const auto a = dealt_to(dealt, "a");
  const auto b = dealt_to(dealt, "b");
  REQUIRE((a.size() == 2 && b.size() == 1));
  // Both say they make progress all along (a worker does several times a second).
  for (int64_t now = 500; now <= 40'000; now += 500) {
    scheduler.on_ready("a", progressing("segments", a[0]), now);
    scheduler.on_ready("b", progressing("segments", b[0]), now);
  }
  scheduler.on_ready("a", filtered("segments", a[0], 0), 40'000);  // 40 s for one segment
  CHECK(scheduler.round_trip_ms() == 0);                           // not a frame's round trip
  CHECK(scheduler.deadline_ms() == kFloor);
  CHECK(scheduler.deadline_ms("segments") == 160'000);  // four times the slowest
  for (int64_t now = 40'500; now <= 160'000; now += 500) {
    scheduler.on_ready("a", progressing("segments", a[1]), now);
    scheduler.on_ready("b", progressing("segments", b[0]), now);
    REQUIRE(scheduler.check_deadlines(now).empty());
  }
  scheduler.on_ready("a", progressing("segments", a[1]), 160'001);
  scheduler.on_ready("b", progressing("segments", b[0]), 160'001);
  const auto late = scheduler.check_deadlines(160'001);
  CHECK(late.size() == 2);  // the two segments still held, by a and by b: too long as a whole
  for (const auto& segment : late) CHECK(segment.silent_ms == 0);
}

TEST_CASE("a segment goes again when its worker shows no progress for the deadline",
          "[scheduler]") {
  Scheduler scheduler = make_scheduler(8);
  scheduler.start_job("segments", 0, 4, true, 100);  // 100 s for a segment as a whole
  decode(scheduler, "segments", 3);
  scheduler.on_ready("stuck", asks(2), 0);  // holds two: one it works on, one queued behind
  scheduler.on_ready("moving", asks(1), 0);
  const auto dealt = deal(scheduler, "segments", 0);
  const auto stuck = dealt_to(dealt, "stuck");
  const auto moving = dealt_to(dealt, "moving");
  REQUIRE((stuck.size() == 2 && moving.size() == 1));
  scheduler.on_ready("stuck", progressing("segments", stuck[0]), 600);
  // Another worker's segment, or another job's, is no sign for this one.
  scheduler.on_ready("stuck", progressing("segments", moving[0]), 1000);
  scheduler.on_ready("stuck", progressing("elsewhere", stuck[0]), 1000);
  for (int64_t now = 500; now <= 6000; now += 500) {
    scheduler.on_ready("moving", progressing("segments", moving[0]), now);
  }
  CHECK(scheduler.check_deadlines(1500).empty());  // 900 ms since stuck's last sign
  const auto late = scheduler.check_deadlines(1601);
  REQUIRE(late.size() == 1);  // the one it started; the one queued behind may still be on its way
  CHECK(late[0].worker == "stuck");
  CHECK(late[0].index == stuck[0]);
  CHECK(late[0].silent_ms == 1001);
  CHECK(late[0].waited_ms == 1601);
  CHECK(scheduler.check_deadlines(5000).empty());  // moving's goes on
  // A frame job beside it is untouched by signs of progress: its frames keep their own deadline.
  scheduler.start_job("frames", 0);
  decode(scheduler, "frames", 1);
  scheduler.on_ready("frames-worker", asks(1), 5000);
  deal(scheduler, "frames", 5000);
  scheduler.on_ready("frames-worker", progressing("frames", 0), 5500);
  CHECK(scheduler.check_deadlines(6000).empty());
  const auto frame = scheduler.check_deadlines(6001);
  REQUIRE(frame.size() == 1);
  CHECK(frame[0].job_id == "frames");
}
