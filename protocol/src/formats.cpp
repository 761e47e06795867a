#include "framepipe/protocol/formats.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace framepipe::protocol {
namespace {

using namespace std::string_view_literals;

// Containers and codecs as Debian 12's FFmpeg 5.1 has them: WebM takes only
// VP8/VP9/AV1 with Vorbis/Opus; AVI with Opus fails at write-header; Matroska's default audio
// encoder is Vorbis, so every format names its audio encoder.
constexpr std::array kMp4Video = {"h264"sv, "hevc"sv, "av1"sv, "vp9"sv, "mpeg4"sv};
// What MP4 holds and Chromium plays as it is (FLAC in MP4 is marked experimental in FFmpeg 5.1).
constexpr std::array kMp4Audio = {"aac"sv, "mp3"sv, "opus"sv, "flac"sv};
constexpr std::array kMovVideo = {"h264"sv, "hevc"sv, "mpeg4"sv};
constexpr std::array kMovAudio = {"aac"sv, "mp3"sv};
constexpr std::array kMkvVideo = {"h264"sv, "hevc"sv, "av1"sv, "vp8"sv, "vp9"sv, "mpeg4"sv};
constexpr std::array kMkvAudio = {"aac"sv,    "mp3"sv, "opus"sv, "flac"sv,
                                  "vorbis"sv, "ac3"sv, "eac3"sv};
constexpr std::array kWebmVideo = {"vp8"sv, "vp9"sv, "av1"sv};
constexpr std::array kWebmAudio = {"opus"sv, "vorbis"sv};
constexpr std::array kAviVideo = {"h264"sv, "mpeg4"sv};
constexpr std::array kAviAudio = {"mp3"sv};
constexpr std::array kMp3Audio = {"mp3"sv};
constexpr std::array kFlacAudio = {"flac"sv};
constexpr std::array kWavAudio = {"pcm_s16le"sv};
constexpr std::array kAacAudio = {"aac"sv};
constexpr std::array kOggAudio = {"vorbis"sv};
constexpr std::span<const std::string_view> kNoCodecs;
constexpr std::array kX264Presets = {"ultrafast"sv, "superfast"sv, "veryfast"sv,
                                     "faster"sv,    "fast"sv,      "medium"sv,
                                     "slow"sv,      "slower"sv,    "veryslow"sv};

// VP9 at constant quality (b=0 with crf: libvpx's "constant quality" mode) about as good as x264's
// CRF 20; cpu-used 5 with row multithreading keeps libvpx within a few times x264 veryfast.
constexpr std::array<EncoderOption, 5> kVp9Options = {
    {{"deadline", "good"}, {"cpu-used", "5"}, {"row-mt", "1"}, {"crf", "32"}, {"b", "0"}}};
// AVI stores frames in decoding order with no presentation times: B-frames (reordered) would come
// out late and the last ones without a time, so its H.264 has none.
constexpr std::array<EncoderOption, 1> kNoBFrames = {{{"bf", "0"}}};
// The index first, for progressive playback.
constexpr std::array<EncoderOption, 1> kFaststart = {{{"movflags", "+faststart"}}};

constexpr std::array<OutputFormat, 10> kFormats = {{
    {.name = "mp4",
     .kind = MediaKind::video,
     .muxer = "mp4",
     .extension = "mp4",
     .mime_type = "video/mp4",
     .video_encoder = "libx264",
     .audio_encoder = "aac",
     .takes_job_quality = true,
     .audio_bit_rate_mono = 128'000,
     .audio_bit_rate_stereo = 160'000,
     .video_codecs = kMp4Video,
     .audio_codecs = kMp4Audio,
     .muxer_options = kFaststart},
    {.name = "mkv",
     .kind = MediaKind::video,
     .muxer = "matroska",
     .extension = "mkv",
     .mime_type = "video/x-matroska",
     .video_encoder = "libx264",
     .audio_encoder = "aac",
     .takes_job_quality = true,
     .audio_bit_rate_mono = 128'000,
     .audio_bit_rate_stereo = 160'000,
     .video_codecs = kMkvVideo,
     .audio_codecs = kMkvAudio},
    {.name = "webm",
     .kind = MediaKind::video,
     .muxer = "webm",
     .extension = "webm",
     .mime_type = "video/webm",
     .video_encoder = "libvpx-vp9",
     .audio_encoder = "libopus",
     .video_options = kVp9Options,
     .audio_bit_rate_mono = 96'000,
     .audio_bit_rate_stereo = 128'000,
     .video_codecs = kWebmVideo,
     .audio_codecs = kWebmAudio},
    {.name = "mov",
     .kind = MediaKind::video,
     .muxer = "mov",
     .extension = "mov",
     .mime_type = "video/quicktime",
     .video_encoder = "libx264",
     .audio_encoder = "aac",
     .takes_job_quality = true,
     .audio_bit_rate_mono = 128'000,
     .audio_bit_rate_stereo = 160'000,
     .video_codecs = kMovVideo,
     .audio_codecs = kMovAudio,
     .muxer_options = kFaststart},
    {.name = "avi",
     .kind = MediaKind::video,
     .muxer = "avi",
     .extension = "avi",
     .mime_type = "video/x-msvideo",
     .video_encoder = "libx264",
     .audio_encoder = "libmp3lame",
     .takes_job_quality = true,
     .video_options = kNoBFrames,
     .audio_bit_rate_mono = 128'000,
     .audio_bit_rate_stereo = 192'000,
     .video_codecs = kAviVideo,
     .audio_codecs = kAviAudio,
     .constant_frame_rate = true},
    {.name = "mp3",
     .kind = MediaKind::audio,
     .muxer = "mp3",
     .extension = "mp3",
     .mime_type = "audio/mpeg",
     .audio_encoder = "libmp3lame",
     .audio_bit_rate_mono = 128'000,
     .audio_bit_rate_stereo = 192'000,
     .video_codecs = kNoCodecs,
     .audio_codecs = kMp3Audio},
    {.name = "flac",
     .kind = MediaKind::audio,
     .muxer = "flac",
     .extension = "flac",
     .mime_type = "audio/flac",
     .audio_encoder = "flac",
     .video_codecs = kNoCodecs,
     .audio_codecs = kFlacAudio},
    {.name = "wav",
     .kind = MediaKind::audio,
     .muxer = "wav",
     .extension = "wav",
     .mime_type = "audio/wav",
     .audio_encoder = "pcm_s16le",
     .video_codecs = kNoCodecs,
     .audio_codecs = kWavAudio},
    {.name = "aac",
     .kind = MediaKind::audio,
     .muxer = "adts",
     .extension = "aac",
     .mime_type = "audio/aac",
     .audio_encoder = "aac",
     .audio_bit_rate_mono = 128'000,
     .audio_bit_rate_stereo = 160'000,
     .video_codecs = kNoCodecs,
     .audio_codecs = kAacAudio},
    {.name = "ogg",
     .kind = MediaKind::audio,
     .muxer = "ogg",
     .extension = "ogg",
     .mime_type = "audio/ogg",
     .audio_encoder = "libvorbis",
     .audio_bit_rate_mono = 112'000,
     .audio_bit_rate_stereo = 160'000,
     .video_codecs = kNoCodecs,
     .audio_codecs = kOggAudio},
}};

std::string names_of(MediaKind kind) {
  std::string names;
  for (const OutputFormat& format : kFormats) {
    if (format.kind != kind) continue;
    if (!names.empty()) names += ", ";
    names += format.name;
    if (format.name == kDefaultFormat) names += " (default)";
  }
  return names;
}

}  // namespace

