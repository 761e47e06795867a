// Encodes yuv420p frames into packets with the video encoder of a job's output format (libx264
// for MP4, MKV, MOV and AVI, VP9 for WebM: protocol/formats.hpp) and the job's settings. The one
// video encoder of framepipe: the sink's Writer encodes through it, and so do workers that encode
// segments, so that a job's pictures are encoded the same way wherever that happens.
//
// Time: frames come with pts in the source's time base; the encoder counts in a finer one,
// encoder_time_base() (at least 10 000 ticks a second, a power-of-two multiple of the source's
// denominator), so every source time is exact and a frame moved after the one before moves by at
// most 0.1 ms. A packet leaves once its duration is known: when the next frame arrives (the
// distance to it) or when the encoder is finished (the duration given then).
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "framepipe/media/av.hpp"
#include "framepipe/protocol/color.hpp"
#include "framepipe/protocol/formats.hpp"

namespace framepipe::media {

struct EncoderSettings {
  std::string preset = "veryfast";  // x264 preset (formats with takes_job_quality only)
  int crf = 20;                     // 0..51, x264's (the same formats)
  int threads = 0;                  // 0: libx264 chooses
};

struct VideoEncoderSpec {
  int width = 0;   // even
  int height = 0;  // even
  AVRational source_time_base{1, 25};
  AVRational frame_rate{25, 1};  // average rate, a hint for rate control; {0,1}: unknown
  protocol::ColorInfo color;
  AVRational sample_aspect{0, 1};  // {0,1}: unknown
  EncoderSettings settings;
  bool global_header = true;                     // parameter sets out of band (MP4, Matroska)
  std::string format{protocol::kDefaultFormat};  // the output format: encoder and its options
  // The encoder's time base; {0,1}: encoder_time_base(source_time_base). A container without
  // timestamps of its own (AVI) counts in frames: 1/rate.
  AVRational time_base{0, 1};
  // The same frames give the same bytes from every encoder on every CPU with AVX2: for segments,
  // which workers encode apart and the sink joins. It costs x264 about 9% more CPU (it gives up
  // its AVX-512 code, which is not deterministic in Debian 12's x264).
  bool reproducible = false;
};

// The encoder's time base for frames timed in `source` (see above).
AVRational encoder_time_base(AVRational source);

// The stream parameters of what a VideoEncoder with this spec gives, with `extradata` (its
// parameter sets): for muxing packets encoded elsewhere (segments) as if encoded here.
// Throws MediaError.
void encoded_video_parameters(const VideoEncoderSpec& spec, const std::vector<uint8_t>& extradata,
                              AVCodecParameters& parameters);

class VideoEncoder {
 public:
  // Opens the format's video encoder. Throws MediaError (bad size, crf or preset; an audio format;
  // an encoder this FFmpeg lacks).
  explicit VideoEncoder(const VideoEncoderSpec& spec);

  const AVCodecContext& context() const { return *context_; }
  AVRational time_base() const { return context_->time_base; }

  // Encodes a yuv420p frame of the spec's size; its pts, in time_base(), must be above the
  // previous frame's. The frame is referenced, not copied; its picture type is ignored. Throws
  // MediaError.
  void send(const AVFrame& frame);
  // Flushes the encoder; the last frame lasts `last_duration` ticks. `between_packets` (if any)
  // runs after each packet the flush gives: an encoder that holds frames back (libvpx keeps 25)
  // encodes them all here, seconds of work that a worker must heartbeat through. Throws
  // MediaError.
  void finish(int64_t last_duration, const std::function<void()>& between_packets = {});
  // The next packet (decode order, timestamps and duration in time_base()) whose duration is
  // known, or nothing for now.
  std::optional<PacketPtr> next_packet();

  long long frames_sent() const { return frames_sent_; }
  long long packets_given() const { return packets_given_; }

 private:
  void drain(const std::function<void()>& between_packets = {});

  CodecContextPtr context_;
  std::deque<PacketPtr> waiting_;         // encoded, waiting for their durations
  std::map<int64_t, int64_t> durations_;  // pts -> duration
  int64_t last_pts_ = AV_NOPTS_VALUE;
  long long frames_sent_ = 0;
  long long packets_given_ = 0;
  bool finished_ = false;
};

}  // namespace framepipe::media
