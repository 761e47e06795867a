// Cutting a video stream into segments without decoding it, and decoding one segment on its own.
//
// plan_segments() reads the video stream's packets once (no decoding: demuxing costs microseconds
// a packet) and cuts it at keyframes at least `seconds` apart. The cut is a function of the file
// and the setting only, so every run, whatever the workers, gives the same segments. A segment
// owns the frames whose timestamps lie in [start_pts, end_pts). It is decoded from its keyframe,
// and its packets run on past the next keyframe through that keyframe's leading pictures (an open
// GOP's B-frames shown before the keyframe but decoded after it): the decoder of segment k makes
// them from the references of segment k, and the decoder of segment k+1, which cannot, drops them
// with every other frame outside its range. Every frame therefore comes out of exactly one
// segment, at its own timestamp, whatever the GOP structure, and a variable frame rate stays
// variable. A stream where that cannot hold (a packet without a timestamp, two frames with the
// same one, a frame decoded before a keyframe but shown after it) is not cut: `refusal` says why,
// and the job goes frame by frame instead.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framepipe/media/av.hpp"

namespace framepipe::media {

struct SegmentPlan {
  int64_t index = 0;
  int64_t first_packet = 0;  // the video stream's packets in decode order: its keyframe
  int64_t end_packet = 0;    // one past its last packet (the next keyframe's leading pictures)
  int64_t start_pts = std::numeric_limits<int64_t>::min();  // its frames' timestamps: from here
  int64_t end_pts = std::numeric_limits<int64_t>::max();    // up to here (excluded)
  int64_t frames = 0;                                       // how many frames it gives
  int64_t bytes = 0;                                        // of its packets
};

struct SegmentedVideo {
  std::vector<SegmentPlan> segments;
  int64_t frames = 0;  // of the whole stream
  AVRational time_base{1, 1};
  std::string refusal;  // why the stream cannot be cut; "" when it can
};

// Limits of one segment, so that memory is bounded by a window of segments.
struct SegmentLimits {
  double seconds = 4;                      // cut at the first keyframe this long after the last cut
  int64_t max_bytes = 64LL * 1024 * 1024;  // a segment's packets; beyond it the stream is not cut
  int64_t max_packets = 4000;              // likewise (a message lists each packet)
};

// The video codecs whose streams are cut into segments (by libavcodec's name: "h264", "hevc",
// "vp9"...): those with keyframes a decoder can start from and one frame per packet. Workers
// decode only these; other streams go frame by frame.
bool is_segment_codec(std::string_view codec);

// Plans the segments of the file's first video stream. Throws MediaError when the file cannot be
// read at all (as Decoder does); a stream that cannot be cut gives a refusal instead.
SegmentedVideo plan_segments(const std::string& path, const Limits& limits,
                             const SegmentLimits& segment_limits);

// Reads the packets of planned segments, in order, in one pass over the file.
class SegmentReader {
 public:
  // Throws MediaError.
  SegmentReader(const std::string& path, const Limits& limits, const SegmentedVideo& plan);
  ~SegmentReader();
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;

  const AVCodecParameters& parameters() const;
  AVRational time_base() const;
  // The next segment's packets (decode order, from first_packet to end_packet), or nothing after
  // the last. Throws MediaError if the file changed since it was planned.
  std::optional<std::vector<PacketPtr>> next();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Decodes one segment with the same limits as the ventilator's decoder (the codec must be one
// libavcodec decodes, frames within max_pixels). One thread by default: a worker is one unit of
// compute.
class SegmentDecoder {
 public:
  // Throws MediaError for a codec that cannot be decoded.
  SegmentDecoder(const AVCodecParameters& parameters, AVRational time_base, const Limits& limits,
                 int threads = 1);
  ~SegmentDecoder();
  SegmentDecoder(const SegmentDecoder&) = delete;
  SegmentDecoder& operator=(const SegmentDecoder&) = delete;

  // Decodes the packets and hands each frame of the segment (pts in [start_pts, end_pts), pts set
  // to its best-effort timestamp) to `frame`, in presentation order. Returns how many; damaged
  // packets are skipped as the ventilator's decoder skips them. Throws MediaError.
  int64_t decode(const SegmentPlan& plan, const std::vector<PacketPtr>& packets,
                 const std::function<void(FramePtr)>& frame);
  // Damaged packets the last decode() skipped.
  int64_t damaged_packets() const { return damaged_packets_; }

 private:
  CodecContextPtr codec_;
  AVRational time_base_;
  int64_t damaged_packets_ = 0;
};

}  // namespace framepipe::media
