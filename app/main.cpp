// framepipe: one executable, one subcommand per role. main parses flags into each component's
// Config, logs nothing itself, and maps failures to an exit code.
#include <cstdarg>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/log.h>
}

#include "framepipe/bench/local.hpp"
#include "framepipe/http/frontend.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/signals.hpp"
#include "framepipe/registry/registry.hpp"
#include "framepipe/sink/sink.hpp"
#include "framepipe/ventilator/ventilator.hpp"
#include "framepipe/worker/worker.hpp"
#include "launcher.hpp"

namespace {

using namespace framepipe;

constexpr int kDefaultPortBase = 5555;

// libav's own messages (x264's statistics, a damaged packet's complaint) go to the debug level:
// framepipe logs the events that matter itself, once, and never per frame.
void log_libav(void* context, int level, const char* format, va_list arguments) {
  if (level > AV_LOG_WARNING || !spdlog::should_log(spdlog::level::debug)) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(context, level, format, arguments, line, sizeof line, &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) spdlog::debug("libav: {}", text);
}

// Endpoints of a cluster whose registry listens on `base`, bound on `host` or reached at `host`.
std::string endpoint(const std::string& host, int base, int offset) {
  const std::string bind_host = host == "0.0.0.0" ? "*" : host;
  return "tcp://" + bind_host + ":" + std::to_string(base + offset);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug, or per logger
  install_stop_handlers();
  av_log_set_callback(log_libav);

  CLI::App app{"framepipe: a distributed video-processing cluster"};
  app.require_subcommand(1);
  int base = kDefaultPortBase;
  std::string bind_host = "0.0.0.0";
  std::string head = "127.0.0.1";

  auto add_cluster_flags = [&](CLI::App* command, bool binds, bool connects) {
    command->add_option("--zmq-port-base", base, "registry port B; the others are B+1..B+4")
        ->capture_default_str();
    if (binds) {
      command->add_option("--bind-host", bind_host, "address to listen on")->capture_default_str();
    }
    if (connects) {
      command->add_option("--head", head, "host of the registry, ventilator and sink")
          ->capture_default_str();
    }
  };

  registry::Config registry_config;
  auto* registry_command = app.add_subcommand("registry", "track live workers (ROUTER)");
  add_cluster_flags(registry_command, true, false);
  std::string advertise;
  registry_command->add_option("--advertise", advertise,
                               "host workers should use for frames and results (default: the "
                               "host they reached the registry at)");

  ventilator::Config ventilator_config;
  auto* ventilator_command = app.add_subcommand("ventilator", "decode jobs and deal frames");
  add_cluster_flags(ventilator_command, true, true);
  ventilator_command->add_option("--window", ventilator_config.window_frames,
                                 "frames of one job in flight")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  ventilator_command->add_option("--decode-threads", ventilator_config.decode_threads,
                                 "decoder threads (0: automatic)")
      ->capture_default_str();
  ventilator_command->add_option("--max-active-jobs", ventilator_config.max_active_jobs,
                                 "jobs decoded at the same time")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));

  sink::Config sink_config;
  auto* sink_command = app.add_subcommand("sink", "reorder, encode and publish progress");
  add_cluster_flags(sink_command, true, false);
  sink_command->add_option("--encoder-threads", sink_config.encoder_threads,
                           "x264 threads (0: automatic)")
      ->capture_default_str();

  worker::Config worker_config;
  auto* worker_command = app.add_subcommand("worker", "filter frames; needs only the registry");
  worker_command->add_option("endpoint", worker_config.registry_endpoint,
                             "the registry, tcp://HEAD:PORT")
      ->required();
  worker_command->add_option("--threads", worker_config.threads, "OpenCV threads per worker")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  worker_command->add_option("--name", worker_config.name, "worker name (default HOST-PID-XXXX)");
  worker_command->add_option("--credit", worker_config.credit, "frames requested at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));

  http::Config http_config;
  auto* http_command = app.add_subcommand("http", "the web page and the HTTP API");
  add_cluster_flags(http_command, true, true);
  http_command->add_option("--http-port", http_config.port)->capture_default_str();
  http_command->add_option("--data-dir", http_config.data_dir)->capture_default_str();
  http_command->add_option("--max-upload-bytes", http_config.max_upload_bytes)
      ->capture_default_str();
  http_command->add_option("--threads", http_config.threads, "HTTP threads")->capture_default_str();
  http_command->add_option("--worker-command", http_config.worker_command,
                           "the command shown to users to add a worker");
  http_command->add_option("--api-token", http_config.api_token,
                           "require Authorization: Bearer TOKEN on /api");
  http_command->add_option("--cors-origin", http_config.cors_origin,
                           "allow this origin (CORS)");

  app::UpConfig up_config;
  auto* up_command = app.add_subcommand("up", "start a whole local cluster");
  up_command->add_option("--workers", up_config.workers, "local workers (default: one per core)");
  up_command->add_option("--http-port", up_config.http_port)->capture_default_str();
  up_command->add_option("--zmq-port-base", up_config.zmq_port_base)->capture_default_str();
  up_command->add_option("--data-dir", up_config.data_dir)->capture_default_str();
  up_command->add_option("--bind-host", up_config.bind_host)->capture_default_str();
  up_command->add_option("--worker-threads", up_config.worker_threads)->capture_default_str();
  up_command->add_option("--window", up_config.window_frames, "frames of one job in flight");
  up_command->add_option("--max-upload-bytes", up_config.max_upload_bytes)->capture_default_str();
  up_command->add_option("--api-token", up_config.api_token);
  up_command->add_option("--cors-origin", up_config.cors_origin);

  bench::LocalConfig local_config;
  auto* process_command =
      app.add_subcommand("process", "the single-process loop: decode, filter, encode");
  process_command->add_option("input", local_config.input)->required();
  process_command->add_option("output", local_config.output)->required();
  process_command->add_option("--filters", local_config.chain)->capture_default_str();
  process_command->add_option("--preset", local_config.encoder.preset)->capture_default_str();
  process_command->add_option("--crf", local_config.encoder.crf)->capture_default_str();
  process_command->add_option("--threads", local_config.filter_threads)->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  try {
    if (registry_command->parsed()) {
      registry_config.bind_endpoint = endpoint(bind_host, base, protocol::kRegistryPortOffset);
      const std::string workers_host = advertise.empty() ? "*" : advertise;
      registry_config.frames_endpoint = endpoint(workers_host, base, protocol::kFramesPortOffset);
      registry_config.results_endpoint =
          endpoint(workers_host, base, protocol::kResultsPortOffset);
      return registry::run(registry_config);
    }
    if (ventilator_command->parsed()) {
      ventilator_config.frames_bind = endpoint(bind_host, base, protocol::kFramesPortOffset);
      ventilator_config.control_bind = endpoint(bind_host, base, protocol::kControlPortOffset);
      ventilator_config.results_endpoint = endpoint(head, base, protocol::kResultsPortOffset);
      ventilator_config.progress_endpoint = endpoint(head, base, protocol::kProgressPortOffset);
      ventilator_config.registry_endpoint = endpoint(head, base, protocol::kRegistryPortOffset);
      return ventilator::run(ventilator_config);
    }
    if (sink_command->parsed()) {
      sink_config.results_bind = endpoint(bind_host, base, protocol::kResultsPortOffset);
      sink_config.progress_bind = endpoint(bind_host, base, protocol::kProgressPortOffset);
      return sink::run(sink_config);
    }
    if (worker_command->parsed()) return worker::run(worker_config);
    if (http_command->parsed()) {
      http_config.bind_host = bind_host;
      http_config.registry_endpoint = endpoint(head, base, protocol::kRegistryPortOffset);
      http_config.control_endpoint = endpoint(head, base, protocol::kControlPortOffset);
      http_config.progress_endpoint = endpoint(head, base, protocol::kProgressPortOffset);
      if (http_config.worker_command.empty()) {
        http_config.worker_command =
            "framepipe worker " + endpoint(head, base, protocol::kRegistryPortOffset);
      }
      return http::run(http_config);
    }
    if (up_command->parsed()) return app::up(up_config);
    if (process_command->parsed()) {
      const auto result = bench::process_locally(local_config);
      std::printf("%lld frames in %.2f s (%.1f frames/s): decode %.2f s, filter %.2f s, encode %.2f s\n",
                  result.frames, result.seconds, result.frames / result.seconds,
                  result.decode_seconds, result.filter_seconds, result.encode_seconds);
      return 0;
    }
  } catch (const std::exception& e) {
    spdlog::critical("{}: {}", app.get_subcommands().front()->get_name(), e.what());
    return 1;
  }
  return 0;
}
