#include "framepipe/media/poster.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "framepipe/protocol/planes.hpp"

extern "C" {
#include <libavutil/common.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace framepipe::media {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// decode_towards' target for "the first picture that decodes".
constexpr int64_t kFirstPicture = std::numeric_limits<int64_t>::min();

struct ScalerDeleter {
  void operator()(SwsContext* context) const { sws_freeContext(context); }
};

// What one poster may still cost: steps (packets of the decoded stream, and decoding errors, so
// that a decoder that only fails stops too) and wall time, which every packet read is checked
// against, whatever its stream.
class Budget {
 public:
  explicit Budget(const PosterOptions& options)
      : steps_left_(options.max_packets),
        deadline_(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(options.max_seconds))) {}

  // Takes one step; false (and nothing taken) once the budget is spent.
  bool take_step() {
    if (steps_left_ <= 0 || !in_time()) {
      spent_ = true;
      return false;
    }
    --steps_left_;
    return true;
  }
  // False once the time is up.
  bool in_time() {
    if (Clock::now() >= deadline_) spent_ = true;
    return !spent_;
  }
  bool spent() const { return spent_; }

 private:
  int steps_left_;
  Clock::time_point deadline_;
  bool spent_ = false;
};

struct Picture {
  FramePtr frame;
  AVRational sample_aspect{0, 1};  // {0,1}: unknown, square pixels assumed
  bool from_cover = false;
  double time_seconds = 0;
};

std::string errno_text(int error) {
  return std::generic_category().message(error);
}

std::string seconds_text(double seconds) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3g s", seconds);
  return text;
}

bool is_cover(const AVStream& stream) {
  return (stream.disposition & AV_DISPOSITION_ATTACHED_PIC) != 0;
}

// The layout of a full-range ("yuvj") format without its range, or the format itself. swscale
// takes the range apart (sws_setColorspaceDetails) and warns about the yuvj names.
AVPixelFormat without_range(AVPixelFormat format) {
  switch (format) {
    case AV_PIX_FMT_YUVJ420P:
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      return AV_PIX_FMT_YUV411P;
    default:
      return format;
  }
}

std::string pixel_format_name(int format) {
  const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(format));
  return name != nullptr ? name : "unknown";
}

void check_options(const PosterOptions& options, const fs::path& jpeg_out) {
  const auto dimension = [](int value) { return value >= 2 && value <= protocol::kMaxDimension; };
  if (!dimension(options.max_width) || !dimension(options.max_height)) {
    throw std::invalid_argument("a poster's box must be 2 to " +
                                std::to_string(protocol::kMaxDimension) + " pixels each way");
  }
  if (options.jpeg_qscale < 2 || options.jpeg_qscale > 31) {
    throw std::invalid_argument("a poster's jpeg_qscale must be 2 to 31");
  }
  // Written as negations so that NaN fails them.
  if (!(options.position >= 0 && options.position <= 1) || !(options.max_seek_seconds >= 0) ||
      !std::isfinite(options.max_seek_seconds) || !(options.min_seek_duration_seconds >= 0)) {
    throw std::invalid_argument("a poster's position must be 0 to 1, its seek limits finite");
  }
  if (options.max_packets < 1 || !(options.max_seconds > 0 && options.max_seconds <= 3600)) {
    throw std::invalid_argument("a poster's budget must be a packet or more and 0 to 3600 s");
  }
  if (options.limits.max_pixels < 1 || options.limits.max_pixels > protocol::kMaxPixels) {
    throw std::invalid_argument("a poster's pixel limit must be 1 to protocol::kMaxPixels");
  }
  if (jpeg_out.filename().empty()) {
    throw std::invalid_argument("a poster's path must name a file: " + jpeg_out.string());
  }
}

// The decoder of `stream`, one thread (the head has other work), refusing pictures beyond the
// pixel limit before allocating them. Throws MediaError.
CodecContextPtr open_decoder(const AVStream& stream, const Limits& limits, const char* what) {
  const AVCodecParameters& parameters = *stream.codecpar;
  const AVCodec* codec = avcodec_find_decoder(parameters.codec_id);
  if (codec == nullptr) {
    throw MediaError(std::string("the ") + what + "'s codec " +
                     avcodec_get_name(parameters.codec_id) + " is not supported");
  }
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) throw std::bad_alloc();
  int result = avcodec_parameters_to_context(context.get(), &parameters);
  if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
  if (result < 0) {
    throw MediaError(std::string("the ") + what + " cannot be decoded: " + error_string(result));
  }
  context->pkt_timebase = stream.time_base;
  context->thread_count = 1;
  context->max_pixels = limits.max_pixels;
  result = avcodec_open2(context.get(), codec, nullptr);
  if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
  if (result < 0) {
    throw MediaError(std::string("the ") + what + " cannot be decoded: " + error_string(result));
  }
  return context;
}

