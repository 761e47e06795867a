// The libav side of an output format (protocol/formats.hpp holds the table): its muxer and
// encoders found in this FFmpeg, the source audio it keeps as it is, and its encoder options
// applied. Writer and the single-process loop encode through it.
#pragma once
#include <span>
#include <string_view>

#include "framepipe/media/av.hpp"
#include "framepipe/protocol/formats.hpp"

namespace framepipe::media {

struct FormatCodecs {
  const protocol::OutputFormat* format = nullptr;
  const AVOutputFormat* muxer = nullptr;
  const AVCodec* video_encoder = nullptr;  // null for the audio formats
  const AVCodec* audio_encoder = nullptr;
};

// The format called `name` with its muxer and encoders. Throws MediaError when the name is unknown
// or this FFmpeg lacks the muxer or an encoder.
FormatCodecs resolve_format(std::string_view name);

// Whether a source audio track of this codec goes into the result packet for packet.
bool keeps_audio(const protocol::OutputFormat& format, AVCodecID codec);

// Sets each option on the encoder context or its private options (before avcodec_open2). Throws
// MediaError naming the option that does not apply.
void apply_encoder_options(AVCodecContext& context,
                           std::span<const protocol::EncoderOption> options);

}  // namespace framepipe::media
