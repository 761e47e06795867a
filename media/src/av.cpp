#include "framepipe/media/av.hpp"

#include <new>
#include <string>
#include <vector>

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

// One dictionary of codec options per stream, the form avformat_find_stream_info takes.
class StreamOptions {
 public:
  explicit StreamOptions(unsigned streams) : dictionaries_(streams, nullptr) {}
  ~StreamOptions() {
    for (AVDictionary*& dictionary : dictionaries_) av_dict_free(&dictionary);
  }
  StreamOptions(const StreamOptions&) = delete;
  StreamOptions& operator=(const StreamOptions&) = delete;

  void set_all(const char* key, const std::string& value) {
    for (AVDictionary*& dictionary : dictionaries_) {
      if (av_dict_set(&dictionary, key, value.c_str(), 0) < 0) throw std::bad_alloc();
    }
  }
  AVDictionary** address() { return dictionaries_.data(); }

 private:
  std::vector<AVDictionary*> dictionaries_;
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

void check_frame_size(long long width, long long height, const Limits& limits) {
  if (width * height > limits.max_pixels) {
    throw MediaError("frame size " + std::to_string(width) + "x" + std::to_string(height) +
                     " exceeds the limit of " + std::to_string(limits.max_pixels) + " pixels");
  }
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

  const auto check_stream_count = [&] {
    if (context->nb_streams > limits.max_streams) {
      throw MediaError("the file has " + std::to_string(context->nb_streams) +
                       " streams; the limit is " + std::to_string(limits.max_streams));
    }
  };
  // Probing opens a decoder per stream: a file declaring thousands is refused before, and one
  // whose streams appear while probing (MPEG-TS) after.
  check_stream_count();
  for (unsigned index = 0; index < context->nb_streams; ++index) {
    const AVStream& stream = *context->streams[index];
    if (stream.codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        (stream.disposition & AV_DISPOSITION_ATTACHED_PIC) == 0) {
      check_frame_size(stream.codecpar->width, stream.codecpar->height, limits);
    }
  }
  // Reading stream info decodes a first frame of codecs whose headers do not give the pixel
  // format (PNG, for one): without the pixel limit, a huge picture that the container does not
  // declare would be allocated here. A decoder refusing it leaves the frame size unknown.
  StreamOptions stream_options(context->nb_streams);
  stream_options.set_all("max_pixels", std::to_string(limits.max_pixels));
  result = avformat_find_stream_info(context.get(), stream_options.address());
  if (result < 0) throw MediaError("not a video file we can read: " + error_string(result));
  check_stream_count();
  return context;
}

}  // namespace framepipe::media
