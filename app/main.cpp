// framepipe: one executable, one subcommand per role. main parses flags into each component's
// Config, logs nothing itself, and maps failures to an exit code.
#include <malloc.h>

#include <cstdarg>
#include <cstdio>
#include <string>

#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

extern "C" {
#include <libavutil/log.h>
}

#include "framepipe/bench/bench.hpp"
#include "framepipe/bench/local.hpp"
#include "framepipe/http/frontend.hpp"
#include "framepipe/protocol/curve.hpp"
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
  // Frames are a few MB each: above glibc's default threshold every one would be a fresh mmap,
  // zero-filled page by page and unmapped on free (hundreds of page faults per frame, measured
  // as more system time than work). Keeping them in the heap lets freed frames be reused.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  // One heap for every thread: a frame ZeroMQ's I/O thread receives is freed by the main thread,
  // and per-thread heaps (64 MiB each) that a window of 1080p frames fills and empties were
  // unmapped and faulted in again: 44 k page faults per 10 s 1080p job in the sink, 1-6 k with
  // one heap, and a fifth of its CPU time.
  mallopt(M_ARENA_MAX, 1);
  av_log_set_callback(log_libav);

  CLI::App app{"framepipe: a distributed video-processing cluster"};
  app.require_subcommand(1);
  int base = kDefaultPortBase;
  std::string bind_host = "0.0.0.0";
  std::string head = "127.0.0.1";

  // CURVE: the head's roles take the head's key pair and the allowed workers' public keys.
  std::string curve_key;
  std::string curve_allow;
  std::string curve_server;
  auto add_curve_flags = [&](CLI::App* command) {
    command->add_option("--curve-key", curve_key, "this node's CURVE key pair (framepipe keygen)");
    command->add_option("--curve-allow", curve_allow,
                        "directory of the public keys (.pub) of the workers allowed in");
  };

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
  ventilator_command
      ->add_option("--window", ventilator_config.window_frames, "frames of one job in flight")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  ventilator_command
      ->add_option("--decode-threads", ventilator_config.decode_threads,
                   "decoder threads (0: automatic)")
      ->capture_default_str();
  ventilator_command
      ->add_option("--max-active-jobs", ventilator_config.max_active_jobs,
                   "jobs decoded at the same time")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  ventilator_command
      ->add_option("--resend-after-ms", ventilator_config.min_deadline_ms,
                   "send a frame again when unanswered this long (at least; measured frame times "
                   "raise it)")
      ->capture_default_str()
      ->check(CLI::Range(500, 3'600'000));
  ventilator_command->add_flag("!--no-shared-memory", ventilator_config.shared_memory,
                               "send frames to the sink and workers over the network even when "
                               "they run on this machine");

  sink::Config sink_config;
  auto* sink_command = app.add_subcommand("sink", "reorder, encode and publish progress");
  add_cluster_flags(sink_command, true, false);
  sink_command
      ->add_option("--encoder-threads", sink_config.encoder_threads, "x264 threads (0: automatic)")
      ->capture_default_str();

  worker::Config worker_config;
  auto* worker_command = app.add_subcommand("worker", "filter frames; needs only the registry");
  worker_command
      ->add_option("endpoint", worker_config.registry_endpoint, "the registry, tcp://HEAD:PORT")
      ->required();
  worker_command->add_option("--threads", worker_config.threads, "OpenCV threads per worker")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  worker_command->add_option("--name", worker_config.name, "worker name (default HOST-PID-XXXX)");
  worker_command->add_option("--curve-key", curve_key, "this worker's CURVE key pair");
  worker_command->add_option("--curve-server", curve_server, "the head's public key (.pub)");
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
  http_command->add_option("--threads", http_config.threads, "HTTP threads")
      ->capture_default_str()
      ->check(CLI::Range(2, 1024));
  http_command
      ->add_option("--min-free-disk-mb", http_config.min_free_disk_mb,
                   "refuse uploads that would leave less free space in the data directory")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  http_command->add_option("--worker-command", http_config.worker_command,
                           "the command shown to users to add a worker");
  http_command->add_option("--api-token", http_config.api_token,
                           "require Authorization: Bearer TOKEN on /api");
  http_command->add_option("--cors-origin", http_config.cors_origin, "allow this origin (CORS)");
  http_command->add_option("--web-dir", http_config.web_dir,
                           "the web pages' directory (default: share/framepipe/web beside the "
                           "binary's bin/)");
  http_command->add_flag("--access-log-json", http_config.access_log_json,
                         "log one JSON line per request on stdout");

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
  up_command->add_option("--min-free-disk-mb", up_config.min_free_disk_mb)->capture_default_str();
  up_command->add_option("--http-threads", up_config.http_threads)->capture_default_str();
  up_command->add_option("--resend-after-ms", up_config.resend_after_ms)->capture_default_str();
  up_command->add_flag("!--no-shared-memory", up_config.shared_memory,
                       "frames go from the ventilator to the sink and local workers over TCP, "
                       "not by shared memory");
  up_command->add_option("--api-token", up_config.api_token);
  up_command->add_option("--cors-origin", up_config.cors_origin);
  up_command->add_option("--curve-dir", up_config.curve_dir,
                         "CURVE on: DIR/head.key is the head's pair, DIR/workers/*.pub the "
                         "workers allowed in (made by `framepipe keygen`)");

  std::string keygen_name;
  auto* keygen_command = app.add_subcommand("keygen", "make a CURVE key pair: NAME.key, NAME.pub");
  keygen_command->add_option("name", keygen_name, "file name without extension")->required();

  bench::LocalConfig local_config;
  auto* process_command =
      app.add_subcommand("process", "the single-process loop: decode, filter, encode");
  process_command->add_option("input", local_config.input)->required();
  process_command->add_option("output", local_config.output)->required();
  process_command->add_option("--filters", local_config.chain)->capture_default_str();
  process_command->add_option("--preset", local_config.encoder.preset)->capture_default_str();
  process_command->add_option("--crf", local_config.encoder.crf)->capture_default_str();
  process_command->add_option("--threads", local_config.filter_threads)->capture_default_str();

  bench::BenchConfig bench_config;
  auto* bench_command = app.add_subcommand(
      "bench", "time local clusters of N workers against ffmpeg and the single-process loop");
  auto* bench_input = bench_command->add_option("--input", bench_config.input, "a video file");
  bench_command
      ->add_option("--generate", bench_config.generate,
                   "generate the input with lavfi, e.g. 1080p30:20s, 720p25:2m")
      ->excludes(bench_input);
  bench_command->add_option("--filters", bench_config.chain)->capture_default_str();
  bench_command->add_option("--workers", bench_config.workers, "worker counts, e.g. 1,2,4")
      ->delimiter(',')
      ->capture_default_str();
  bench_command->add_option("--repeat", bench_config.repeat, "runs of each; the median is shown")
      ->capture_default_str();
  bench_command->add_option("--preset", bench_config.preset)->capture_default_str();
  bench_command->add_option("--crf", bench_config.crf)->capture_default_str();
  bench_command->add_option("--json", bench_config.json_path, "write every figure here");
  bench_command->add_option("--svg", bench_config.svg_path, "plot fps against workers here");
  bench_command->add_option("--cache-dir", bench_config.cache_dir,
                            "generated inputs (default ~/.cache/framepipe/bench)");
  bench_command->add_option("--work-dir", bench_config.work_dir,
                            "keep outputs, logs and cluster data here (default: temporary)");
  bench_command->add_flag("!--no-baselines", bench_config.baselines,
                          "skip ffmpeg and the single-process loop");
  bench_command->add_flag("!--no-shared-memory", bench_config.shared_memory,
                          "clusters send frames over TCP, not by shared memory");

  add_curve_flags(registry_command);
  add_curve_flags(ventilator_command);
  add_curve_flags(sink_command);
  http_command->add_option("--curve-key", curve_key, "the head's CURVE key pair");

  CLI11_PARSE(app, argc, argv);

  try {
    if (keygen_command->parsed()) {
      const auto pair = protocol::generate_key_files(keygen_name);
      std::printf("wrote %s.key (secret: keep it on this machine) and %s.pub\npublic key: %s\n",
                  keygen_name.c_str(), keygen_name.c_str(), pair.public_key.c_str());
      return 0;
    }
    const auto curve = protocol::load_curve(curve_key, curve_server, curve_allow);
    registry_config.curve = curve;
    ventilator_config.curve = curve;
    sink_config.curve = curve;
    worker_config.curve = curve;
    http_config.curve = curve;
    if (!curve.enabled() && !process_command->parsed() && !bench_command->parsed()) {
      spdlog::info(
          "CURVE is off: ZeroMQ traffic is neither encrypted nor authenticated; run "
          "this cluster on a trusted network only (see README, Security)");
    }
    if (registry_command->parsed()) {
      registry_config.bind_endpoint = endpoint(bind_host, base, protocol::kRegistryPortOffset);
      const std::string workers_host = advertise.empty() ? "*" : advertise;
      registry_config.frames_endpoint = endpoint(workers_host, base, protocol::kFramesPortOffset);
      registry_config.results_endpoint = endpoint(workers_host, base, protocol::kResultsPortOffset);
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
    if (worker_command->parsed()) {
      if (const char* fault = std::getenv("FRAMEPIPE_FAULT")) worker_config.fault = fault;
      return worker::run(worker_config);
    }
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
    if (bench_command->parsed()) return bench::run(bench_config);
    if (process_command->parsed()) {
      const auto result = bench::process_locally(local_config);
      std::printf(
          "%lld frames in %.2f s (%.1f frames/s): decode %.2f s, filter %.2f s, encode %.2f s\n",
          result.frames, result.seconds, result.frames / result.seconds, result.decode_seconds,
          result.filter_seconds, result.encode_seconds);
      return 0;
    }
  } catch (const std::exception& e) {
    spdlog::critical("{}: {}", app.get_subcommands().front()->get_name(), e.what());
    return 1;
  }
  return 0;
}