double duration_seconds(const AVFormatContext& format, const AVStream& stream) {
  if (stream.duration != AV_NOPTS_VALUE && stream.duration > 0) {
    return static_cast<double>(stream.duration) * av_q2d(stream.time_base);
  }
  if (format.duration != AV_NOPTS_VALUE && format.duration > 0) {
    return static_cast<double>(format.duration) / AV_TIME_BASE;
  }
  return 0;
}

// Decodes `stream` from where the demuxer stands; after a seek (`from_keyframe`), from the first
// keyframe on, since some demuxers (MPEG-TS) seek to any packet and the pictures decoded from
// there would be made of missing references. Returns the first picture whose timestamp is
// target_pts or later (kFirstPicture: the first that decodes), else the last one before it when
// the input or the budget ends first, else null; null too when a seek's first picture is already
// past the target. Damaged packets are skipped.
FramePtr decode_towards(AVFormatContext& format, const AVStream& stream, AVCodecContext& codec,
                        int64_t target_pts, bool from_keyframe, const Limits& limits,
                        Budget& budget) {
  PacketPtr packet = make_packet();
  FramePtr frame = make_frame();
  FramePtr latest;  // only ever one picture held, however far the target
  bool flushing = false;
  bool keyframe_seen = !from_keyframe;
  while (true) {
    int result = avcodec_receive_frame(&codec, frame.get());
    if (result >= 0) {
      check_frame_size(frame->width, frame->height, limits);
      const int64_t pts = frame->best_effort_timestamp;
      if (target_pts == kFirstPicture || (pts != AV_NOPTS_VALUE && pts >= target_pts)) {
        // A seek's first picture after the target: it overshot, as seeks that search timestamps
        // in the file (MPEG-TS, MPEG-PS) can. No picture, so that the caller decodes from the
        // start instead.
        if (from_keyframe && !latest && pts > target_pts) return nullptr;
        return frame;
      }
      latest = std::move(frame);
      frame = make_frame();
      continue;
    }
    if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
    if (result == AVERROR_EOF) return latest;
    if (result != AVERROR(EAGAIN) || flushing) {
      // A damaged packet surfacing; a flushed decoder asking for more would loop, the budget ends
      // both.
      if (!budget.take_step()) return latest;
      continue;
    }
    // Until a packet of the stream reaches the decoder. Other streams' packets are read and
    // dropped here rather than discarded by the demuxer, which would skip them in a loop of its
    // own that no budget bounds (MPEG-TS, for one, reads through them).
    while (true) {
      if (!budget.in_time()) return latest;
      result = av_read_frame(&format, packet.get());
      if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
      if (result < 0) {
        // The end of the input, or a read error ending it as ffmpeg ends it: the decoder gives
        // what it holds.
        flushing = true;
        avcodec_send_packet(&codec, nullptr);
        break;
      }
      const bool ours = packet->stream_index == stream.index;
      keyframe_seen = keyframe_seen || (ours && (packet->flags & AV_PKT_FLAG_KEY) != 0);
      if (!ours || !keyframe_seen) {
        av_packet_unref(packet.get());
        if (ours && !budget.take_step()) return latest;
        continue;
      }
      if (!budget.take_step()) return latest;
      result = avcodec_send_packet(&codec, packet.get());
      av_packet_unref(packet.get());
      if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
      break;  // sent, or a damaged packet lost: the next may decode
    }
  }
}

// One pass over the video stream `index` of `format` with a decoder of its own, from where the
// demuxer stands or, with `seek`, from the keyframe before target_pts. Null when the seek fails or
// nothing decodes. Throws MediaError.
FramePtr decode_video(AVFormatContext& format, int index, int64_t target_pts, bool seek,
                      const PosterOptions& options, Budget& budget) {
  const AVStream& stream = *format.streams[index];
  CodecContextPtr codec = open_decoder(stream, options.limits, "video");
  if (seek && av_seek_frame(&format, index, target_pts, AVSEEK_FLAG_BACKWARD) < 0) return nullptr;
  return decode_towards(format, stream, *codec, target_pts, seek, options.limits, budget);
}

