// Workers' side of segments: each segment decoded, filtered and encoded on its own (in any order,
// as many workers would), then joined by the sink's Writer, gives a file whose frames are the
// single-process loop's, frame for frame, with the same timestamps and the audio; the same
// segment transcoded twice gives the same bytes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "framepipe/bench/local.hpp"
#include "framepipe/chain/chain.hpp"
#include "framepipe/chain/geometry.hpp"
#include "framepipe/media/decoder.hpp"
#include "framepipe/media/segments.hpp"
#include "framepipe/media/writer.hpp"
#include "framepipe/worker/segment_transcoder.hpp"
#include "temporary_directory.hpp"

namespace {

using namespace framepipe;

const testing::TemporaryDirectory& directory() {
  static const testing::TemporaryDirectory dir;
  return dir;
}

std::string path_of(const std::string& name) {
  return (directory().path() / name).string();
}

// Lossless x264: a decoded frame is exactly what was encoded, so files compare by their pixels.
// (x264 makes no B-frames when lossless; the defaults below do.)
media::EncoderSettings lossless() {
  media::EncoderSettings settings;
  settings.preset = "ultrafast";
  settings.crf = 0;
  settings.threads = 1;
  return settings;
}

struct Frame {
  int64_t pts_us;
  uint64_t hash;
  bool operator==(const Frame&) const = default;
};

// Every frame of the file: time from the first frame in microseconds, and its pixels hashed.
std::vector<Frame> frames_of(const std::string& path) {
  media::Decoder decoder(path, media::Limits{}, 1);
  std::vector<Frame> frames;
  int64_t first = AV_NOPTS_VALUE;
  while (media::FramePtr frame = decoder.next()) {
    if (first == AV_NOPTS_VALUE) first = frame->pts;
    uint64_t hash = 1469598103934665603ULL;
    for (int plane = 0; plane < 3; ++plane) {
      const int shift = plane == 0 ? 0 : 1;
      for (int y = 0; y < (frame->height >> shift); ++y) {
        const uint8_t* row =
            frame->data[plane] + static_cast<std::ptrdiff_t>(y) * frame->linesize[plane];
        for (int x = 0; x < (frame->width >> shift); ++x) hash = (hash ^ row[x]) * 1099511628211ULL;
      }
    }
    frames.push_back(
        {av_rescale_q(frame->pts - first, decoder.info().time_base, AVRational{1, 1'000'000}),
         hash});
  }
  return frames;
}

struct Transcoded {
  std::vector<worker::EncodedSegment> segments;
  media::VideoInfo info;
};

// Every segment of `source` transcoded on its own, in a shuffled order.
Transcoded transcode_all(const std::string& source, const std::string& chain_text, unsigned seed,
                         const media::EncoderSettings& settings = lossless()) {
  const media::SegmentedVideo plan =
      plan_segments(source, media::Limits{}, media::SegmentLimits{1});
  REQUIRE(plan.refusal.empty());
  REQUIRE(plan.segments.size() >= 3);
  media::SegmentReader reader(source, media::Limits{}, plan);
  std::vector<std::vector<media::PacketPtr>> packets;
  while (auto segment = reader.next()) packets.push_back(std::move(*segment));

  Transcoded out;
  out.info = media::Decoder(source, media::Limits{}, 1).info();
  const auto parsed = chain::parse_chain(chain_text);
  REQUIRE(parsed.ok());
  const auto geometry =
      chain::plan_output(parsed.chain, {{out.info.width, out.info.height},
                                        {out.info.sample_aspect.num, out.info.sample_aspect.den},
                                        out.info.pixel_format});
  filters::Chain chain(parsed.chain);
  filters::FrameProcessor processor;
  worker::SegmentJob job;
  job.parameters = &reader.parameters();
  job.time_base = reader.time_base();
  job.frame_rate = out.info.frame_rate;
  job.color = out.info.color;
  job.out_width = geometry.size.width;
  job.out_height = geometry.size.height;
  job.sample_aspect = {geometry.sample_aspect.num, geometry.sample_aspect.den};
  job.encoder = settings;

  std::vector<std::size_t> order(packets.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));
  out.segments.resize(packets.size());
  for (std::size_t k : order) {
    job.last_segment = k + 1 == packets.size();
    out.segments[k] = worker::transcode_segment(job, plan.segments[k], packets[k], media::Limits{},
                                                chain, processor);
    CHECK(out.segments[k].frames == plan.segments[k].frames);
    CHECK(static_cast<int64_t>(out.segments[k].packets.size()) == out.segments[k].frames);
  }
  return out;
}

// The sink's side: the segments joined in order into `output`, with the source's audio.
void join(const std::string& source, Transcoded& transcoded, const std::string& output,
          const media::EncoderSettings& settings = lossless()) {
  media::OutputSpec spec;
  spec.path = output;
  const auto& first = transcoded.segments.front();
  spec.width = transcoded.info.width;
  spec.height = transcoded.info.height;
  spec.time_base = transcoded.info.time_base;
  spec.frame_rate = transcoded.info.frame_rate;
  spec.color = transcoded.info.color;
  spec.audio_source = source;
  spec.encoder = settings;
  spec.encoded_video = true;
  spec.encoded_video_extradata = first.extradata;
  media::Writer writer(spec, media::Limits{});
  for (auto& segment : transcoded.segments) writer.write_segment(segment.packets);
  writer.finish();
}

