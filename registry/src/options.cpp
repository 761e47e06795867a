#include "framepipe/registry/options.hpp"

#include <CLI/CLI.hpp>

namespace framepipe::registry {

void add_options(CLI::App& command, Options& options) {
  protocol::add_cluster_flags(command, options.cluster, false);
  command.add_option("--advertise", options.advertise,
                     "host workers should use for frames and results (default: the host they "
                     "reached the registry at)");
  protocol::add_curve_server_flags(command, options.curve);
}

Config make_config(const Options& options) {
  Config config;
  config.bind_endpoint = options.cluster.bind_endpoint(protocol::kRegistryPortOffset);
  const std::string workers_host = options.advertise.empty() ? "*" : options.advertise;
  config.frames_endpoint = options.cluster.endpoint(workers_host, protocol::kFramesPortOffset);
  config.results_endpoint = options.cluster.endpoint(workers_host, protocol::kResultsPortOffset);
  config.curve = protocol::load_curve(options.curve);
  return config;
}

}  // namespace framepipe::registry
