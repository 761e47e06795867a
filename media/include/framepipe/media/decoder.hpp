// Decodes the first video stream of an untrusted file, frame by frame, with threaded decoding.
// Frames keep the decoder's native planes when they are plain 8-bit planar or packed data the
// workers can convert (yuv420p, yuvj420p, yuv422p, yuv444p, nv12, gray, rgb24, bgr24, rgba, ...);
// anything else (palettes, high bit depth, hardware, bitstream formats) is converted to yuv420p
// here, since a worker can only take the formats above.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "framepipe/media/av.hpp"
#include "framepipe/media/shared_frames.hpp"
#include "framepipe/protocol/color.hpp"

namespace framepipe::media {

struct VideoInfo {
  int width = 0;
  int height = 0;
  AVRational time_base{1, 1};      // of the video stream; frame pts are in this base
  AVRational frame_rate{0, 1};     // average (or guessed) rate; {0,1} when unknown
  AVRational sample_aspect{0, 1};  // pixel shape (container's, else codec's); {0,1} unknown
  long long frames_estimate = 0;   // nb_frames, or duration x rate; 0 when unknown
  double duration_seconds = 0;     // container or stream duration; 0 when unknown
  std::string container;           // demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  std::string codec;               // e.g. "h264"
  std::string pixel_format;        // decoder's native format name
  bool has_audio = false;
  std::string audio_codec;  // "" without audio
  protocol::ColorInfo color;
};

class Decoder {
 public:
  // Opens the file and the decoder. threads = 0 lets libavcodec choose (one per core). With a
  // shared-memory prefix, yuv420p pictures are decoded into shared memory (shared_frames()).
  // Throws MediaError with a user-facing reason.
  Decoder(const std::string& path, const Limits& limits, int threads = 0,
          const std::string& shared_prefix = {});
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  const VideoInfo& info() const { return info_; }

  // The next frame in decode output order, or nullptr at the end of the stream. The frame's pts is
  // its best_effort_timestamp (in info().time_base; a frame without any timestamp gets the previous
  // one plus one frame duration), and its format is the one described above.
  // Damaged packets are skipped the way ffmpeg skips them (counted in damaged_packets()).
  // Throws MediaError when decoding cannot continue at all, or when a limit is exceeded
  // (frame size changing beyond max_pixels, more than max_frames frames).
  FramePtr next();

  long long frames_decoded() const { return frames_decoded_; }
  long long damaged_packets() const { return damaged_packets_; }
  // Where frames in shared memory are; null without a shared-memory prefix.
  const SharedFrames* shared_frames() const { return shared_.get(); }

 private:
  struct State;
  std::unique_ptr<SharedFrames> shared_;  // declared first: it outlives the decoder in state_
  std::unique_ptr<State> state_;
  VideoInfo info_;
  long long frames_decoded_ = 0;
  long long damaged_packets_ = 0;
};

}  // namespace framepipe::media
