// The command-line client's rules: server-sent events cut anywhere, and the progress line.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "framepipe/client/event_stream.hpp"
#include "framepipe/client/progress.hpp"

using framepipe::client::clock_text;
using framepipe::client::EventStreamParser;
using framepipe::client::JobStatus;
using framepipe::client::parse_job_status;
using framepipe::client::progress_line;
using framepipe::client::ServerEvent;

namespace {

// The stream as the head sends it: a job event, a keep-alive comment, a final event.
const std::string kStream =
    "event: job\ndata: {\"id\":\"a\",\"state\":\"running\",\"frames_done\":3}\n\n"
    ": keep-alive\n\n"
    "event: end\r\ndata: {\"id\":\"a\",\"state\":\"done\"}\r\n\r\n";

std::vector<ServerEvent> feed_in_pieces(const std::string& stream, size_t piece) {
  EventStreamParser parser;
  std::vector<ServerEvent> events;
  for (size_t at = 0; at < stream.size(); at += piece) {
    for (auto& event : parser.feed(std::string_view(stream).substr(at, piece))) {
      events.push_back(std::move(event));
    }
  }
  return events;
}

}  // namespace

TEST_CASE("events come out whole however the stream is cut", "[client]") {
  for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, size_t{64}, kStream.size()}) {
    const auto events = feed_in_pieces(kStream, piece);
    REQUIRE(events.size() == 2);
    CHECK(events[0].name == "job");
    CHECK(events[0].data == R"({"id":"a","state":"running","frames_done":3})");
    CHECK(events[1].name == "end");  // CRLF line ends too
    CHECK(events[1].data == R"({"id":"a","state":"done"})");
  }
}

TEST_CASE("event stream details: several data lines, no name, comments, no data", "[client]") {
  EventStreamParser parser;
  auto events = parser.feed("data: one\ndata:two\n\n: only a comment\n\nevent: x\n\nid: 7\n");
  REQUIRE(events.size() == 1);
  CHECK(events[0].name == "message");
  CHECK(events[0].data == "one\ntwo");
  events = parser.feed("data: late\n\n");  // the nameless event after "event: x" was dropped
  REQUIRE(events.size() == 1);
  CHECK(events[0].name == "message");
}

TEST_CASE("an endless line is refused, not buffered for ever", "[client]") {
  EventStreamParser parser;
  const std::string piece(1 << 20, 'x');
  bool refused = false;
  for (int i = 0; i < 20 && !refused; ++i) {
    try {
      parser.feed(piece);
    } catch (const std::runtime_error&) {
      refused = true;
    }
  }
  CHECK(refused);
}

TEST_CASE("a job from the head's JSON", "[client]") {
  const JobStatus job = parse_job_status(
      R"({"id":"j1","state":"running","frames_done":50,"frames_total":200,)"
      R"("frames_total_exact":true,"fps":25.5,"error":null,"message":"processing",)"
      R"("distribution":{"asked":"auto","mode":"segments","why":"..."}})");
  CHECK(job.id == "j1");
  CHECK(job.state == "running");
  CHECK(job.frames_done == 50);
  CHECK(job.frames_total == 200);
  CHECK(job.fps == 25.5);
  CHECK(job.error.empty());
  CHECK(job.distribution == "segments");
  CHECK_FALSE(is_final(job));
  CHECK_THROWS_AS(parse_job_status("not json"), std::runtime_error);
  CHECK_THROWS_AS(parse_job_status(R"({"error":"no such job"})"), std::runtime_error);
  CHECK_THROWS_AS(parse_job_status(R"({"id":1,"state":"done"})"), std::runtime_error);
}

TEST_CASE("the progress line: bar, frames, rate and time left", "[client]") {
  JobStatus job;
  job.state = "running";
  job.frames_done = 50;
  job.frames_total = 200;
  job.frames_total_exact = true;
  job.fps = 25;
  CHECK(progress_line(job) ==
        "[######..................]  25%  50/200 frames  25.0 fps  0:06 left");
  job.frames_total_exact = false;  // an estimate from the container's duration
  CHECK(progress_line(job).find("50/~200 frames") != std::string::npos);
  job.frames_done = 250;  // more than estimated: full, never past 100%
  CHECK(progress_line(job).starts_with("[########################] 100%"));
  CHECK(progress_line(job).find("left") == std::string::npos);
  job.frames_total = 0;  // length unknown
  CHECK(progress_line(job) == "250 frames  25.0 fps");
  job.state = "queued";
  job.message = "queued: 2 jobs ahead";
  CHECK(progress_line(job) == "queued: 2 jobs ahead");
}

TEST_CASE("clock text rounds up and grows hours", "[client]") {
  CHECK(clock_text(0) == "0:00");
  CHECK(clock_text(0.2) == "0:01");
  CHECK(clock_text(59.5) == "1:00");
  CHECK(clock_text(754) == "12:34");
  CHECK(clock_text(3723) == "1:02:03");
  CHECK(clock_text(-5) == "0:00");
}
