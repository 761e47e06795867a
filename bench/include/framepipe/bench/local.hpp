// The plain single-process loop a user would otherwise write: decode, the same OpenCV chain,
// encode, one frame after another, into any output format (protocol/formats.hpp). It is the
// bench's baseline and the integration tests' reference, built from the same decoder, filter and
// encoder code as the cluster. An audio format decodes no video: the sound track alone is written.
#pragma once
#include <string>

#include "framepipe/media/av.hpp"
#include "framepipe/media/writer.hpp"
#include "framepipe/protocol/formats.hpp"

namespace framepipe::bench {

struct LocalConfig {
  std::string input;
  std::string output;
  // An OutputFormat's name; "": the format whose extension `output` has, else mp4.
  std::string format;
  std::string chain = "copy";
  media::EncoderSettings encoder;
  int filter_threads = 1;  // OpenCV threads
  media::Limits limits;
};

struct LocalResult {
  long long frames = 0;
  double seconds = 0;
  double decode_seconds = 0;
  double filter_seconds = 0;
  double encode_seconds = 0;  // an audio format: all of its writing
  std::string format;         // the format written
  std::string audio_mode;     // as media::Writer::audio_mode(): "none", "copy aac", "opus from aac"
};

// The format `config` asks for: its `format`, else the one named by the output's extension, else
// mp4 (names and extensions in any case). Throws std::invalid_argument for an unknown name, with
// the choices.
const protocol::OutputFormat& output_format_of(const LocalConfig& config);

// Throws media::MediaError, or std::invalid_argument for a bad chain, an unknown format or one the
// job cannot give (protocol::format_refusal: a filter chain or an input without audio for an audio
// format), naming the choices.
LocalResult process_locally(const LocalConfig& config);

}  // namespace framepipe::bench
