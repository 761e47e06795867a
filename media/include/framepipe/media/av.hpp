// RAII owners for libav objects and the one safe way to open an untrusted input file.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>

#include "framepipe/protocol/planes.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
}

namespace framepipe::media {

struct FormatContextDeleter {
  void operator()(AVFormatContext* context) const;  // avformat_close_input
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* context) const;  // avcodec_free_context
};
struct FrameDeleter {
  void operator()(AVFrame* frame) const;  // av_frame_free
};
struct PacketDeleter {
  void operator()(AVPacket* packet) const;  // av_packet_free
};
using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

FramePtr make_frame();    // throws std::bad_alloc
PacketPtr make_packet();  // throws std::bad_alloc

// av_strerror as a string.
std::string error_string(int errnum);

// Thrown for any input the decoder refuses; what() is a sentence a user understands
// ("not a video file: ...", "frame size 100000x100000 exceeds the limit of ...").
class MediaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Limits applied to untrusted inputs before anything large is allocated.
struct Limits {
  long long max_pixels = protocol::kMaxPixels;  // per frame; never more (planes.hpp)
  double max_duration_seconds = 6 * 3600.0;     // of the video stream
  long long max_frames = 2'000'000;             // estimated from duration and rate
  unsigned max_streams = 32;
  double max_frame_rate = 1000.0;
  long long probe_bytes = 32LL * 1024 * 1024;   // probesize
  long long analyze_microseconds = 10'000'000;  // max_analyze_duration
};

// Throws MediaError ("frame size WxH exceeds the limit of N pixels") when a width x height
// picture is larger than limits.max_pixels.
void check_frame_size(long long width, long long height, const Limits& limits);

// Opens `path` for demuxing with a whitelist of ordinary container demuxers and the `file`
// protocol only (no playlists, concat lists or network), bounded probing, and stream info read
// with the pixel limit on the decoders it opens. A video stream whose header declares a picture
// beyond the limit is refused before any of it is decoded. Throws MediaError.
FormatContextPtr open_input(const std::string& path, const Limits& limits);

}  // namespace framepipe::media
