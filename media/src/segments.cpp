#include "framepipe/media/segments.hpp"

#include <algorithm>
#include <deque>
#include <utility>

namespace framepipe::media {

namespace {

constexpr int64_t kNoPts = AV_NOPTS_VALUE;
constexpr int kMaxErrorsInARow = 100;  // pictures that fail to decode before a segment is given up

int video_stream_of(AVFormatContext& format) {
  const int index = av_find_best_stream(&format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (index < 0) throw MediaError("the file has no video stream");
  return index;
}

// Reads the next packet of `stream` into `packet`; false at the end of the file.
bool read_video_packet(AVFormatContext& format, int stream, AVPacket& packet) {
  while (true) {
    const int result = av_read_frame(&format, &packet);
    if (result == AVERROR_EOF) return false;
    if (result < 0) throw MediaError("reading the file failed: " + error_string(result));
    if (packet.stream_index == stream) return true;
    av_packet_unref(&packet);
  }
}

struct Packets {
  std::vector<int64_t> pts;
  std::vector<bool> key;
  std::vector<int64_t> bytes;
};

SegmentedVideo refuse(SegmentedVideo video, std::string why) {
  video.segments.clear();
  video.refusal = std::move(why);
  return video;
}

}  // namespace

bool is_segment_codec(std::string_view codec) {
  static constexpr std::string_view kCodecs[] = {"h264", "hevc",       "vp8",        "vp9",
                                                 "av1",  "mpeg2video", "mpeg1video", "mpeg4"};
  return std::find(std::begin(kCodecs), std::end(kCodecs), codec) != std::end(kCodecs);
}

SegmentedVideo plan_segments(const std::string& path, const Limits& limits,
                             const SegmentLimits& segment_limits) {
  FormatContextPtr format = open_input(path, limits);
  const int stream = video_stream_of(*format);
  SegmentedVideo video;
  video.time_base = format->streams[stream]->time_base;
  if (video.time_base.num <= 0 || video.time_base.den <= 0) {
    return refuse(std::move(video), "the video stream has no time base");
  }
  const char* codec = avcodec_get_name(format->streams[stream]->codecpar->codec_id);
  if (!is_segment_codec(codec)) {
    return refuse(std::move(video), std::string("the video codec ") + codec +
                                        " is not one workers decode from segments");
  }
  Packets packets;
  PacketPtr packet = make_packet();
  while (read_video_packet(*format, stream, *packet)) {
    const int64_t pts = packet->pts;
    const bool key = (packet->flags & AV_PKT_FLAG_KEY) != 0;
    const int64_t size = packet->size;
    av_packet_unref(packet.get());
    if (pts == kNoPts) return refuse(std::move(video), "a video packet has no timestamp");
    if (static_cast<long long>(packets.pts.size()) >= limits.max_frames) {
      throw MediaError("the video has more than " + std::to_string(limits.max_frames) +
                       " frames; the limit");
    }
    packets.pts.push_back(pts);
    packets.key.push_back(key);
    packets.bytes.push_back(size);
  }
  const auto count = static_cast<int64_t>(packets.pts.size());
  if (count == 0) return refuse(std::move(video), "the video stream has no packet");
  if (!packets.key[0]) return refuse(std::move(video), "the video does not start with a keyframe");
  {
    std::vector<int64_t> sorted = packets.pts;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      return refuse(std::move(video), "two video frames have the same timestamp");
    }
  }

  // A keyframe is a cut when every packet before it is shown before it, and every packet after its
  // leading pictures is shown after it.
  std::vector<int64_t> suffix_min(count + 1, std::numeric_limits<int64_t>::max());
  for (int64_t i = count - 1; i >= 0; --i)
    suffix_min[i] = std::min(suffix_min[i + 1], packets.pts[i]);
  const auto leading_end = [&](int64_t cut) {
    int64_t end = cut + 1;
    while (end < count && packets.pts[end] < packets.pts[cut]) ++end;
    return end;
  };
  const auto spacing =
      static_cast<int64_t>(segment_limits.seconds * video.time_base.den / video.time_base.num);
  std::vector<int64_t> cuts = {0};
  int64_t shown_before = packets.pts[0];  // the latest timestamp among packets before i
  for (int64_t i = 1; i < count; ++i) {
    const int64_t pts = packets.pts[i];
    if (packets.key[i] && pts > shown_before && pts - packets.pts[cuts.back()] >= spacing &&
        suffix_min[leading_end(i)] > pts) {
      cuts.push_back(i);
    }
    shown_before = std::max(shown_before, pts);
  }

