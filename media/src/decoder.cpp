#include "framepipe/media/decoder.hpp"

#include <array>
#include <cstdio>
#include <string>
#include <utility>

extern "C" {
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace framepipe::media {

namespace {

// The 8-bit layouts a worker converts itself; anything else is converted here.
constexpr std::array kWorkerFormats = {
    AV_PIX_FMT_YUV420P, AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUV422P, AV_PIX_FMT_YUVJ422P,
    AV_PIX_FMT_YUV444P, AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_NV12,    AV_PIX_FMT_NV21,
    AV_PIX_FMT_GRAY8,   AV_PIX_FMT_RGB24,    AV_PIX_FMT_BGR24,   AV_PIX_FMT_RGBA,
    AV_PIX_FMT_BGRA,    AV_PIX_FMT_ARGB,     AV_PIX_FMT_ABGR,    AV_PIX_FMT_0RGB,
    AV_PIX_FMT_RGB0,    AV_PIX_FMT_0BGR,     AV_PIX_FMT_BGR0,
};

// receive_frame errors in a row without new input before decoding is given up; a damaged packet
// yields one error, so only a decoder that no longer makes progress gets here.
constexpr int kMaxErrorsWithoutInput = 256;

bool is_worker_format(int format) {
  for (AVPixelFormat worker_format : kWorkerFormats) {
    if (format == worker_format) return true;
  }
  return false;
}

bool is_full_range_format(int format) {
  return format == AV_PIX_FMT_YUVJ420P || format == AV_PIX_FMT_YUVJ422P ||
         format == AV_PIX_FMT_YUVJ444P || format == AV_PIX_FMT_YUVJ440P ||
         format == AV_PIX_FMT_YUVJ411P;
}

bool is_rgb_like(int format) {
  const AVPixFmtDescriptor* descriptor = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(format));
  return descriptor != nullptr &&
         (descriptor->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) != 0;
}

std::string pixel_format_name(int format) {
  const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(format));
  return name != nullptr ? name : "unknown";
}

std::string clock_time(double seconds) {
  const auto total = static_cast<long long>(seconds);
  char text[64];
  std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
  return text;
}

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

bool valid_rate(AVRational rate) {
  return rate.num > 0 && rate.den > 0;
}

struct ScalerDeleter {
  void operator()(SwsContext* context) const { sws_freeContext(context); }
};

}  // namespace

struct Decoder::State {
  Limits limits;
  FormatContextPtr format;     // owns the streams
  AVStream* stream = nullptr;  // the decoded video stream, owned by format
  CodecContextPtr codec;
  PacketPtr packet = make_packet();
  std::unique_ptr<SwsContext, ScalerDeleter> scaler;  // made when the first frame needs it
  // What the scaler was made for. sws_getCachedContext cannot be used: it never matches a
  // full-range ("yuvj") source and would rebuild the context for every frame.
  int scaler_width = 0;
  int scaler_height = 0;
  int scaler_format = AV_PIX_FMT_NONE;
  AVPixelFormat output_format = AV_PIX_FMT_NONE;  // decided at open, or at the first frame
  int64_t frame_ticks = 1;  // one frame duration in the stream time base, for missing timestamps
  int64_t previous_pts = AV_NOPTS_VALUE;
  int64_t first_pts = AV_NOPTS_VALUE;
  bool flushing = false;  // the end of input was sent to the decoder

  // Reads packets until one reaches the decoder or the input ends. Returns damaged packets.
  long long feed_decoder();
  // Timestamps, limits and pixel format of one decoded frame.
  FramePtr finish_frame(FramePtr frame, VideoInfo& info, long long frames_decoded);
  FramePtr convert(const AVFrame& frame, VideoInfo& info);
  // Fixes the format of every frame from the decoder's native one, and the colour it implies.
  void choose_output_format(int native_format, VideoInfo& info);
};

