// Segments on the wire: the ventilator's Segment message, opened by a worker, transcodes to the
// same bytes as the segment read from the file; and every way a peer can lie about a segment is
// refused, with the reason, before anything is decoded.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "framepipe/chain/chain.hpp"
#include "framepipe/media/decoder.hpp"
#include "framepipe/media/segments.hpp"
#include "framepipe/protocol/codec.hpp"
#include "framepipe/ventilator/segment_message.hpp"
#include "framepipe/worker/segment_message.hpp"
#include "framepipe/worker/segment_transcoder.hpp"
#include "temporary_directory.hpp"

namespace {

using namespace framepipe;

struct Source {
  std::string path;
  media::SegmentedVideo plan;
  std::unique_ptr<media::SegmentReader> reader;
  std::vector<std::vector<media::PacketPtr>> segments;
  media::VideoInfo info;
};

const Source& source() {
  static const testing::TemporaryDirectory dir;
  static Source source = [] {
    Source s;
    s.path = (dir.path() / "clip.mp4").string();
    const std::string command =
        "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -t 4 -c:v libx264 "
        "-preset veryfast -g 25 -bf 2 -pix_fmt yuv420p '" +
        s.path + "'";
    REQUIRE(std::system(command.c_str()) == 0);
    s.plan = media::plan_segments(s.path, media::Limits{}, media::SegmentLimits{1});
    REQUIRE(s.plan.refusal.empty());
    s.reader = std::make_unique<media::SegmentReader>(s.path, media::Limits{}, s.plan);
    while (auto packets = s.reader->next()) s.segments.push_back(std::move(*packets));
    s.info = media::Decoder(s.path, media::Limits{}, 1).info();
    return s;
  }();
  return source;
}

ventilator::SegmentedJob job_of(const Source& s) {
  ventilator::SegmentedJob job;
  job.job_id = "job-1";
  job.parameters = &s.reader->parameters();
  job.time_base = s.reader->time_base();
  job.frame_rate = s.info.frame_rate;
  job.color = s.info.color;
  job.chain = "grayscale";
  job.out_width = s.info.width;
  job.out_height = s.info.height;
  job.sample_aspect = {1, 1};
  // The product's default settings: the same frames must give the same bytes on every worker.
  job.preset = "veryfast";
  job.crf = 20;
  return job;
}

// Segment k's message as a worker receives it: packed and opened again.
std::pair<protocol::Segment, zmq::message_t> received(std::size_t k) {
  const Source& s = source();
  auto [message, part] = ventilator::segment_message(job_of(s), s.plan.segments[k],
                                                     k + 1 == s.segments.size(), s.segments[k]);
  const zmq::message_t packed = protocol::pack(message);
  std::string why;
  auto envelope = protocol::open(packed, &why);
  REQUIRE(envelope);
  auto body = envelope->body<protocol::Segment>(&why);
  REQUIRE(body);
  return {std::move(*body), std::move(part)};
}

std::vector<uint8_t> bytes_of(const std::vector<media::PacketPtr>& packets) {
  std::vector<uint8_t> out;
  for (const auto& packet : packets)
    out.insert(out.end(), packet->data, packet->data + packet->size);
  return out;
}

worker::EncodedSegment transcode(const worker::SegmentInput& input) {
  const auto parsed = chain::parse_chain("grayscale");
  filters::Chain chain(parsed.chain);
  filters::FrameProcessor processor;
  return worker::transcode_segment(input.job, input.plan, input.packets, media::Limits{}, chain,
                                   processor);
}

}  // namespace

TEST_CASE("a segment sent as a message transcodes as the file's segment does", "[segments]") {
  const Source& s = source();
  REQUIRE(s.segments.size() >= 3);
  const std::size_t k = 1;
  auto [message, part] = received(k);
  std::string why;
  auto input = worker::open_segment(message, std::span(&part, 1), media::Limits{}, why);
  REQUIRE(input);
  CHECK(why.empty());
  CHECK(input->packets.size() == s.segments[k].size());
  const worker::EncodedSegment encoded = transcode(*input);
  CHECK(encoded.frames == s.plan.segments[k].frames);

  worker::SegmentInput direct;
  direct.job = input->job;
  direct.plan = s.plan.segments[k];
  for (const auto& packet : s.segments[k])
    direct.packets.emplace_back(av_packet_clone(packet.get()));
  direct.job.parameters = &s.reader->parameters();
  CHECK(bytes_of(transcode(direct).packets) == bytes_of(encoded.packets));

  auto [result, packets] = worker::segment_result(encoded, message, "w1");
  CHECK(result.frames == encoded.frames);
  CHECK(result.packet_sizes.size() == encoded.packets.size());
  CHECK(packets.size() == bytes_of(encoded.packets).size());
  CHECK(result.extradata == encoded.extradata);
}