  for (std::size_t k = 0; k < cuts.size(); ++k) {
    SegmentPlan plan;
    plan.index = static_cast<int64_t>(k);
    plan.first_packet = cuts[k];
    const bool last = k + 1 == cuts.size();
    plan.end_packet = last ? count : leading_end(cuts[k + 1]);
    if (k > 0) plan.start_pts = packets.pts[cuts[k]];
    if (!last) plan.end_pts = packets.pts[cuts[k + 1]];
    for (int64_t i = plan.first_packet; i < plan.end_packet; ++i) {
      plan.bytes += packets.bytes[i];
      if (packets.pts[i] >= plan.start_pts && packets.pts[i] < plan.end_pts) ++plan.frames;
    }
    if (plan.bytes > segment_limits.max_bytes ||
        plan.end_packet - plan.first_packet > segment_limits.max_packets) {
      return refuse(std::move(video), "keyframes are too far apart: a segment would hold " +
                                          std::to_string(plan.bytes >> 20) + " MiB");
    }
    video.frames += plan.frames;
    video.segments.push_back(plan);
  }
  if (video.frames != count) {  // a frame in no segment, or in two: never cut such a stream
    return refuse(std::move(video), "the frames' order does not allow cutting at keyframes");
  }
  return video;
}

struct SegmentReader::State {
  FormatContextPtr format;
  int stream = -1;
  std::vector<SegmentPlan> segments;
  std::size_t next_segment = 0;
  int64_t next_packet = 0;  // index of the next packet to read from the file
  std::deque<std::pair<int64_t, PacketPtr>> buffered;
};

SegmentReader::SegmentReader(const std::string& path, const Limits& limits,
                             const SegmentedVideo& plan)
    : state_(std::make_unique<State>()) {
  state_->format = open_input(path, limits);
  state_->stream = video_stream_of(*state_->format);
  state_->segments = plan.segments;
}

SegmentReader::~SegmentReader() = default;

const AVCodecParameters& SegmentReader::parameters() const {
  return *state_->format->streams[state_->stream]->codecpar;
}

AVRational SegmentReader::time_base() const {
  return state_->format->streams[state_->stream]->time_base;
}

std::optional<std::vector<PacketPtr>> SegmentReader::next() {
  State& state = *state_;
  if (state.next_segment >= state.segments.size()) return std::nullopt;
  const SegmentPlan& plan = state.segments[state.next_segment++];
  while (state.next_packet < plan.end_packet) {
    PacketPtr packet = make_packet();
    if (!read_video_packet(*state.format, state.stream, *packet)) {
      throw MediaError("the file has fewer video packets than when it was planned");
    }
    state.buffered.emplace_back(state.next_packet++, std::move(packet));
  }
  std::vector<PacketPtr> packets;
  for (const auto& [index, packet] : state.buffered) {
    if (index < plan.first_packet || index >= plan.end_packet) continue;
    PacketPtr copy(av_packet_clone(packet.get()));
    if (!copy) throw std::bad_alloc();
    packets.push_back(std::move(copy));
  }
  // The next segment starts at its keyframe: what lies before it is read for the last time.
  const int64_t keep_from = state.next_segment < state.segments.size()
                                ? state.segments[state.next_segment].first_packet
                                : state.next_packet;
  while (!state.buffered.empty() && state.buffered.front().first < keep_from) {
    state.buffered.pop_front();
  }
  return packets;
}

SegmentDecoder::SegmentDecoder(const AVCodecParameters& parameters, AVRational time_base,
                               const Limits& limits, int threads)
    : time_base_(time_base) {
  if (parameters.codec_type != AVMEDIA_TYPE_VIDEO) throw MediaError("not a video stream");
  check_frame_size(parameters.width, parameters.height, limits);
  const AVCodec* codec = avcodec_find_decoder(parameters.codec_id);
  if (codec == nullptr) throw MediaError("the video codec is not supported");
  codec_.reset(avcodec_alloc_context3(codec));
  if (!codec_) throw std::bad_alloc();
  int result = avcodec_parameters_to_context(codec_.get(), &parameters);
  if (result < 0) throw MediaError("the video stream cannot be decoded: " + error_string(result));
  codec_->pkt_timebase = time_base;
  codec_->thread_count = threads;
  codec_->max_pixels = limits.max_pixels;
  result = avcodec_open2(codec_.get(), codec, nullptr);
  if (result < 0) throw MediaError("the video stream cannot be decoded: " + error_string(result));
}

SegmentDecoder::~SegmentDecoder() = default;

int64_t SegmentDecoder::decode(const SegmentPlan& plan, const std::vector<PacketPtr>& packets,
                               const std::function<void(FramePtr)>& frame_out) {
  AVCodecContext& codec = *codec_;
  avcodec_flush_buffers(&codec);  // nothing of a previous segment is referenced
  int64_t given = 0;
  int errors_in_a_row = 0;
  damaged_packets_ = 0;
  const auto drain = [&] {
    while (true) {
      FramePtr frame = make_frame();
      const int result = avcodec_receive_frame(&codec, frame.get());
      if (result == AVERROR(EAGAIN) || result == AVERROR_EOF) return;
      if (result < 0) {  // a damaged picture: skipped, as the ventilator's decoder does
        if (++errors_in_a_row > kMaxErrorsInARow) {
          throw MediaError("decoding a segment failed: " + error_string(result));
        }
        ++damaged_packets_;
        continue;
      }
      errors_in_a_row = 0;
      const int64_t pts = frame->best_effort_timestamp;
      if (pts == kNoPts || pts < plan.start_pts || pts >= plan.end_pts) continue;
      frame->pts = pts;
      ++given;
      frame_out(std::move(frame));
    }
  };
  for (const PacketPtr& packet : packets) {
    while (true) {
      const int result = avcodec_send_packet(&codec, packet.get());
      if (result == AVERROR(EAGAIN)) {  // output first, then the same packet again
        drain();
        continue;
      }
      // A damaged packet is lost; the next may decode.
      if (result < 0 && result != AVERROR_INVALIDDATA) {
        throw MediaError("decoding a segment failed: " + error_string(result));
      }
      if (result < 0) ++damaged_packets_;
      break;
    }
    drain();
  }
  avcodec_send_packet(&codec, nullptr);
  drain();
  avcodec_flush_buffers(&codec);
  return given;
}

}  // namespace framepipe::media
