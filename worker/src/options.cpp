#include "framepipe/worker/options.hpp"

#include <cstdlib>

#include <CLI/CLI.hpp>

namespace framepipe::worker {

void add_options(CLI::App& command, Options& options) {
  Config& config = options.config;
  command.add_option("endpoint", config.registry_endpoint, "the registry, tcp://HEAD:PORT")
      ->required();
  command.add_option("--threads", config.threads, "OpenCV threads per worker")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  command.add_option("--name", config.name, "worker name (default HOST-PID-XXXX)");
  command.add_option("--curve-key", options.curve.key, "this worker's CURVE key pair");
  command.add_option("--curve-server", options.curve.server, "the head's public key (.pub)");
  command.add_option("--credit", config.credit, "frames requested at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
}

Config make_config(const Options& options) {
  Config config = options.config;
  config.curve = protocol::load_curve(options.curve);
  if (const char* fault = std::getenv("FRAMEPIPE_FAULT")) config.fault = fault;
  return config;
}

}  // namespace framepipe::worker