Decoder::Decoder(const std::string& path, const Limits& limits, int threads,
                 const std::string& shared_prefix)
    : state_(std::make_unique<State>()) {
  State& state = *state_;
  state.limits = limits;
  state.format = open_input(path, limits);
  AVFormatContext& format = *state.format;

  int audio_index = -1;
  for (unsigned index = 0; index < format.nb_streams; ++index) {
    AVStream* stream = format.streams[index];
    const AVMediaType type = stream->codecpar->codec_type;
    if (type == AVMEDIA_TYPE_VIDEO && state.stream == nullptr &&
        (stream->disposition & AV_DISPOSITION_ATTACHED_PIC) == 0) {
      state.stream = stream;
    } else if (type == AVMEDIA_TYPE_AUDIO && audio_index < 0) {
      audio_index = static_cast<int>(index);
    }
  }
  if (state.stream == nullptr) throw MediaError("the file has no video stream");
  for (unsigned index = 0; index < format.nb_streams; ++index) {
    if (format.streams[index] != state.stream) format.streams[index]->discard = AVDISCARD_ALL;
  }

  AVStream& stream = *state.stream;
  const AVCodecParameters& parameters = *stream.codecpar;
  info_.container = format.iformat->name;
  info_.codec = avcodec_get_name(parameters.codec_id);
  info_.pixel_format = pixel_format_name(parameters.format);
  info_.time_base = stream.time_base;
  info_.width = parameters.width;
  info_.height = parameters.height;
  info_.sample_aspect = av_guess_sample_aspect_ratio(&format, &stream, nullptr);
  if (audio_index >= 0) {
    info_.has_audio = true;
    info_.audio_codec = avcodec_get_name(format.streams[audio_index]->codecpar->codec_id);
  }

  if (!valid_rate(stream.time_base)) throw MediaError("the video stream has no valid time base");
  if (parameters.width <= 0 || parameters.height <= 0) {
    // open_input's decoders leave it unknown when the picture is beyond the limit.
    throw MediaError("the video stream's frame size is unknown or exceeds the limit of " +
                     std::to_string(limits.max_pixels) + " pixels");
  }
  check_frame_size(parameters.width, parameters.height, limits);

  if (stream.duration != AV_NOPTS_VALUE && stream.duration > 0) {
    info_.duration_seconds = static_cast<double>(stream.duration) * av_q2d(stream.time_base);
  } else if (format.duration != AV_NOPTS_VALUE && format.duration > 0) {
    info_.duration_seconds = static_cast<double>(format.duration) / AV_TIME_BASE;
  }
  if (info_.duration_seconds > limits.max_duration_seconds) {
    throw MediaError("the video is " + clock_time(info_.duration_seconds) + " long; the limit is " +
                     clock_time(limits.max_duration_seconds));
  }

  if (valid_rate(stream.avg_frame_rate)) {
    if (av_q2d(stream.avg_frame_rate) > limits.max_frame_rate) {
      throw MediaError("frame rate " + number(av_q2d(stream.avg_frame_rate)) +
                       " exceeds the limit of " + number(limits.max_frame_rate));
    }
    info_.frame_rate = stream.avg_frame_rate;
  } else if (valid_rate(stream.r_frame_rate) &&
             av_q2d(stream.r_frame_rate) <= limits.max_frame_rate) {
    // r_frame_rate is libavformat's guess from the timestamps; a guess above the limit only says
    // that the rate is unknown.
    info_.frame_rate = stream.r_frame_rate;
  }
  if (valid_rate(info_.frame_rate)) {
    state.frame_ticks = av_rescale_q(1, av_inv_q(info_.frame_rate), stream.time_base);
    if (state.frame_ticks < 1) state.frame_ticks = 1;
  }

  if (stream.nb_frames > 0) {
    info_.frames_estimate = stream.nb_frames;
  } else if (valid_rate(info_.frame_rate) && info_.duration_seconds > 0) {
    info_.frames_estimate =
        static_cast<long long>(info_.duration_seconds * av_q2d(info_.frame_rate) + 0.5);
  }
  if (info_.frames_estimate > limits.max_frames) {
    throw MediaError("the video has about " + std::to_string(info_.frames_estimate) +
                     " frames; the limit is " + std::to_string(limits.max_frames));
  }

  const AVCodec* codec = avcodec_find_decoder(parameters.codec_id);
  if (codec == nullptr) throw MediaError("the video codec " + info_.codec + " is not supported");
  state.codec.reset(avcodec_alloc_context3(codec));
  if (!state.codec) throw std::bad_alloc();
  AVCodecContext& context = *state.codec;
  int result = avcodec_parameters_to_context(&context, &parameters);
  if (result < 0) throw MediaError("the video stream cannot be decoded: " + error_string(result));
  context.pkt_timebase = stream.time_base;
  context.thread_count = threads;
  context.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  context.max_pixels = limits.max_pixels;  // the decoder refuses larger frames before allocating
  if (!shared_prefix.empty()) {
    shared_ = std::make_unique<SharedFrames>(shared_prefix);
    shared_->attach(context);
  }
  result = avcodec_open2(&context, codec, nullptr);
  if (result < 0) throw MediaError("the video stream cannot be decoded: " + error_string(result));

  info_.color.space = parameters.color_space;
  info_.color.range = parameters.color_range;
  info_.color.primaries = parameters.color_primaries;
  info_.color.transfer = parameters.color_trc;
  if (parameters.format != AV_PIX_FMT_NONE) state.choose_output_format(parameters.format, info_);
}