// The picture of video stream `index` at the poster's position. `format` may be replaced by the
// file opened again. Throws MediaError.
Picture video_picture(FormatContextPtr& format, int index, const std::string& path,
                      const PosterOptions& options, Budget& budget) {
  AVStream* stream = format->streams[index];
  if (stream->time_base.num <= 0 || stream->time_base.den <= 0) {
    throw MediaError("the video stream has no valid time base");
  }
  const int64_t start = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;
  const double duration = duration_seconds(*format, *stream);
  int64_t target_pts = kFirstPicture;
  if (duration >= options.min_seek_duration_seconds && options.position > 0) {
    const double seconds = std::min(duration * options.position, options.max_seek_seconds);
    const int64_t offset =
        av_rescale_q(std::llround(seconds * AV_TIME_BASE), AV_TIME_BASE_Q, stream->time_base);
    target_pts = av_sat_add64(start, offset);
    if (target_pts == kFirstPicture) ++target_pts;  // a hostile start time is still a target
  }

  const bool seek = target_pts != kFirstPicture;
  FramePtr frame = decode_video(*format, index, target_pts, seek, options, budget);
  if (!frame && seek && !budget.spent()) {
    // The seek failed or gave nothing: decode from the start towards the target, with what is
    // left of the budget (the first picture that decodes, at least). Opened again, since a seek
    // that failed may have left the demuxer anywhere.
    format = open_input(path, options.limits);
    if (static_cast<unsigned>(index) >= format->nb_streams ||
        format->streams[index]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
      throw MediaError("the file changed while its poster was made");
    }
    stream = format->streams[index];
    frame = decode_video(*format, index, target_pts, false, options, budget);
  }
  if (!frame) {
    if (budget.spent()) {
      throw MediaError("no picture of the video decoded within the poster's budget of " +
                       std::to_string(options.max_packets) + " packets and " +
                       seconds_text(options.max_seconds));
    }
    throw MediaError("no picture of the video could be decoded");
  }

  Picture picture;
  picture.sample_aspect = av_guess_sample_aspect_ratio(format.get(), stream, frame.get());
  const int64_t pts = frame->best_effort_timestamp;
  if (pts != AV_NOPTS_VALUE && pts > start) {
    picture.time_seconds =
        static_cast<double>(av_sat_sub64(pts, start)) * av_q2d(stream->time_base);
  }
  picture.frame = std::move(frame);
  return picture;
}

// The attached picture of `stream` (cover art), decoded. Throws MediaError.
Picture cover_picture(AVFormatContext& format, AVStream& stream, const Limits& limits) {
  const AVPacket& packet = stream.attached_pic;
  if (packet.data == nullptr || packet.size <= 0) throw MediaError("the cover picture is empty");
  const AVCodecParameters& parameters = *stream.codecpar;
  check_frame_size(parameters.width, parameters.height, limits);
  CodecContextPtr codec = open_decoder(stream, limits, "cover picture");
  int result = avcodec_send_packet(codec.get(), &packet);
  if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
  if (result >= 0) result = avcodec_send_packet(codec.get(), nullptr);
  FramePtr frame = make_frame();
  if (result >= 0) result = avcodec_receive_frame(codec.get(), frame.get());
  if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
  if (result < 0) {
    throw MediaError(
        "the cover picture cannot be decoded: " +
        (result == AVERROR_EOF ? std::string("no picture in it") : error_string(result)));
  }
  check_frame_size(frame->width, frame->height, limits);

  Picture picture;
  picture.sample_aspect = av_guess_sample_aspect_ratio(&format, &stream, frame.get());
  picture.from_cover = true;
  picture.frame = std::move(frame);
  return picture;
}

