#include "framepipe/bench/options.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>

#include "framepipe/protocol/formats.hpp"

namespace framepipe::bench {

void add_options(CLI::App& command, BenchConfig& config) {
  auto* input = command.add_option("--input", config.input, "a video file");
  command
      .add_option("--generate", config.generate,
                  "generate the input with lavfi, e.g. 1080p30:20s, 720p25:2m")
      ->excludes(input);
  command.add_option("--filters", config.chain)->capture_default_str();
  command.add_option("--workers", config.workers, "worker counts, e.g. 1,2,4")
      ->delimiter(',')
      ->capture_default_str();
  command.add_option("--repeat", config.repeat, "runs of each; the median is shown")
      ->capture_default_str();
  command.add_option("--preset", config.preset)->capture_default_str();
  command.add_option("--crf", config.crf)->capture_default_str();
  command.add_option("--json", config.json_path, "write every figure here");
  command.add_option("--svg", config.svg_path, "plot fps against workers here");
  command.add_option("--cache-dir", config.cache_dir,
                     "generated inputs (default ~/.cache/framepipe/bench)");
  command.add_option("--work-dir", config.work_dir,
                     "keep outputs, logs and cluster data here (default: temporary)");
  command.add_flag("!--no-baselines", config.baselines, "skip ffmpeg and the single-process loop");
  command.add_flag("!--no-shared-memory", config.shared_memory,
                   "clusters send frames over TCP, not by shared memory");
  command
      .add_option("--hosts", config.hosts,
                  "run workers on this many hosts built from network namespaces (root), the "
                  "head's link measured")
      ->check(CLI::Range(0, 16));
  command.add_option("--link-rate", config.link_rate,
                     "with --hosts: shape the head's link, both ways, to this tc rate (200mbit)");
  command
      .add_option("--distribution", config.distribution,
                  "how the cluster deals jobs: auto, frames (decoded frames) or segments "
                  "(compressed segments workers decode, filter and encode)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "frames", "segments"}));
  command
      .add_option("--format", config.format,
                  "output format of the job and both baselines: " + protocol::format_choices())
      ->capture_default_str();
}

void add_options(CLI::App& command, LocalConfig& config) {
  command.add_option("input", config.input)->required();
  command.add_option("output", config.output)->required();
  command.add_option("--format", config.format,
                     "output format: " + protocol::format_choices() +
                         " (default: the one OUTPUT's extension names, else mp4)");
  command.add_option("--filters", config.chain)->capture_default_str();
  command.add_option("--preset", config.encoder.preset)->capture_default_str();
  command.add_option("--crf", config.encoder.crf)->capture_default_str();
  command.add_option("--threads", config.filter_threads)->capture_default_str();
}

int run(const LocalConfig& config) {
  const auto result = process_locally(config);
  // The bench reads this line (run_single_process); an audio format has no frame.
  std::printf(
      "%lld frames in %.2f s (%.1f frames/s): decode %.2f s, filter %.2f s, encode %.2f s; "
      "%s, audio: %s\n",
      result.frames, result.seconds, result.seconds > 0 ? result.frames / result.seconds : 0.0,
      result.decode_seconds, result.filter_seconds, result.encode_seconds, result.format.c_str(),
      result.audio_mode.c_str());
  return 0;
}

}  // namespace framepipe::bench