std::string clip(const std::string& name, const std::string& arguments) {
  const std::string path = path_of(name);
  const std::string command = "ffmpeg -nostdin -v error -y " + arguments + " '" + path + "'";
  REQUIRE(std::system(command.c_str()) == 0);
  return path;
}

void check_segments_match_the_loop(const std::string& source, const std::string& chain_text) {
  bench::LocalConfig local;
  local.input = source;
  local.output =
      path_of("loop-" + std::to_string(std::hash<std::string>{}(source + chain_text)) + ".mp4");
  local.chain = chain_text;
  local.encoder = lossless();
  bench::process_locally(local);
  const auto reference = frames_of(local.output);

  Transcoded transcoded = transcode_all(source, chain_text, 3);
  const std::string joined = path_of("joined.mp4");
  join(source, transcoded, joined);
  const auto frames = frames_of(joined);
  REQUIRE(frames.size() == reference.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    INFO("frame " << i);
    CHECK(std::llabs(frames[i].pts_us - reference[i].pts_us) <= 100);  // 0.1 ms
    CHECK(frames[i].hash == reference[i].hash);
  }
  media::Decoder decoded(joined, media::Limits{}, 1);
  CHECK(decoded.info().has_audio);
}

}  // namespace

TEST_CASE("segments transcoded apart and joined are the single-process loop's frames",
          "[segments]") {
  const auto source = clip("open-audio.mkv",
                           "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i "
                           "sine=frequency=440 -t 6 -c:v libx264 -preset veryfast -x264-params "
                           "open_gop=1:keyint=25:min-keyint=25:scenecut=0 -bf 3 -pix_fmt yuv420p "
                           "-c:a aac -shortest");
  check_segments_match_the_loop(source, "grayscale");
}

TEST_CASE("variable-rate segments keep every timestamp when joined", "[segments]") {
  const auto source = clip("vfr-audio.mp4",
                           "-f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i "
                           "sine=frequency=440 -t 6 -vf \"select='lt(n\\,40)+not(mod(n\\,3))'\" "
                           "-fps_mode vfr -c:v libx264 -preset veryfast -g 15 -bf 2 -pix_fmt "
                           "yuv420p -c:a aac -shortest");
  check_segments_match_the_loop(source, "blur=sigma=2");
}

TEST_CASE("a segment transcoded twice gives the same bytes", "[segments]") {
  const auto source = clip("open-audio.mkv",
                           "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i "
                           "sine=frequency=440 -t 6 -c:v libx264 -preset veryfast -x264-params "
                           "open_gop=1:keyint=25:min-keyint=25:scenecut=0 -bf 3 -pix_fmt yuv420p "
                           "-c:a aac -shortest");
  // The product's default settings, not lossless ones: x264's AVX-512 code gave other bytes from
  // one encoder to the next (media/src/encoder.cpp).
  const media::EncoderSettings defaults;
  Transcoded once = transcode_all(source, "grayscale", 1, defaults);
  Transcoded again = transcode_all(source, "grayscale", 2, defaults);
  REQUIRE(once.segments.size() == again.segments.size());
  for (std::size_t k = 0; k < once.segments.size(); ++k) {
    REQUIRE(once.segments[k].packets.size() == again.segments[k].packets.size());
    for (std::size_t i = 0; i < once.segments[k].packets.size(); ++i) {
      const AVPacket& a = *once.segments[k].packets[i];
      const AVPacket& b = *again.segments[k].packets[i];
      REQUIRE(a.size == b.size);
      CHECK(std::equal(a.data, a.data + a.size, b.data));
      CHECK(a.pts == b.pts);
    }
  }
}

TEST_CASE("B-frames across the joins: decode times rise, never pass a frame's time", "[segments]") {
  const auto source = clip("open-audio.mkv",
                           "-f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i "
                           "sine=frequency=440 -t 6 -c:v libx264 -preset veryfast -x264-params "
                           "open_gop=1:keyint=25:min-keyint=25:scenecut=0 -bf 3 -pix_fmt yuv420p "
                           "-c:a aac -shortest");
  const media::EncoderSettings with_b_frames{"veryfast", 20, 1};
  Transcoded transcoded = transcode_all(source, "copy", 5, with_b_frames);
  int64_t ahead = 0;  // packets whose dts is below their pts: B-frames reordered
  for (const auto& segment : transcoded.segments) {
    for (const auto& packet : segment.packets) ahead += packet->dts < packet->pts ? 1 : 0;
  }
  CHECK(ahead > 0);
  const std::string joined = path_of("joined-b.mp4");
  join(source, transcoded, joined, with_b_frames);

  media::FormatContextPtr file = media::open_input(joined, media::Limits{});
  const int video = av_find_best_stream(file.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  REQUIRE(video >= 0);
  media::PacketPtr packet = media::make_packet();
  int64_t last_dts = AV_NOPTS_VALUE;
  int64_t packets = 0;
  while (av_read_frame(file.get(), packet.get()) >= 0) {
    if (packet->stream_index == video) {
      ++packets;
      CHECK(packet->dts <= packet->pts);
      if (last_dts != AV_NOPTS_VALUE) CHECK(packet->dts > last_dts);
      last_dts = packet->dts;
    }
    av_packet_unref(packet.get());
  }
  const auto source_frames = frames_of(source);
  CHECK(packets == static_cast<int64_t>(source_frames.size()));
  const auto frames = frames_of(joined);
  REQUIRE(frames.size() == source_frames.size());
  for (std::size_t i = 0; i < frames.size(); ++i) {
    CHECK(std::llabs(frames[i].pts_us - source_frames[i].pts_us) <= 100);
  }
}