// The picture of `path` a poster shows: the best video stream's, else the first cover's (also
// when the video's does not decode); nothing when the file has neither. Throws MediaError.
std::optional<Picture> read_picture(const std::string& path, const PosterOptions& options,
                                    Budget& budget) {
  FormatContextPtr format = open_input(path, options.limits);
  int video = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (video >= 0 && is_cover(*format->streams[video])) video = -1;
  int cover = -1;
  for (unsigned index = 0; index < format->nb_streams; ++index) {
    const AVStream& stream = *format->streams[index];
    if (stream.codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
    if (is_cover(stream)) {
      if (cover < 0) cover = static_cast<int>(index);
    } else if (video < 0) {
      video = static_cast<int>(index);
    }
  }
  if (video < 0 && cover < 0) return std::nullopt;
  if (video >= 0) {
    try {
      return video_picture(format, video, path, options, budget);
    } catch (const MediaError&) {
      // A file reopened midway may differ: its cover is used only if it is still one.
      if (cover < 0 || static_cast<unsigned>(cover) >= format->nb_streams ||
          !is_cover(*format->streams[cover])) {
        throw;
      }
    }
  }
  return cover_picture(*format, *format->streams[cover], options.limits);
}

// `picture` scaled to `size` in full-range BT.601 yuvj420p, what JPEG holds. Throws MediaError
// for a pixel format swscale does not take.
FramePtr scale_picture(const AVFrame& picture, PosterSize size) {
  const auto format = static_cast<AVPixelFormat>(picture.format);
  const AVPixelFormat source_format = without_range(format);
  if (sws_isSupportedInput(source_format) == 0) {
    throw MediaError("the picture's pixel format " + pixel_format_name(picture.format) +
                     " cannot be converted");
  }
  // Bicubic weighs every source pixel under a destination pixel when shrinking, so a 1080p picture
  // made 320 wide is not aliased.
  std::unique_ptr<SwsContext, ScalerDeleter> scaler(sws_getContext(
      picture.width, picture.height, source_format, size.width, size.height, AV_PIX_FMT_YUV420P,
      SWS_BICUBIC | SWS_ACCURATE_RND, nullptr, nullptr, nullptr));
  if (!scaler) {
    throw MediaError("the picture's pixel format " + pixel_format_name(picture.format) +
                     " cannot be converted");
  }
  const bool source_full_range = picture.color_range == AVCOL_RANGE_JPEG || source_format != format;
  const int source_space =
      picture.colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : picture.colorspace;
  // To JPEG's colours: BT.601 full range (yuv420p's layout, labelled yuvj420p for the encoder).
  sws_setColorspaceDetails(scaler.get(), sws_getCoefficients(source_space), source_full_range,
                           sws_getCoefficients(SWS_CS_ITU601), 1, 0, 1 << 16, 1 << 16);

  FramePtr scaled = make_frame();
  scaled->format = AV_PIX_FMT_YUVJ420P;
  scaled->width = size.width;
  scaled->height = size.height;
  scaled->color_range = AVCOL_RANGE_JPEG;
  scaled->colorspace = AVCOL_SPC_BT470BG;
  if (av_frame_get_buffer(scaled.get(), 0) < 0) throw std::bad_alloc();
  const int rows = sws_scale(scaler.get(), picture.data, picture.linesize, 0, picture.height,
                             scaled->data, scaled->linesize);
  if (rows <= 0) throw MediaError("the picture could not be scaled");
  return scaled;
}

// `picture` (yuvj420p) as a baseline JPEG, or nothing with the reason in `why`.
std::optional<std::vector<uint8_t>> encode_jpeg(const AVFrame& picture, int qscale,
                                                std::string& why) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
  if (codec == nullptr) {
    why = "this libavcodec has no mjpeg encoder";
    return std::nullopt;
  }
  CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) throw std::bad_alloc();
  context->width = picture.width;
  context->height = picture.height;
  context->pix_fmt = AV_PIX_FMT_YUVJ420P;
  context->color_range = AVCOL_RANGE_JPEG;
  context->time_base = AVRational{1, 25};  // required, meaningless for one picture
  context->thread_count = 1;
  // A fixed quantiser: the size follows the picture, no rate control over one frame.
  context->flags |= AV_CODEC_FLAG_QSCALE;
  context->global_quality = qscale * FF_QP2LAMBDA;
  int result = avcodec_open2(context.get(), codec, nullptr);
  if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
  if (result < 0) {
    why = "the JPEG encoder cannot start: " + error_string(result);
    return std::nullopt;
  }

  FramePtr frame = make_frame();
  if (av_frame_ref(frame.get(), &picture) < 0) throw std::bad_alloc();
  frame->quality = context->global_quality;
  frame->pts = 0;
  PacketPtr packet = make_packet();
  result = avcodec_send_frame(context.get(), frame.get());
  if (result >= 0) result = avcodec_send_frame(context.get(), nullptr);
  if (result >= 0) result = avcodec_receive_packet(context.get(), packet.get());
  if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
  if (result < 0) {
    why = "the JPEG encoder failed: " + error_string(result);
    return std::nullopt;
  }
  return std::vector<uint8_t>(packet->data, packet->data + packet->size);
}

