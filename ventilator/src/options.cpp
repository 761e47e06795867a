#include "framepipe/ventilator/options.hpp"

#include <CLI/CLI.hpp>

namespace framepipe::ventilator {

void add_options(CLI::App& command, Options& options) {
  Config& config = options.config;
  protocol::add_cluster_flags(command, options.cluster, true);
  command.add_option("--window", config.window_frames, "frames of one job in flight")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  command
      .add_option("--window-segments", config.window_segments,
                  "segments of one segmented job in flight (memory: this many segments' packets)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1024));
  command
      .add_option("--segment-seconds", config.segment_seconds,
                  "segments are cut at the first keyframe this long after the last cut")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 600.0));
  command.add_option("--decode-threads", config.decode_threads, "decoder threads (0: automatic)")
      ->capture_default_str();
  command.add_option("--max-active-jobs", config.max_active_jobs, "jobs decoded at the same time")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  command
      .add_option("--resend-after-ms", config.min_deadline_ms,
                  "send a frame again when unanswered this long (at least; measured frame times "
                  "raise it)")
      ->capture_default_str()
      ->check(CLI::Range(500, 3'600'000));
  command.add_flag("!--no-shared-memory", config.shared_memory,
                   "send frames to the sink and workers over the network even when they run on "
                   "this machine");
  protocol::add_curve_server_flags(command, options.curve);
}

Config make_config(const Options& options) {
  Config config = options.config;
  const auto& cluster = options.cluster;
  config.frames_bind = cluster.bind_endpoint(protocol::kFramesPortOffset);
  config.control_bind = cluster.bind_endpoint(protocol::kControlPortOffset);
  config.results_endpoint = cluster.head_endpoint(protocol::kResultsPortOffset);
  config.progress_endpoint = cluster.head_endpoint(protocol::kProgressPortOffset);
  config.registry_endpoint = cluster.head_endpoint(protocol::kRegistryPortOffset);
  config.curve = protocol::load_curve(options.curve);
  return config;
}

}  // namespace framepipe::ventilator
