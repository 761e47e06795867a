// A container change without re-encoding the video: the source's video packets go into an output
// format's container as they are (data, pts and dts), and its first audio stream is copied when
// the format holds its codec, encoded with the format's audio encoder otherwise (media::Writer's
// audio). Nothing is decoded but audio that must be encoded. For an audio format, the sound track
// alone, from a video or an audio file.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "framepipe/media/av.hpp"
#include "framepipe/protocol/formats.hpp"

namespace framepipe::media {

// Why a source whose video is `video_codec` (a libavcodec name, e.g. "h264") in a `container`
// (the demuxer's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2") cannot keep it in `format`; nothing when it
// can. Presentation times must be there to copy: AVI is neither a copy target nor a source (it has
// none, so B-frames would come out late or without a time), nor are raw streams (.h264).
std::optional<std::string> video_copy_refusal(const protocol::OutputFormat& format,
                                              std::string_view video_codec,
                                              std::string_view container);

// What an audio file holds: its first audio stream.
struct AudioFileInfo {
  std::string container;  // demuxer name, e.g. "mp3"
  std::string codec;      // libavcodec name, e.g. "mp3"
  double duration_seconds = 0;
};

// The audio of a file without pictures (a cover image is not one); nothing when it has a video
// stream or no audio stream. Throws MediaError when the file cannot be read at all.
std::optional<AudioFileInfo> probe_audio_file(const std::string& path, const Limits& limits);

struct RemuxOutcome {
  int64_t video_packets = 0;
  std::string audio_mode;  // as Writer::audio_mode(): "none", "copy aac", "aac from ac3"...
  bool audio_encoded = false;
};

// Called after each video packet with the number muxed so far; false stops the remux.
using RemuxProgress = std::function<bool(int64_t video_packets)>;

// Writes `input_path`'s first video stream and its audio into `output_path` in the format called
// `format` (an audio format: the audio alone; `progress` then counts no packet). Returns what it
// did. Throws MediaError: an input it cannot read, a video codec the format does not hold
// (video_copy_refusal), write errors, and "stopped" when `progress` said so (the unfinished output
// is removed).
RemuxOutcome remux(const std::string& input_path, const std::string& output_path,
                   std::string_view format, const Limits& limits,
                   const RemuxProgress& progress = {});

}  // namespace framepipe::media