void Decoder::State::choose_output_format(int native_format, VideoInfo& info) {
  output_format = is_worker_format(native_format) ? static_cast<AVPixelFormat>(native_format)
                                                  : AV_PIX_FMT_YUV420P;
  info.pixel_format = pixel_format_name(native_format);
  if (is_full_range_format(native_format)) info.color.range = AVCOL_RANGE_JPEG;
  if (output_format != native_format && is_rgb_like(native_format)) {
    // convert() turns these into BT.709 limited-range YUV.
    info.color.space = AVCOL_SPC_BT709;
    info.color.range = AVCOL_RANGE_MPEG;
  }
}

Decoder::~Decoder() = default;

FramePtr Decoder::next() {
  State& state = *state_;
  FramePtr frame = make_frame();
  int errors_without_input = 0;
  while (true) {
    const int result = avcodec_receive_frame(state.codec.get(), frame.get());
    if (result >= 0) {
      ++frames_decoded_;
      return state.finish_frame(std::move(frame), info_, frames_decoded_);
    }
    if (result == AVERROR_EOF) {
      if (frames_decoded_ == 0) throw MediaError("no picture of the video could be decoded");
      return nullptr;
    }
    if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
    if (result != AVERROR(EAGAIN)) {
      // A damaged packet surfacing from a decoder thread: skip it as ffmpeg does.
      ++damaged_packets_;
      if (++errors_without_input > kMaxErrorsWithoutInput) {
        throw MediaError("the video stream cannot be decoded: " + error_string(result));
      }
      continue;
    }
    if (state.flushing) {
      // A flushed decoder never asks for more input; stop rather than loop.
      throw MediaError("the video decoder stopped without finishing the stream");
    }
    damaged_packets_ += state.feed_decoder();
    errors_without_input = 0;
  }
}

long long Decoder::State::feed_decoder() {
  long long damaged = 0;
  while (true) {
    int result = av_read_frame(format.get(), packet.get());
    if (result < 0) {
      if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
      // A read error ends the input, as in ffmpeg; the decoder returns what it holds.
      flushing = true;
      result = avcodec_send_packet(codec.get(), nullptr);
      if (result < 0 && result != AVERROR_EOF) {
        throw MediaError("the video decoder cannot finish: " + error_string(result));
      }
      return damaged;
    }
    if (packet->stream_index != stream->index) {
      av_packet_unref(packet.get());
      continue;
    }
    result = avcodec_send_packet(codec.get(), packet.get());
    av_packet_unref(packet.get());
    if (result >= 0) return damaged;
    if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
    ++damaged;  // AVERROR_INVALIDDATA and the like: this packet is lost, the next may decode
  }
}

