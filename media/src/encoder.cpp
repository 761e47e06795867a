#include "framepipe/media/encoder.hpp"

#include "framepipe/media/formats.hpp"

#include <algorithm>
#include <new>

extern "C" {
#include <libavutil/cpu.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

namespace framepipe::media {

namespace {

// The encoder's ticks are at most this long (the MP4 muxer's own rule for its video timescale).
constexpr int kMinTicksPerSecond = 10'000;

[[noreturn]] void fail(const std::string& what, int error) {
  if (error == AVERROR(ENOMEM)) throw std::bad_alloc();
  throw MediaError(what + ": " + error_string(error));
}

bool valid_rate(AVRational rate) {
  return rate.num > 0 && rate.den > 0;
}

// Colour code points that would mislabel a YUV stream become "unspecified".
void apply_color(const protocol::ColorInfo& color, AVCodecContext& context) {
  const auto space = static_cast<AVColorSpace>(color.space);
  context.colorspace =
      av_color_space_name(space) != nullptr && space != AVCOL_SPC_RGB && space != AVCOL_SPC_RESERVED
          ? space
          : AVCOL_SPC_UNSPECIFIED;
  context.color_range = color.range == AVCOL_RANGE_MPEG || color.range == AVCOL_RANGE_JPEG
                            ? static_cast<AVColorRange>(color.range)
                            : AVCOL_RANGE_UNSPECIFIED;
  const auto primaries = static_cast<AVColorPrimaries>(color.primaries);
  context.color_primaries = av_color_primaries_name(primaries) != nullptr &&
                                    primaries != AVCOL_PRI_RESERVED &&
                                    primaries != AVCOL_PRI_RESERVED0
                                ? primaries
                                : AVCOL_PRI_UNSPECIFIED;
  const auto transfer = static_cast<AVColorTransferCharacteristic>(color.transfer);
  context.color_trc = av_color_transfer_name(transfer) != nullptr &&
                              transfer != AVCOL_TRC_RESERVED && transfer != AVCOL_TRC_RESERVED0
                          ? transfer
                          : AVCOL_TRC_UNSPECIFIED;
}

// x264's AVX-512 code (in Debian 12's x264 r3095) reads memory it never wrote: the same frames
// gave different bytes from one encoder to the next in one process. A reproducible encoder is held
// to the AVX2 code on every CPU that has AVX2, as x86-64 CPUs since 2013 do (README, "Several
// machines"). A CPU without it uses what it has: deterministic, but not AVX2's bytes.
constexpr const char* kX264Instructions = "asm=AVX2";

bool has_x264_instructions() {
  const int flags = av_get_cpu_flags();
  const int needed = AV_CPU_FLAG_AVX2 | AV_CPU_FLAG_FMA3 | AV_CPU_FLAG_BMI2;
  return (flags & needed) == needed;
}

// Everything but the options: the size, time, colour and aspect of the spec.
void describe(const VideoEncoderSpec& spec, AVCodecContext& context) {
  context.width = spec.width;
  context.height = spec.height;
  context.pix_fmt = AV_PIX_FMT_YUV420P;
  context.time_base =
      valid_rate(spec.time_base) ? spec.time_base : encoder_time_base(spec.source_time_base);
  // Without a rate, libx264 takes one from the time base: the source's, as before the finer one.
  context.framerate =
      valid_rate(spec.frame_rate) ? spec.frame_rate : av_inv_q(spec.source_time_base);
  apply_color(spec.color, context);
  if (spec.sample_aspect.num > 0 && spec.sample_aspect.den > 0) {
    context.sample_aspect_ratio = spec.sample_aspect;
  }
  if (spec.global_header) context.flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
}

// The format's video encoder. Throws MediaError.
const AVCodec& video_encoder_of(const FormatCodecs& codecs) {
  if (codecs.video_encoder == nullptr) {
    throw MediaError("the format " + std::string(codecs.format->name) + " holds no video");
  }
  return *codecs.video_encoder;
}

}  // namespace

void encoded_video_parameters(const VideoEncoderSpec& spec, const std::vector<uint8_t>& extradata,
                              AVCodecParameters& parameters) {
  CodecContextPtr context(avcodec_alloc_context3(&video_encoder_of(resolve_format(spec.format))));
  if (!context) throw std::bad_alloc();
  describe(spec, *context);
  context->extradata =
      static_cast<uint8_t*>(av_mallocz(extradata.size() + AV_INPUT_BUFFER_PADDING_SIZE));
  if (context->extradata == nullptr) throw std::bad_alloc();
  std::copy(extradata.begin(), extradata.end(), context->extradata);
  context->extradata_size = static_cast<int>(extradata.size());
  const int result = avcodec_parameters_from_context(&parameters, context.get());
  if (result < 0) fail("cannot describe the video stream", result);
}

// It is the timescale the MP4 muxer chooses for `source` itself, so muxing rounds nothing; and a
// source tick is a whole number of these, which a 1/fps time base (AVI, MP4 with a timescale of
// 30) would not give for a moved frame.
AVRational encoder_time_base(AVRational source) {
  int den = source.den;
  while (den < kMinTicksPerSecond) den *= 2;
  return AVRational{1, den};
}

VideoEncoder::VideoEncoder(const VideoEncoderSpec& spec) {
  if (spec.width <= 0 || spec.height <= 0 || spec.width % 2 != 0 || spec.height % 2 != 0) {
    throw MediaError("the output frame size " + std::to_string(spec.width) + "x" +
                     std::to_string(spec.height) + " is not positive and even");
  }
  if (!valid_rate(spec.source_time_base)) throw MediaError("the output time base is not valid");
  if (spec.settings.crf < 0 || spec.settings.crf > 51) {
    throw MediaError("crf " + std::to_string(spec.settings.crf) + " is outside 0..51");
  }
  const FormatCodecs codecs = resolve_format(spec.format);
  const protocol::OutputFormat& format = *codecs.format;
  const AVCodec* codec = &video_encoder_of(codecs);
  context_.reset(avcodec_alloc_context3(codec));
  if (!context_) throw std::bad_alloc();
  AVCodecContext& context = *context_;
  describe(spec, context);
  int result = av_opt_set_int(&context, "threads", spec.settings.threads, 0);
  if (format.takes_job_quality) {
    if (result >= 0) {
      result = av_opt_set(context.priv_data, "preset", spec.settings.preset.c_str(), 0);
    }
    if (result >= 0) result = av_opt_set_double(context.priv_data, "crf", spec.settings.crf, 0);
  }
  if (result < 0) fail(std::string("cannot configure ") + codec->name, result);
  apply_encoder_options(context, format.video_options);
  if (spec.reproducible && std::string_view(codec->name) == "libx264" && has_x264_instructions()) {
    result = av_opt_set(context.priv_data, "x264-params", kX264Instructions, 0);
    if (result < 0) fail("cannot configure libx264", result);
  }
  result = avcodec_open2(&context, codec, nullptr);
  if (result < 0) {
    fail(std::string("cannot start ") + codec->name +
             (format.takes_job_quality ? " (preset \"" + spec.settings.preset + "\")" : ""),
         result);
  }
}

void VideoEncoder::send(const AVFrame& frame) {
  if (finished_) throw MediaError("a frame was sent to a finished encoder");
  if (frame.pts == AV_NOPTS_VALUE || (last_pts_ != AV_NOPTS_VALUE && frame.pts <= last_pts_)) {
    throw MediaError("frames must come with increasing timestamps");
  }
  FramePtr input = make_frame();
  int result = av_frame_ref(input.get(), &frame);
  if (result < 0) fail("cannot take the frame", result);
  input->pict_type = AV_PICTURE_TYPE_NONE;  // the source's frame types must not force x264's
  if (last_pts_ != AV_NOPTS_VALUE) durations_[last_pts_] = frame.pts - last_pts_;
  last_pts_ = frame.pts;
  result = avcodec_send_frame(context_.get(), input.get());
  if (result < 0) fail("the video encoder refused a frame", result);
  ++frames_sent_;
  drain();
}

void VideoEncoder::finish(int64_t last_duration, const std::function<void()>& between_packets) {
  if (finished_) return;
  finished_ = true;
  if (last_pts_ != AV_NOPTS_VALUE) durations_[last_pts_] = last_duration > 0 ? last_duration : 1;
  const int result = avcodec_send_frame(context_.get(), nullptr);
  if (result < 0) fail("cannot flush the video encoder", result);
  drain(between_packets);
}

std::optional<PacketPtr> VideoEncoder::next_packet() {
  if (waiting_.empty()) return std::nullopt;
  AVPacket& packet = *waiting_.front();
  const auto duration = durations_.find(packet.pts);
  if (duration == durations_.end()) {
    if (!finished_) return std::nullopt;
    packet.duration = 1;  // not reached: x264 keeps every pts
  } else {
    packet.duration = duration->second;
    durations_.erase(duration);
  }
  PacketPtr out = std::move(waiting_.front());
  waiting_.pop_front();
  ++packets_given_;
  return out;
}

void VideoEncoder::drain(const std::function<void()>& between_packets) {
  while (true) {
    PacketPtr packet = make_packet();
    const int result = avcodec_receive_packet(context_.get(), packet.get());
    if (result == AVERROR(EAGAIN) || result == AVERROR_EOF) return;
    if (result < 0) fail("the video encoder failed", result);
    waiting_.push_back(std::move(packet));
    if (between_packets) between_packets();
  }
}

}  // namespace framepipe::media