TEST_CASE("lying segments are refused before decoding, with the reason", "[segments]") {
  const auto refused = [](const std::function<void(protocol::Segment&)>& lie,
                          const std::string& reason, std::size_t parts = 1,
                          media::Limits limits = media::Limits{}) {
    auto [message, part] = received(0);
    lie(message);
    std::vector<zmq::message_t> payload;
    for (std::size_t i = 0; i < parts; ++i) payload.emplace_back(part.data(), part.size());
    std::string why;
    INFO("expected: " << reason);
    CHECK_FALSE(worker::open_segment(message, payload, limits, why));
    CHECK_THAT(why, Catch::Contains(reason));
  };
  refused([](auto& m) { m.codec = "prores"; }, "not one workers decode");
  refused([](auto& m) { m.codec = "h264\n<script>"; }, "not one workers decode");
  refused([](auto& m) { m.width = 0; }, "");
  refused([](auto& m) { m.height = 100000; }, "");
  media::Limits small;
  small.max_pixels = 100 * 100;
  refused([](auto&) {}, "larger than the limit", 1, small);
  refused([](auto& m) { m.out_width = 321; }, "odd output");
  refused([](auto& m) { m.out_height = 0; }, "output");
  refused([](auto& m) { m.pixel_format = "nope"; }, "unknown pixel format");
  refused([](auto& m) { m.time_base_den = 0; }, "time base");
  refused([](auto& m) { m.rate_den = 0; }, "frame rate");
  refused([](auto& m) { m.crf = 99; }, "crf");
  refused([](auto& m) { m.preset = "placebo"; }, "not an x264 preset");
  refused([](auto& m) { m.preset = "--fast"; }, "not an x264 preset");
  refused([](auto& m) { m.format = "avi"; }, "not one segments take");
  refused([](auto& m) { m.format = "mp3"; }, "not one segments take");
  refused([](auto& m) { m.format = "nope"; }, "not one segments take");
  refused([](auto& m) { m.frames = 0; }, "frame count");
  refused([](auto& m) { m.frames = static_cast<int64_t>(m.packet_sizes.size()) + 1; },
          "frame count");
  refused([](auto& m) { m.end_pts = m.start_pts; }, "empty time range");
  // Timestamps the encoder's time base cannot hold: a segment that is not the last but has no end
  // (its last frame's duration would overflow), packets 2^62 ticks out.
  refused(
      [](auto& m) {
        m.last = false;
        m.end_pts = std::numeric_limits<int64_t>::max();
      },
      "beyond 2^30 seconds");
  refused([](auto& m) { m.packet_pts.back() = int64_t{1} << 62; }, "beyond 2^30 seconds");
  refused([](auto& m) { m.packet_dts.front() = -(int64_t{1} << 62); }, "beyond 2^30 seconds");
  refused([](auto& m) { m.packet_pts.pop_back(); }, "different lengths");
  refused([](auto& m) { m.packet_sizes.back() += 1; }, "outside their part");
  refused([](auto& m) { m.packet_sizes.front() = -5; }, "outside their part");
  refused([](auto& m) { m.packet_sizes.back() -= 1; }, "after the last packet");
  refused([](auto& m) { m.packet_sizes.clear(); }, "no packet");
  refused([](auto&) {}, "exactly one part", 2);
  refused([](auto&) {}, "exactly one part", 0);
}

TEST_CASE("a segment of damaged packets fails cleanly or gives fewer frames", "[segments]") {
  auto [message, part] = received(2);
  auto* bytes = static_cast<uint8_t*>(part.data());
  for (std::size_t i = 0; i < part.size(); i += 7) bytes[i] ^= 0x5a;
  std::string why;
  auto input = worker::open_segment(message, std::span(&part, 1), media::Limits{}, why);
  REQUIRE(input);  // the structure is sound: only decoding can tell
  try {
    const auto encoded = transcode(*input);
    CHECK(encoded.frames <= message.frames);
  } catch (const media::MediaError&) {
    SUCCEED("refused while decoding");
  }
}
