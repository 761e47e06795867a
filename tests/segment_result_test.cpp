// The sink's checks of a SegmentResult from the network, without sockets: every lie is refused
// with the reason, and an honest result comes out as the packets the worker encoded.
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>

#include "framepipe/media/encoder.hpp"
#include "framepipe/sink/segment_result.hpp"

using namespace framepipe;

namespace {

protocol::JobStart segmented_job() {
  protocol::JobStart start;
  start.job_id = "job-1";
  start.time_base_num = 1;
  start.time_base_den = 12800;
  start.segment_frames = {25, 25, 10};
  return start;
}

// Segment 1 of the job: 3 packets of 5, 7 and 2 bytes.
std::pair<protocol::SegmentResult, zmq::message_t> honest() {
  protocol::SegmentResult result;
  result.job_id = "job-1";
  result.index = 1;
  result.worker = "w1";
  result.frames = 25;
  result.extradata = {1, 2, 3};
  const AVRational ticks = media::encoder_time_base({1, 12800});
  result.time_base_num = ticks.num;
  result.time_base_den = ticks.den;
  result.packet_sizes = {5, 7, 2};
  result.packet_pts = {0, 1024, 512};
  result.packet_dts = {-512, 0, 512};
  result.packet_durations = {512, 512, 512};
  result.packet_flags = {1, 0, 0};
  zmq::message_t part(14);
  std::memset(part.data(), 7, part.size());
  return {std::move(result), std::move(part)};
}

using Result = protocol::SegmentResult;

std::string refusal(const std::function<void(protocol::SegmentResult&, zmq::message_t&)>& lie) {
  auto [result, part] = honest();
  lie(result, part);
  std::string why;
  auto opened =
      sink::open_segment_result(segmented_job(), std::move(result), std::span(&part, 1), why);
  CHECK_FALSE(opened);
  return why;
}

}  // namespace

TEST_CASE("an honest segment result opens as its packets", "[sink]") {
  auto [result, part] = honest();
  std::string why;
  auto opened =
      sink::open_segment_result(segmented_job(), std::move(result), std::span(&part, 1), why);
  REQUIRE(opened);
  CHECK(why.empty());
  REQUIRE(opened->packets.size() == 3);
  CHECK(opened->packets[1]->size == 7);
  CHECK(opened->packets[2]->pts == 512);
  CHECK(opened->packets[0]->dts == -512);
  CHECK(opened->packets[0]->duration == 512);
  CHECK((opened->packets[0]->flags & AV_PKT_FLAG_KEY) != 0);
  CHECK(opened->frames == 25);
  CHECK(opened->worker == "w1");
  CHECK(opened->extradata == std::vector<uint8_t>{1, 2, 3});
}

TEST_CASE("lying segment results are refused with the reason", "[sink]") {
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.index = 3; }),
             Catch::Contains("not one of its segments"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.index = -1; }),
             Catch::Contains("not one of its segments"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.frames = 26; }),
             Catch::Contains("of 25 planned"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.time_base_den = 90000; }),
             Catch::Contains("time base"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) {
               r.packet_sizes = {5, 7, 3};
             }),
             Catch::Contains("outside their part"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) {
               r.packet_sizes = {5, 7, 1};
             }),
             Catch::Contains("after the last packet"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) {
               r.packet_sizes = {5, -7, 16};
             }),
             Catch::Contains("outside their part"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.packet_pts.pop_back(); }),
             Catch::Contains("different lengths"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.packet_durations = {1}; }),
             Catch::Contains("different lengths"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) {
               r.packet_sizes.assign(200, 1);
               r.packet_pts.assign(200, 0);
               r.packet_dts.assign(200, 0);
               r.packet_flags.assign(200, 0);
               r.packet_durations.clear();
             }),
             Catch::Contains("more packets than its frames"));
  CHECK_THAT(refusal([](Result&, zmq::message_t& part) { part.rebuild(0); }),
             Catch::Contains("outside their part"));
}

TEST_CASE("a segment result for a job dealt as frames is refused", "[sink]") {
  auto [result, part] = honest();
  protocol::JobStart frames = segmented_job();
  frames.segment_frames.clear();
  std::string why;
  CHECK_FALSE(sink::open_segment_result(frames, std::move(result), std::span(&part, 1), why));
  CHECK_THAT(why, Catch::Contains("dealt as frames"));
}

TEST_CASE("a segment whose every picture was damaged comes with no frame and no packet", "[sink]") {
  auto [result, part] = honest();
  result.frames = 0;
  result.damaged_packets = 9;
  result.packet_sizes.clear();
  result.packet_pts.clear();
  result.packet_dts.clear();
  result.packet_durations.clear();
  result.packet_flags.clear();
  zmq::message_t empty;
  std::string why;
  auto opened =
      sink::open_segment_result(segmented_job(), std::move(result), std::span(&empty, 1), why);
  REQUIRE(opened);
  CHECK(opened->frames == 0);
  CHECK(opened->packets.empty());
  CHECK(opened->damaged_packets == 9);

  // No frame but packets all the same: a lie.
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.frames = 0; }),
             Catch::Contains("packets without frames"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.frames = -1; }),
             Catch::Contains("planned"));
  CHECK_THAT(refusal([](Result& r, zmq::message_t&) { r.error = "boom"; }),
             Catch::Contains("error"));
}