FramePtr Decoder::State::finish_frame(FramePtr frame, VideoInfo& info, long long frames_decoded) {
  if (frames_decoded > limits.max_frames) {
    throw MediaError("the video has more than " + std::to_string(limits.max_frames) +
                     " frames, the limit");
  }
  check_frame_size(frame->width, frame->height, limits);

  int64_t pts = frame->best_effort_timestamp;
  if (pts == AV_NOPTS_VALUE) pts = previous_pts == AV_NOPTS_VALUE ? 0 : previous_pts + frame_ticks;
  frame->pts = pts;
  previous_pts = pts;
  if (first_pts == AV_NOPTS_VALUE) first_pts = pts;
  if (static_cast<double>(pts - first_pts) * av_q2d(info.time_base) > limits.max_duration_seconds) {
    throw MediaError("the video is longer than the limit of " +
                     clock_time(limits.max_duration_seconds));
  }

  if (output_format == AV_PIX_FMT_NONE) choose_output_format(frame->format, info);
  if (frame->format == output_format && frame->width == info.width &&
      frame->height == info.height) {
    return frame;
  }
  return convert(*frame, info);
}

// Converts a frame to the stream's output format and initial size, so that every frame a
// worker receives has the same layout even when the stream changes format or size midway.
FramePtr Decoder::State::convert(const AVFrame& frame, VideoInfo& info) {
  const auto source_format = static_cast<AVPixelFormat>(frame.format);
  if (sws_isSupportedInput(source_format) == 0) {
    throw MediaError("the video's pixel format " + pixel_format_name(frame.format) +
                     " cannot be converted");
  }
  if (!scaler || scaler_width != frame.width || scaler_height != frame.height ||
      scaler_format != frame.format) {
    scaler.reset(sws_getContext(frame.width, frame.height, source_format, info.width, info.height,
                                output_format, SWS_BICUBIC, nullptr, nullptr, nullptr));
    if (!scaler) {
      throw MediaError("the video's pixel format " + pixel_format_name(frame.format) +
                       " cannot be converted");
    }
    scaler_width = frame.width;
    scaler_height = frame.height;
    scaler_format = frame.format;
  }

  FramePtr converted = make_frame();
  int result = av_frame_copy_props(converted.get(), &frame);
  if (result < 0) throw std::bad_alloc();
  converted->format = output_format;
  converted->width = info.width;
  converted->height = info.height;
  result = av_frame_get_buffer(converted.get(), 0);
  if (result < 0) throw std::bad_alloc();

  // Keep the picture's matrix and range; RGB sources become BT.709 limited-range YUV.
  const bool source_full_range =
      frame.color_range == AVCOL_RANGE_JPEG || is_full_range_format(frame.format);
  const bool from_rgb = is_rgb_like(frame.format) && !is_rgb_like(output_format);
  const int source_space =
      frame.colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : frame.colorspace;
  const int target_space = from_rgb ? SWS_CS_ITU709 : source_space;
  const bool target_full_range =
      is_full_range_format(output_format) || (!from_rgb && source_full_range);
  sws_setColorspaceDetails(scaler.get(), sws_getCoefficients(source_space), source_full_range,
                           sws_getCoefficients(target_space), target_full_range, 0, 1 << 16,
                           1 << 16);
  const int height = sws_scale(scaler.get(), frame.data, frame.linesize, 0, frame.height,
                               converted->data, converted->linesize);
  if (height <= 0) throw MediaError("a video frame could not be converted");

  if (from_rgb) converted->colorspace = AVCOL_SPC_BT709;
  if (target_full_range) {
    converted->color_range = AVCOL_RANGE_JPEG;
  } else if (from_rgb) {
    converted->color_range = AVCOL_RANGE_MPEG;
  }
  return converted;
}

}  // namespace framepipe::media
