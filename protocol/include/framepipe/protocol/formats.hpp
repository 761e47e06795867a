// The output formats a job may ask for, as plain data (no libav): container (muxer), encoders and
// their settings, what the result is called and served as, which codecs it holds as they are, and
// the rules that refuse a job up front. The http-frontend checks uploads with it, the ventilator
// checks probed inputs with it, media's Writer encodes by it (media/formats.hpp adds the libav
// side).
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace framepipe::protocol {

enum class MediaKind { video, audio };

// An encoder option as libavcodec's AVOption name and value (av_opt_set on the codec context,
// then on its private options).
using EncoderOption = std::pair<std::string_view, std::string_view>;

struct OutputFormat {
  std::string_view name{};  // the API's value, e.g. "mp4"
  MediaKind kind = MediaKind::video;
  std::string_view muxer{};      // libavformat's short name
  std::string_view extension{};  // of the result file, without the dot
  std::string_view mime_type{};  // the result's Content-Type
  // libavcodec encoder names; video_encoder is "" for the audio formats.
  std::string_view video_encoder{};
  std::string_view audio_encoder{};
  // The job's preset and crf (x264's) drive the video encoder; otherwise video_options do alone.
  bool takes_job_quality = false;
  std::span<const EncoderOption> video_options{};
  int64_t audio_bit_rate_mono = 0;  // bits per second; 0: the encoder's own (lossless codecs)
  int64_t audio_bit_rate_stereo = 0;
  // Codecs (libavcodec names) the result holds as they are: a source audio track in one of
  // audio_codecs is copied packet for packet, any other is encoded with audio_encoder. The video
  // is always encoded today (the frames are filtered); video_codecs is what the container takes.
  std::span<const std::string_view> video_codecs{};
  std::span<const std::string_view> audio_codecs{};
  // The container has no timestamps of its own (AVI): frames are placed on a grid of 1/rate.
  bool constant_frame_rate = false;
  // Muxer options (av_dict for avformat_write_header), e.g. movflags.
  std::span<const EncoderOption> muxer_options{};
};

inline constexpr std::string_view kDefaultFormat = "mp4";

// Every format, video ones first, in the order the API lists them.
std::span<const OutputFormat> output_formats();

// The format called `name` (exact, lower case), or nothing.
const OutputFormat* find_output_format(std::string_view name);

// The format holds an audio stream of this codec (libavcodec's name, "aac") as it is: copied,
// not encoded with its audio_encoder.
bool holds_audio(const OutputFormat& format, std::string_view codec);

// The format whose extension ends `file_name` ("out.WebM" gives webm, case ignored), or nothing
// (no extension, or one no format writes): how `submit` and `process` read an output's name.
const OutputFormat* format_for_file_name(std::string_view file_name);

// x264's presets, fastest first, as a job's `preset` may name them (placebo is left out: it
// takes minutes a frame for nothing visible).
std::span<const std::string_view> x264_presets();
bool is_x264_preset(std::string_view name);
// "ultrafast, superfast, ..., veryslow": for refusals.
std::string x264_preset_choices();

// "video mp4 (default), mkv, webm, mov, avi; audio mp3, flac, wav, aac, ogg": for refusals.
std::string format_choices();

// What is known about a job when it is checked: at upload the input is not yet probed
// (has_audio empty); the ventilator checks again with the probe's answer.
struct FormatRequest {
  std::string_view format;
  bool chain_is_copy = true;      // the chain leaves pixels alone (only `copy` steps)
  std::optional<bool> has_audio;  // the input has an audio track
};

// Why the job cannot give this format, naming the valid choices; nothing when it can.
std::optional<std::string> format_refusal(const FormatRequest& request);

}  // namespace framepipe::protocol
