#include "framepipe/ventilator/av.hpp"

#include <new>
#include <string>

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/error.h>
}

namespace framepipe::media {

namespace {

// Demuxers that read only the one file they are given. Left out on purpose: hls, dash, concat,
// image2 (file name patterns), playlists and every network demuxer (they open other files or
// URLs), and rarely used legacy formats (less tested code facing untrusted bytes). The names are
// matched against each comma-separated part of a demuxer's name, so "mov" stands for
// "mov,mp4,m4a,3gp,3g2,mj2" and "matroska" for "matroska,webm".
constexpr const char* kFormatWhitelist =
    "mov,matroska,avi,flv,mpegts,mpeg,mpegvideo,ogg,asf,wav,mp3,aac,flac,h264,hevc,m4v,ivf,obu,"
    "nut,mxf,gif,dv,yuv4mpegpipe";

// Owns an AVDictionary that libav calls may replace through the address.
class Options {
 public:
  Options() = default;
  ~Options() { av_dict_free(&dictionary_); }
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;

  void set(const char* key, const std::string& value) {
    if (av_dict_set(&dictionary_, key, value.c_str(), 0) < 0) throw std::bad_alloc();
  }
  AVDictionary** address() { return &dictionary_; }

 private:
  AVDictionary* dictionary_ = nullptr;
};

}  // namespace

void FormatContextDeleter::operator()(AVFormatContext* context) const {
  avformat_close_input(&context);
}

void CodecContextDeleter::operator()(AVCodecContext* context) const {
  avcodec_free_context(&context);
}

void FrameDeleter::operator()(AVFrame* frame) const {
  av_frame_free(&frame);
}

void PacketDeleter::operator()(AVPacket* packet) const {
  av_packet_free(&packet);
}

FramePtr make_frame() {
  FramePtr frame(av_frame_alloc());
  if (!frame) throw std::bad_alloc();
  return frame;
}

PacketPtr make_packet() {
  PacketPtr packet(av_packet_alloc());
  if (!packet) throw std::bad_alloc();
  return packet;
}

std::string error_string(int errnum) {
  char buffer[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(errnum, buffer, sizeof buffer);
  return buffer;
}

FormatContextPtr open_input(const std::string& path, const Limits& limits) {
  Options options;
  options.set("format_whitelist", kFormatWhitelist);
  options.set("protocol_whitelist", "file");
  options.set("probesize", std::to_string(limits.probe_bytes));
  options.set("analyzeduration", std::to_string(limits.analyze_microseconds));

  // The "file:" prefix keeps a name with a colon from being read as another protocol.
  const std::string url = "file:" + path;
  AVFormatContext* raw_context = nullptr;
  int result = avformat_open_input(&raw_context, url.c_str(), nullptr, options.address());
  if (result < 0) {  // avformat_open_input freed the context
    if (result == AVERROR(ENOENT) || result == AVERROR(EACCES)) {
      throw MediaError("cannot open the file: " + error_string(result));
    }
    if (result == AVERROR(EINVAL)) {
      // What libavformat answers for a format outside the whitelist (a playlist, for one).
      throw MediaError("not a video file we can read: unsupported container format");
    }
    throw MediaError("not a video file we can read: " + error_string(result));
  }
  FormatContextPtr context(raw_context);

  result = avformat_find_stream_info(context.get(), nullptr);
  if (result < 0) throw MediaError("not a video file we can read: " + error_string(result));
  if (context->nb_streams > limits.max_streams) {
    throw MediaError("the file has " + std::to_string(context->nb_streams) +
                     " streams; the limit is " + std::to_string(limits.max_streams));
  }
  return context;
}

}  // namespace framepipe::media