std::span<const OutputFormat> output_formats() {
  return kFormats;
}

const OutputFormat* find_output_format(std::string_view name) {
  const auto found = std::find_if(kFormats.begin(), kFormats.end(),
                                  [&](const OutputFormat& format) { return format.name == name; });
  return found != kFormats.end() ? &*found : nullptr;
}

bool holds_audio(const OutputFormat& format, std::string_view codec) {
  return std::find(format.audio_codecs.begin(), format.audio_codecs.end(), codec) !=
         format.audio_codecs.end();
}

const OutputFormat* format_for_file_name(std::string_view file_name) {
  const auto dot = file_name.rfind('.');
  if (dot == std::string_view::npos || file_name.find('/', dot) != std::string_view::npos) {
    return nullptr;
  }
  const std::string_view extension = file_name.substr(dot + 1);
  const auto same = [&](const OutputFormat& format) {
    return std::equal(
        extension.begin(), extension.end(), format.extension.begin(), format.extension.end(),
        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  };
  const auto found = std::find_if(kFormats.begin(), kFormats.end(), same);
  return found != kFormats.end() ? &*found : nullptr;
}

std::span<const std::string_view> x264_presets() {
  return kX264Presets;
}

bool is_x264_preset(std::string_view name) {
  return std::find(kX264Presets.begin(), kX264Presets.end(), name) != kX264Presets.end();
}

std::string x264_preset_choices() {
  std::string choices;
  for (const std::string_view preset : kX264Presets) {
    if (!choices.empty()) choices += ", ";
    choices += preset;
  }
  return choices;
}

std::string format_choices() {
  return "video " + names_of(MediaKind::video) + "; audio " + names_of(MediaKind::audio);
}

std::optional<std::string> format_refusal(const FormatRequest& request) {
  const OutputFormat* format = find_output_format(request.format);
  if (format == nullptr) {
    std::string shown(request.format.substr(0, 32));
    for (char& c : shown) {
      if (c < 0x20 || c > 0x7E || c == '"') c = '?';
    }
    return "unknown format \"" + shown + "\"; use one of: " + format_choices();
  }
  if (format->kind == MediaKind::video) return std::nullopt;
  if (!request.chain_is_copy) {
    return "format \"" + std::string(format->name) +
           "\" is audio only and takes the filter chain \"copy\" alone (filters change pictures, "
           "which it has none of); for filtered video use one of: video " +
           names_of(MediaKind::video);
  }
  if (request.has_audio && !*request.has_audio) {
    return "the input has no audio track, so it cannot become \"" + std::string(format->name) +
           "\"; use one of: video " + names_of(MediaKind::video);
  }
  return std::nullopt;
}

}  // namespace framepipe::protocol