// Writes `bytes` to a new file beside `path` (created exclusively, so never another writer's),
// flushes it to the disk and renames it to `path`: a reader finds the old file or the whole new
// one, never a part. Returns why not; the temporary file is removed then.
std::optional<std::string> write_atomically(const fs::path& path, std::span<const uint8_t> bytes) {
  fs::path temporary;
  int descriptor = -1;
  for (int attempt = 0; descriptor < 0 && attempt < 16; ++attempt) {
    // Hidden, and unique by process, time and attempt; O_EXCL settles any collision.
    temporary =
        path.parent_path() / ("." + path.filename().string() + "." + std::to_string(::getpid()) +
                              "." + std::to_string(Clock::now().time_since_epoch().count()) + "." +
                              std::to_string(attempt) + ".part");
    descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (descriptor < 0 && errno != EEXIST) {
      return "cannot create the poster beside " + path.string() + ": " + errno_text(errno);
    }
  }
  if (descriptor < 0) return "cannot create a temporary file beside " + path.string();

  std::string why;
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t count = ::write(descriptor, bytes.data() + written, bytes.size() - written);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) {
      why = "cannot write the poster " + path.string() + ": " + errno_text(errno);
      break;
    }
    written += static_cast<std::size_t>(count);
  }
  // Flushed before the rename, so that after a crash the name holds a whole file or no new one.
  if (why.empty() && ::fsync(descriptor) != 0) {
    why = "cannot write the poster " + path.string() + ": " + errno_text(errno);
  }
  if (::close(descriptor) != 0 && why.empty()) {
    why = "cannot write the poster " + path.string() + ": " + errno_text(errno);
  }
  if (why.empty() && ::rename(temporary.c_str(), path.c_str()) != 0) {
    why = "cannot put the poster at " + path.string() + ": " + errno_text(errno);
  }
  if (why.empty()) return std::nullopt;
  ::unlink(temporary.c_str());
  return why;
}

}  // namespace

PosterSize poster_size(int width, int height, AVRational sample_aspect, int max_width,
                       int max_height) {
  if (width < 1 || height < 1 || max_width < 2 || max_height < 2) {
    throw std::invalid_argument("poster_size needs a picture and a box of 2x2 or more");
  }
  const double aspect = sample_aspect.num > 0 && sample_aspect.den > 0 ? av_q2d(sample_aspect) : 1;
  const double display_width = width * aspect;
  const double display_height = height;
  const double scale = std::min({1.0, max_width / display_width, max_height / display_height});
  // The nearest even size, at least 2, within the box and the displayed size (an odd limit loses
  // a pixel).
  const auto even = [](double value, double displayed, int box) {
    const double most = std::min(std::floor(displayed), static_cast<double>(box));
    const double upper = std::max(2.0, most - std::fmod(most, 2.0));
    return static_cast<int>(std::clamp(2 * std::round(value / 2), 2.0, upper));
  };
  return {even(display_width * scale, display_width, max_width),
          even(display_height * scale, display_height, max_height)};
}

PosterResult write_poster(const fs::path& input, const fs::path& jpeg_out,
                          const PosterOptions& options) {
  check_options(options, jpeg_out);
  Budget budget(options);
  Poster poster;
  FramePtr scaled;
  try {
    std::optional<Picture> picture = read_picture(input.string(), options, budget);
    if (!picture) {
      return NoPoster{NoPosterReason::no_picture,
                      "the file has no picture: no video stream and no cover"};
    }
    if (picture->frame->width < 1 || picture->frame->height < 1) {
      throw MediaError("the picture has no size");
    }
    const PosterSize size =
        poster_size(picture->frame->width, picture->frame->height, picture->sample_aspect,
                    options.max_width, options.max_height);
    scaled = scale_picture(*picture->frame, size);
    poster.width = size.width;
    poster.height = size.height;
    poster.from_cover = picture->from_cover;
    poster.time_seconds = picture->time_seconds;
  } catch (const MediaError& error) {
    return NoPoster{NoPosterReason::bad_input, error.what()};
  }

  std::string why;
  const std::optional<std::vector<uint8_t>> jpeg = encode_jpeg(*scaled, options.jpeg_qscale, why);
  if (!jpeg) return NoPoster{NoPosterReason::output_failed, why};
  if (std::optional<std::string> failure = write_atomically(jpeg_out, *jpeg)) {
    return NoPoster{NoPosterReason::output_failed, std::move(*failure)};
  }
  return poster;
}

}  // namespace framepipe::media
