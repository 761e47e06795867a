// Segments: cut without decoding, decoded one by one in any order, they give every frame of the
// ventilator's own full decode exactly once, at its own timestamp, with the same pixels, whatever
// the GOP structure (closed, open with leading B-frames, long), and a variable rate stays variable.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "framepipe/media/decoder.hpp"
#include "framepipe/media/segments.hpp"
#include "temporary_directory.hpp"

namespace {

using framepipe::media::Decoder;
using framepipe::media::FramePtr;
using framepipe::media::Limits;
using framepipe::media::plan_segments;
using framepipe::media::SegmentDecoder;
using framepipe::media::SegmentedVideo;
using framepipe::media::SegmentLimits;
using framepipe::media::SegmentReader;

const framepipe::testing::TemporaryDirectory& directory() {
  static const framepipe::testing::TemporaryDirectory dir;
  return dir;
}

// `ffmpeg <input and codec arguments> FILE` once per name, 320x240 testsrc2 with its own settings.
std::string clip(const std::string& name, const std::string& arguments) {
  const std::string path = (directory().path() / name).string();
  const std::string command = "ffmpeg -nostdin -v error -y " + arguments + " '" + path + "'";
  REQUIRE(std::system(command.c_str()) == 0);
  return path;
}

// A frame's pixels, hashed (FNV-1a over each plane's visible rows).
uint64_t pixels_hash(const AVFrame& frame) {
  uint64_t hash = 1469598103934665603ULL;
  for (int plane = 0; plane < 3 && frame.data[plane]; ++plane) {
    const int shift = plane == 0 ? 0 : 1;
    for (int y = 0; y < (frame.height >> shift); ++y) {
      const uint8_t* row =
          frame.data[plane] + static_cast<std::ptrdiff_t>(y) * frame.linesize[plane];
      for (int x = 0; x < (frame.width >> shift); ++x) hash = (hash ^ row[x]) * 1099511628211ULL;
    }
  }
  return hash;
}

// pts -> pixels of every frame the ventilator's decoder gives.
std::map<int64_t, uint64_t> full_decode(const std::string& path) {
  Decoder decoder(path, Limits{}, 1);
  std::map<int64_t, uint64_t> frames;
  while (FramePtr frame = decoder.next()) {
    REQUIRE(frames.emplace(frame->pts, pixels_hash(*frame)).second);
  }
  return frames;
}

// Every segment decoded on its own, in a shuffled order; pts -> pixels, each pts checked unique.
std::map<int64_t, uint64_t> decode_by_segments(const std::string& path, const SegmentedVideo& plan,
                                               unsigned seed) {
  SegmentReader reader(path, Limits{}, plan);
  std::vector<std::vector<framepipe::media::PacketPtr>> segments;
  while (auto packets = reader.next()) segments.push_back(std::move(*packets));
  REQUIRE(segments.size() == plan.segments.size());
  std::vector<std::size_t> order(segments.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  SegmentDecoder decoder(reader.parameters(), reader.time_base(), Limits{});
  std::map<int64_t, uint64_t> frames;
  for (std::size_t k : order) {
    int64_t last_pts = std::numeric_limits<int64_t>::min();
    const int64_t given = decoder.decode(plan.segments[k], segments[k], [&](FramePtr frame) {
      CHECK(frame->pts > last_pts);  // in presentation order
      last_pts = frame->pts;
      CHECK(frames.emplace(frame->pts, pixels_hash(*frame)).second);  // in no other segment
    });
    CHECK(given == plan.segments[k].frames);
  }
  return frames;
}

void check_segments_give_every_frame(const std::string& path, double seconds,
                                     std::size_t min_segments) {
  const SegmentedVideo plan = plan_segments(path, Limits{}, SegmentLimits{seconds});
  REQUIRE(plan.refusal.empty());
  CHECK(plan.segments.size() >= min_segments);
  const auto reference = full_decode(path);
  CHECK(plan.frames == static_cast<int64_t>(reference.size()));
  for (unsigned seed : {1u, 2u}) CHECK(decode_by_segments(path, plan, seed) == reference);
}

}  // namespace

TEST_CASE("closed GOPs with B-frames: every frame once, same pixels, any order", "[segments]") {
  const auto path = clip("closed.mp4",
                         "-f lavfi -i testsrc2=size=320x240:rate=30 -t 8 -c:v libx264 -preset "
                         "veryfast -g 30 -bf 3 -pix_fmt yuv420p");
  check_segments_give_every_frame(path, 2, 4);
}

TEST_CASE("open GOPs: leading B-frames come from the segment before the keyframe", "[segments]") {
  const auto path = clip("open.mkv",
                         "-f lavfi -i testsrc2=size=320x240:rate=25 -t 8 -c:v libx264 -preset "
                         "veryfast -x264-params open_gop=1:keyint=25:min-keyint=25:scenecut=0 "
                         "-bf 3 -pix_fmt yuv420p");
  check_segments_give_every_frame(path, 1, 6);
  // The stream really has leading pictures: segments run on past the next keyframe.
  const SegmentedVideo plan = plan_segments(path, Limits{}, SegmentLimits{1});
  int with_leading = 0;
  for (std::size_t k = 0; k + 1 < plan.segments.size(); ++k) {
    if (plan.segments[k].end_packet > plan.segments[k + 1].first_packet + 1) ++with_leading;
  }
  CHECK(with_leading >= 3);
}

TEST_CASE("a variable frame rate keeps every timestamp", "[segments]") {
  const auto path =
      clip("vfr.mp4",
           "-f lavfi -i testsrc2=size=320x240:rate=30 -t 8 -vf "
           "\"select='lt(n\\,60)+not(mod(n\\,3))'\" -fps_mode vfr -c:v libx264 -preset "
           "veryfast -g 20 -bf 2 -pix_fmt yuv420p");
  check_segments_give_every_frame(path, 1, 4);
}

TEST_CASE("keyframes far apart give fewer, longer segments, cut the same way every time",
          "[segments]") {
  const auto path = clip("long-gop.mp4",
                         "-f lavfi -i testsrc2=size=320x240:rate=30 -t 8 -c:v libx264 -preset "
                         "veryfast -g 120 -keyint_min 120 -sc_threshold 0 -pix_fmt yuv420p");
  const SegmentedVideo plan = plan_segments(path, Limits{}, SegmentLimits{1});
  REQUIRE(plan.refusal.empty());
  CHECK(plan.segments.size() == 2);  // keyframes at 0 and 4 s only
  const SegmentedVideo again = plan_segments(path, Limits{}, SegmentLimits{1});
  REQUIRE(again.segments.size() == plan.segments.size());
  for (std::size_t k = 0; k < plan.segments.size(); ++k) {
    CHECK(again.segments[k].first_packet == plan.segments[k].first_packet);
    CHECK(again.segments[k].end_packet == plan.segments[k].end_packet);
  }
  check_segments_give_every_frame(path, 1, 2);
}

TEST_CASE("a segment beyond its size limit is refused, with the reason", "[segments]") {
  const auto path = clip("closed.mp4",
                         "-f lavfi -i testsrc2=size=320x240:rate=30 -t 8 -c:v libx264 -preset "
                         "veryfast -g 30 -bf 3 -pix_fmt yuv420p");
  const SegmentedVideo plan = plan_segments(path, Limits{}, SegmentLimits{2, 1000});
  CHECK(plan.segments.empty());
  CHECK_THAT(plan.refusal, Catch::Contains("too far apart"));
}

TEST_CASE("a damaged stream: segments give the whole-file decoder's frames and count the damage",
          "[segments]") {
  const auto clean = clip("clean.ts",
                          "-f lavfi -i testsrc2=size=320x240:rate=25 -t 4 -c:v libx264 -preset "
                          "veryfast -g 10 -bf 2 -f mpegts");
  const std::string damaged = (directory().path() / "damaged.ts").string();
  {
    std::ifstream in(clean, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::mt19937 generator(7);
    for (int hole = 0; hole < 40; ++hole) {
      const size_t offset = 10'000 + generator() % (bytes.size() - 11'000);
      for (size_t index = 0; index < 100; ++index) bytes[offset + index] = char(generator());
    }
    std::ofstream(damaged, std::ios::binary) << bytes;
  }
  Decoder whole(damaged, Limits{}, 1);
  int64_t whole_frames = 0;
  while (whole.next()) ++whole_frames;
  INFO("whole file: " << whole_frames << " frames, " << whole.damaged_packets() << " damaged");
  REQUIRE(whole.damaged_packets() > 0);

  const SegmentedVideo plan = plan_segments(damaged, Limits{}, SegmentLimits{1});
  REQUIRE(plan.refusal.empty());
  SegmentReader reader(damaged, Limits{}, plan);
  SegmentDecoder decoder(reader.parameters(), reader.time_base(), Limits{});
  int64_t frames = 0;
  int64_t damaged_packets = 0;
  for (const auto& segment : plan.segments) {
    auto packets = reader.next();
    REQUIRE(packets);
    frames += decoder.decode(segment, *packets, [](FramePtr) {});
    damaged_packets += decoder.damaged_packets();
  }
  INFO("whole file: " << whole_frames << " frames, " << whole.damaged_packets() << " damaged");
  CHECK(frames == whole_frames);
  CHECK(damaged_packets > 0);
}
