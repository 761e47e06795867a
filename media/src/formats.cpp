#include "framepipe/media/formats.hpp"

#include <algorithm>
#include <string>

extern "C" {
#include <libavutil/opt.h>
}

namespace framepipe::media {

FormatCodecs resolve_format(std::string_view name) {
  FormatCodecs codecs;
  codecs.format = protocol::find_output_format(name);
  if (codecs.format == nullptr) {
    throw MediaError("unknown output format \"" + std::string(name.substr(0, 32)) +
                     "\"; use one of: " + protocol::format_choices());
  }
  const protocol::OutputFormat& format = *codecs.format;
  const std::string muxer(format.muxer);
  codecs.muxer = av_guess_format(muxer.c_str(), nullptr, nullptr);
  if (codecs.muxer == nullptr) throw MediaError("this FFmpeg has no " + muxer + " muxer");
  if (!format.video_encoder.empty()) {
    const std::string encoder(format.video_encoder);
    codecs.video_encoder = avcodec_find_encoder_by_name(encoder.c_str());
    if (codecs.video_encoder == nullptr) {
      throw MediaError("this FFmpeg has no " + encoder + " video encoder");
    }
  }
  const std::string encoder(format.audio_encoder);
  codecs.audio_encoder = avcodec_find_encoder_by_name(encoder.c_str());
  if (codecs.audio_encoder == nullptr) {
    throw MediaError("this FFmpeg has no " + encoder + " audio encoder");
  }
  return codecs;
}

bool keeps_audio(const protocol::OutputFormat& format, AVCodecID codec) {
  return protocol::holds_audio(format, avcodec_get_name(codec));
}

void apply_encoder_options(AVCodecContext& context,
                           std::span<const protocol::EncoderOption> options) {
  for (const auto& [key, value] : options) {
    const std::string name(key);
    const std::string text(value);
    const int result = av_opt_set(&context, name.c_str(), text.c_str(), AV_OPT_SEARCH_CHILDREN);
    if (result < 0) {
      throw MediaError("cannot set " + name + "=" + text + " on the " +
                       (context.codec != nullptr ? context.codec->name : "") +
                       " encoder: " + error_string(result));
    }
  }
}

}  // namespace framepipe::media
