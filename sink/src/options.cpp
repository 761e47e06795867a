#include "framepipe/sink/options.hpp"

#include <CLI/CLI.hpp>

namespace framepipe::sink {

void add_options(CLI::App& command, Options& options) {
  protocol::add_cluster_flags(command, options.cluster, false);
  command
      .add_option("--encoder-threads", options.config.encoder_threads,
                  "x264 threads (0: automatic)")
      ->capture_default_str();
  protocol::add_curve_server_flags(command, options.curve);
}

Config make_config(const Options& options) {
  Config config = options.config;
  config.results_bind = options.cluster.bind_endpoint(protocol::kResultsPortOffset);
  config.progress_bind = options.cluster.bind_endpoint(protocol::kProgressPortOffset);
  config.curve = protocol::load_curve(options.curve);
  return config;
}

}  // namespace framepipe::sink
