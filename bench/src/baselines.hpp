// What the bench needs besides the cluster: the input (generated on request, then probed with
// framepipe's own decoder) and the two baselines a user would pick instead of framepipe, on the
// same input with the same encoder settings: the ffmpeg command line, and the single-process loop
// (`framepipe process`, decode, the same OpenCV chain, encode).
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "framepipe/chain/chain.hpp"
#include "framepipe/protocol/formats.hpp"
#include "report.hpp"

namespace framepipe::bench {

// The ffmpeg -vf equivalent of a chain: "" when it needs none (copy), nothing when a step has no
// equivalent (sharpen, pixelate, faceblur). Never throws.
std::optional<std::string> ffmpeg_filter_for(const chain::ChainSpec& chain);

// Parses "1080p30:20s" (also "720p25:2m", "320x240p25:3s"): height (width 16:9, even) or WxH,
// frame rate, duration in s or m. Throws std::invalid_argument with the accepted forms.
struct GenerateSpec {
  int width = 0;
  int height = 0;
  double rate = 0;
  double seconds = 0;
  std::string text;
};
GenerateSpec parse_generate_spec(const std::string& text);

// Generates the spec's clip with ffmpeg's lavfi (testsrc2, a sine audio track, libx264 veryfast,
// AAC) into `cache_dir`, unless it is already there; returns its path. Throws std::runtime_error.
std::string generate_input(const GenerateSpec& spec, const std::string& cache_dir,
                           const std::string& log_path);

// Opens the input with framepipe's decoder (the ventilator's code), counts its video packets and
// decodes one frame to learn what travels to a worker. Throws media::MediaError or
// std::runtime_error.
InputInfo probe_input(const std::string& path, const chain::ChainSpec& chain);

struct BaselineSettings {
  std::string input;
  std::string chain;                             // canonical text
  std::string format{protocol::kDefaultFormat};  // an OutputFormat's name
  std::string preset;
  int crf = 20;
  std::string work_dir;  // outputs and logs
  std::chrono::seconds timeout{3600};
};

// The ffmpeg command that makes what the sink makes of IN in settings.format, built from the
// format table (protocol/formats.hpp): `ffmpeg -y -v error -i IN [-vf F] -c:v ENCODER [-preset P
// -crf C when the format takes them] [-OPTION:v VALUE for each video option] -pix_fmt yuv420p
// [-c:a copy | -c:a ENCODER -b:a RATE -ac 1|2] [-MUXER_OPTION VALUE...] OUT.EXT`; an audio format:
// `-vn` and the audio part. Without running it. Throws std::invalid_argument for an unknown format.
FfmpegBaseline ffmpeg_command(const BaselineSettings& settings, const InputInfo& input,
                              const chain::ChainSpec& chain);

// Runs the command once; returns its wall-clock seconds and peak memory. Throws
// std::runtime_error (with ffmpeg's own message) when it fails.
struct BaselineSample {
  double seconds = 0;
  long long peak_memory_bytes = 0;
  double cpu_seconds = 0;
  long long frames = 0;
  double decode_seconds = 0;
  double filter_seconds = 0;
  double encode_seconds = 0;
};
BaselineSample run_ffmpeg(const std::vector<std::string>& command, const std::string& log_path,
                          std::chrono::seconds timeout);

// `<executable> process IN OUT.EXT --format F --filters CHAIN --preset P --crf C`.
std::vector<std::string> single_process_command(const std::string& executable,
                                                const BaselineSettings& settings);
// Runs it once and reads its own decode/filter/encode split from its output.
BaselineSample run_single_process(const std::vector<std::string>& command,
                                  const std::string& log_path, std::chrono::seconds timeout);

}  // namespace framepipe::bench
