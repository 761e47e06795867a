#include "framepipe/bench/bench.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "baselines.hpp"
#include "framepipe/chain/chain.hpp"
#include "framepipe/protocol/formats.hpp"
#include "framepipe/protocol/idle_trim.hpp"
#include "framepipe/protocol/signals.hpp"
#include "local_cluster.hpp"
#include "process.hpp"
#include "report.hpp"

namespace framepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr auto kBaselineTimeout = std::chrono::seconds(3600);
// Job polling: every 100 ms, every 10 ms near the end so the end is timed to ~10 ms; the
// cluster-wide figures (/health, /api/workers) every third poll.
constexpr auto kJobPoll = std::chrono::milliseconds(100);
constexpr auto kJobPollNearEnd = std::chrono::milliseconds(10);
// Each role's idle size is read this long after the job is done: the sink and the ventilator give
// their free heap back once they have had no job for protocol::kIdleTrimMs.
constexpr auto kIdleSettle = std::chrono::milliseconds(protocol::kIdleTrimMs + 1500);
constexpr int kClusterFiguresEvery = 3;
constexpr int kMaxWorkers = 64;
constexpr int kMaxRepeat = 100;

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

double mean(const std::vector<double>& values) {
  return values.empty() ? 0 : std::accumulate(values.begin(), values.end(), 0.0) / values.size();
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void write_whole_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string first_line_with(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) return "";
      const auto start = line.find_first_not_of(" \t", colon + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

std::array<double, 3> load_average() {
  std::array<double, 3> load{};
  std::ifstream in("/proc/loadavg");
  in >> load[0] >> load[1] >> load[2];
  return load;
}

Machine describe_machine() {
  Machine machine;
  machine.cores = static_cast<int>(std::thread::hardware_concurrency());
  machine.cpu_model = first_line_with("/proc/cpuinfo", "model name");
  if (machine.cpu_model.empty()) machine.cpu_model = "unknown";
  const std::string memory = first_line_with("/proc/meminfo", "MemTotal");  // "24576000 kB"
  if (!memory.empty()) machine.memory_bytes = std::stoll(memory) * 1024;
  utsname name{};
  if (uname(&name) == 0) machine.kernel = name.release;
  machine.load_average_start = load_average();
  return machine;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

std::string default_cache_dir() {
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache) {
    return std::string(cache) + "/framepipe/bench";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::string(home) + "/.cache/framepipe/bench";
  }
  return (std::filesystem::temp_directory_path() / "framepipe-bench-cache").string();
}

// The bench's scratch directory: the one given, kept; or a temporary one, removed at the end.
class WorkDirectory {
 public:
  explicit WorkDirectory(const std::string& given) {
    if (!given.empty()) {
      path_ = given;
      std::filesystem::create_directories(path_);
      return;
    }
    std::string pattern = (std::filesystem::temp_directory_path() / "framepipe-bench-XXXXXX");
    if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory");
    path_ = pattern;
    temporary_ = true;
  }
  ~WorkDirectory() {
    std::error_code ignored;
    if (temporary_) std::filesystem::remove_all(path_, ignored);
  }
  WorkDirectory(const WorkDirectory&) = delete;
  WorkDirectory& operator=(const WorkDirectory&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool temporary_ = false;
};

// One status line on a terminal, rewritten in place; plain lines elsewhere (logs, ctest).
class Progress {
 public:
  Progress() : live_(isatty(STDERR_FILENO) == 1) {}
  ~Progress() { clear(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // A line that stays.
  void say(const std::string& text) {
    clear();
    std::fprintf(stderr, "%s\n", text.c_str());
    std::fflush(stderr);
  }
  // The live line: shown on a terminal only.
  void update(const std::string& text) {
    if (!live_) return;
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool live_;
  bool shown_ = false;
};

void check_interrupted() {
  if (stop_requested()) throw std::runtime_error("interrupted");
}

void validate(const BenchConfig& config) {
  if (config.input.empty() == config.generate.empty()) {
    throw std::invalid_argument("give exactly one of --input FILE and --generate SPEC");
  }
  if (config.workers.empty()) throw std::invalid_argument("--workers: give at least one count");
  for (const int workers : config.workers) {
    if (workers < 1 || workers > kMaxWorkers) {
      throw std::invalid_argument("--workers: each count must be 1.." +
                                  std::to_string(kMaxWorkers));
    }
  }
  if (config.repeat < 1 || config.repeat > kMaxRepeat) {
    throw std::invalid_argument("--repeat must be 1.." + std::to_string(kMaxRepeat));
  }
  if (config.crf < 0 || config.crf > 51) throw std::invalid_argument("--crf must be 0..51");
  if (!protocol::is_x264_preset(config.preset)) {
    throw std::invalid_argument("--preset " + config.preset + ": not an x264 preset; use one of " +
                                protocol::x264_preset_choices());
  }
  if (!config.link_rate.empty() && config.hosts == 0) {
    throw std::invalid_argument("--link-rate shapes the head's link of --hosts: give --hosts too");
  }
  if (config.job_stall_seconds < 1) throw std::invalid_argument("the stall timeout must be >= 1 s");
  if (!config.input.empty() && !std::filesystem::is_regular_file(config.input)) {
    throw std::invalid_argument("--input " + config.input + ": no such file");
  }
  // Fail now, not after the whole run, when an output cannot be written.
  for (const std::string& path : {config.json_path, config.svg_path}) {
    if (path.empty()) continue;
    std::ofstream probe(path, std::ios::app);
    if (!probe) throw std::invalid_argument("cannot write " + path);
  }
}

bool audio_only(const BenchConfig& config) {
  const protocol::OutputFormat* format = protocol::find_output_format(config.format);
  return format != nullptr && format->kind == protocol::MediaKind::audio;
}

struct JobSample {
  double seconds = 0;
  double upload_seconds = 0;
  long long frames = 0;
  std::optional<double> reported_fps;
  std::optional<double> encode_ms;
  bool shared_memory = false;  // the job's frames reached the sink by shared memory
  std::string distribution;    // how the cluster dealt it: frames or segments
  // Frames the workers took (resends included) and how many of them by shared memory.
  long long worker_frames = 0;
  long long worker_frames_shared = 0;
  std::vector<double> decode_ms;
  std::map<std::string, std::vector<double>> filter_ms;  // per worker name
  long long frames_in_flight_peak = 0;
};

std::optional<double> number_field(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number()) return std::nullopt;
  return object[key].get<double>();
}

// The cluster-wide figures of one moment: the ventilator's (GET /health) and the workers'.
void sample_cluster(LocalCluster& cluster, JobSample& sample) {
  const auto health = cluster.try_get("/health");
  if (health && health->contains("ventilator")) {
    const json& ventilator = (*health)["ventilator"];
    if (auto decode = number_field(ventilator, "decode_ms"); decode && *decode > 0) {
      sample.decode_ms.push_back(*decode);
    }
    if (auto in_flight = number_field(ventilator, "frames_in_flight")) {
      sample.frames_in_flight_peak =
          std::max(sample.frames_in_flight_peak, static_cast<long long>(*in_flight));
    }
  }
  const auto listed = cluster.try_get("/api/workers");
  if (!listed) return;
  const json& workers =
      listed->is_object() && listed->contains("workers") ? (*listed)["workers"] : *listed;
  if (!workers.is_array()) return;
  for (const json& worker : workers) {
    const auto filter = number_field(worker, "filter_ms");
    if (!filter || *filter <= 0 || worker.value("state", "") != "busy") continue;
    sample.filter_ms[worker.value("name", "?")].push_back(*filter);
  }
}

// How the workers took the job's frames (the cluster is fresh: its counters are this job's). Their
// counts come with heartbeats, a second apart: wait for the last ones.
void count_worker_frames(LocalCluster& cluster, JobSample& sample) {
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  do {
    const auto listed = cluster.try_get("/api/workers");
    if (listed) {
      const json& workers =
          listed->is_object() && listed->contains("workers") ? (*listed)["workers"] : *listed;
      long long done = 0;
      long long shared = 0;
      for (const json& worker : workers.is_array() ? workers : json::array()) {
        done += worker.value("frames_done", 0LL);
        shared += worker.value("frames_shared", 0LL);
      }
      sample.worker_frames = done;
      sample.worker_frames_shared = shared;
      if (done >= sample.frames || workers.empty()) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (Clock::now() < deadline);
}

// `through_workers`: the chain changes pixels, so frames go through the workers.
JobSample run_job(LocalCluster& cluster, const std::string& file_name, const std::string& content,
                  const BenchConfig& config, const std::string& chain, long long expected_frames,
                  bool through_workers, const std::string& label, Progress& progress) {
  JobSample sample;
  const auto upload_started = Clock::now();
  const std::string id = cluster.submit(file_name, content, chain, config.preset, config.crf,
                                        config.distribution, config.format);
  const auto started = Clock::now();
  sample.upload_seconds = seconds_between(upload_started, started);

  long long last_frames = -1;
  auto last_change = started;
  const long long near_end = expected_frames - std::max(3LL, expected_frames / 30);
  for (int poll = 0;; ++poll) {
    check_interrupted();
    const json job = cluster.get("/api/jobs/" + id);
    const auto now = Clock::now();
    const std::string state = job.value("state", "");
    if (state == "done") {
      sample.seconds = seconds_between(started, now);
      sample_cluster(cluster, sample);  // a short job may end before any sample while running
      sample.frames = job.value("frames_total", 0LL);
      if (sample.frames <= 0) sample.frames = job.value("frames_done", 0LL);
      if (audio_only(config)) sample.frames = expected_frames;  // none written: the input's
      if (auto ms = number_field(job, "encode_ms"); ms && *ms > 0) sample.encode_ms = ms;
      sample.shared_memory = job.value("shared_memory", false);
      if (job.contains("distribution") && job["distribution"].is_object()) {
        sample.distribution = job["distribution"].value("mode", "");
      }
      if (through_workers) count_worker_frames(cluster, sample);
      break;
    }
    if (state == "failed" || state == "canceled") {
      throw std::runtime_error("the job " + state + ": " +
                               job.value("error", job.value("message", std::string())) +
                               "\ncluster log:\n" + cluster.log_tail());
    }
    const long long frames = job.value("frames_done", 0LL);
    // The job's fps as the sink reports it: recent while it runs, its mean once it is done.
    if (auto fps = number_field(job, "fps"); fps && *fps > 0) sample.reported_fps = fps;
    if (frames != last_frames) {
      last_frames = frames;
      last_change = now;
    } else if (seconds_between(last_change, now) > config.job_stall_seconds) {
      throw std::runtime_error("the job made no progress for " +
                               std::to_string(config.job_stall_seconds) + " s (state " + state +
                               ", " + std::to_string(frames) + " frames)\ncluster log:\n" +
                               cluster.log_tail());
    }
    if (poll % kClusterFiguresEvery == 0) sample_cluster(cluster, sample);
    const double elapsed = seconds_between(started, now);
    char line[256];
    std::snprintf(line, sizeof line,
                  "%s: %s %lld/%lld frames, %.1f s, %.1f frames/s, up to %lld in flight",
                  label.c_str(), state.c_str(), frames, expected_frames, elapsed,
                  elapsed > 0 ? frames / elapsed : 0.0, sample.frames_in_flight_peak);
    progress.update(line);
    std::this_thread::sleep_for(frames >= near_end ? kJobPollNearEnd : kJobPoll);
  }
  cluster.remove_job(id);
  return sample;
}

// One job on a fresh cluster of `workers` workers: started, used once, measured, stopped.
struct ClusterSample {
  JobSample job;
  ClusterUsage before;  // just before the upload
  ClusterUsage after;   // just after the job is done: peak memory over the roles' whole life
  ClusterUsage idle;    // kIdleSettle later: each role's resident size once idle
  int http_port = 0;
  int zmq_port_base = 0;
  std::optional<int64_t> head_link_bytes;  // received and sent on the head's link during the job
};

ClusterSample measure_cluster_once(const std::string& executable, int workers,
                                   const BenchConfig& config, const std::string& chain,
                                   const InputInfo& input, const std::string& content,
                                   const std::string& directory, const std::string& label,
                                   Progress& progress, const HostNetwork* network) {
  progress.update(label + ": starting a " + (network ? "cluster across hosts" : "local cluster"));
  LocalCluster cluster(executable, workers, directory,
                       config.shared_memory ? std::vector<std::string>{}
                                            : std::vector<std::string>{"--no-shared-memory"},
                       network);
  std::pair<int64_t, int64_t> link_before;
  if (network) link_before = network->head_link_bytes();
  ClusterSample sample;
  sample.http_port = cluster.http_port();
  sample.zmq_port_base = cluster.zmq_port_base();
  sample.before = cluster.usage();
  sample.job = run_job(cluster, std::filesystem::path(input.path).filename(), content, config,
                       chain, input.frames, input.bytes_to_worker > 0, label, progress);
  sample.after = cluster.usage();
  for (auto waited = std::chrono::milliseconds(0); waited < kIdleSettle;
       waited += std::chrono::milliseconds(100)) {
    check_interrupted();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sample.idle = cluster.usage();
  if (network) {
    const auto link_after = network->head_link_bytes();
    sample.head_link_bytes =
        link_after.first - link_before.first + link_after.second - link_before.second;
  }
  cluster.stop();
  return sample;
}

void add_sample(ClusterRun& run, const ClusterSample& sample, std::vector<double>& decode_ms,
                std::vector<double>& filter_ms, std::vector<double>& encode_ms,
                std::vector<double>& reported_fps) {
  const JobSample& job = sample.job;
  run.http_port = sample.http_port;
  run.zmq_port_base = sample.zmq_port_base;
  run.seconds_samples.push_back(job.seconds);
  run.upload_samples.push_back(job.upload_seconds);
  run.frames = job.frames;
  // By shared memory only when every repeat was.
  run.shared_memory = job.shared_memory && (run.seconds_samples.size() == 1 || run.shared_memory);
  run.distribution = job.distribution;
  run.worker_frames += job.worker_frames;
  run.worker_frames_shared += job.worker_frames_shared;
  run.frames_in_flight_peak = std::max(run.frames_in_flight_peak, job.frames_in_flight_peak);
  decode_ms.insert(decode_ms.end(), job.decode_ms.begin(), job.decode_ms.end());
  if (!job.filter_ms.empty()) {
    std::vector<double> per_worker;
    for (const auto& [name, values] : job.filter_ms) per_worker.push_back(mean(values));
    filter_ms.push_back(mean(per_worker));
  }
  if (job.encode_ms) encode_ms.push_back(*job.encode_ms);
  if (job.reported_fps) reported_fps.push_back(*job.reported_fps);

  const ClusterUsage& after = sample.after;
  run.peak_registry = std::max(run.peak_registry, after.registry.peak_bytes);
  run.peak_ventilator = std::max(run.peak_ventilator, after.ventilator.peak_bytes);
  run.peak_sink = std::max(run.peak_sink, after.sink.peak_bytes);
  run.peak_http = std::max(run.peak_http, after.http.peak_bytes);
  run.peak_worker_max = std::max(run.peak_worker_max, after.workers.peak_bytes);
  const ClusterUsage& idle = sample.idle;
  run.idle_registry = std::max(run.idle_registry, idle.registry.resident_bytes);
  run.idle_ventilator = std::max(run.idle_ventilator, idle.ventilator.resident_bytes);
  run.idle_sink = std::max(run.idle_sink, idle.sink.resident_bytes);
  run.idle_http = std::max(run.idle_http, idle.http.resident_bytes);
  run.idle_worker_max = std::max(run.idle_worker_max, idle.workers.resident_bytes);
  // Summed here, divided by the number of repeats at the end.
  auto used = [](const RoleUsage& end, const RoleUsage& start) {
    return std::max(0.0, end.cpu_seconds - start.cpu_seconds);
  };
  run.cpu_registry += used(after.registry, sample.before.registry);
  run.cpu_ventilator += used(after.ventilator, sample.before.ventilator);
  run.cpu_sink += used(after.sink, sample.before.sink);
  run.cpu_http += used(after.http, sample.before.http);
  run.cpu_workers += used(after.workers, sample.before.workers);
  if (sample.head_link_bytes && job.frames > 0) {
    run.head_link_bytes_per_frame =
        run.head_link_bytes_per_frame.value_or(0) +
        static_cast<double>(*sample.head_link_bytes) / static_cast<double>(job.frames);
  }
  run.load_average = load_average();
}

void finish_run(ClusterRun& run, int repeat, const std::vector<double>& decode_ms,
                const std::vector<double>& filter_ms, const std::vector<double>& encode_ms,
                const std::vector<double>& reported_fps) {
  run.seconds = median(run.seconds_samples);
  run.upload_seconds = median(run.upload_samples);
  run.fps = run.seconds > 0 ? run.frames / run.seconds : 0;
  if (!decode_ms.empty()) run.decode_ms_per_frame = mean(decode_ms);
  if (!filter_ms.empty()) run.filter_ms_per_frame = mean(filter_ms);
  if (!encode_ms.empty()) run.encode_ms_per_frame = mean(encode_ms);
  if (!reported_fps.empty()) run.cluster_reported_fps = median(reported_fps);
  run.cpu_registry /= repeat;
  run.cpu_ventilator /= repeat;
  run.cpu_sink /= repeat;
  run.cpu_http /= repeat;
  run.cpu_workers /= repeat;
  if (run.head_link_bytes_per_frame) *run.head_link_bytes_per_frame /= repeat;
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", seconds);
  return text;
}

}  // namespace

int run(const BenchConfig& config) {
  validate(config);
  const auto parsed = chain::parse_chain(config.chain);
  if (!parsed.ok()) throw std::invalid_argument("--filters: " + parsed.error);
  const std::string chain = chain::canonical(parsed.chain);
  if (auto refusal = protocol::format_refusal({.format = config.format,
                                               .chain_is_copy = chain::is_identity(parsed.chain),
                                               .has_audio = std::nullopt})) {
    throw std::invalid_argument("--format: " + *refusal);
  }
  std::optional<GenerateSpec> generate;
  if (!config.generate.empty()) generate = parse_generate_spec(config.generate);
  std::vector<int> worker_counts = config.workers;
  std::sort(worker_counts.begin(), worker_counts.end());
  worker_counts.erase(std::unique(worker_counts.begin(), worker_counts.end()), worker_counts.end());

  const std::string executable = self_executable();
  // With hosts, this thread (and every process it starts) lives on the head from here on.
  std::unique_ptr<HostNetwork> network;
  if (config.hosts > 0) {
    network = std::make_unique<HostNetwork>(config.hosts, config.link_rate);
    network->enter_head();
  }
  WorkDirectory work(config.work_dir);
  Progress progress;

  Report report;
  report.started_at = utc_now();
  report.machine = describe_machine();
  report.chain = config.chain;
  report.format = config.format;
  report.audio_only = audio_only(config);
  report.preset = config.preset;
  report.crf = config.crf;
  report.repeat = config.repeat;
  report.hosts = config.hosts;
  report.link_rate = config.link_rate;

  std::string input_path = config.input;
  if (generate) {
    const std::string cache = config.cache_dir.empty() ? default_cache_dir() : config.cache_dir;
    progress.say("generating " + generate->text + " (" + std::to_string(generate->width) + "x" +
                 std::to_string(generate->height) + ") into " + cache + " unless cached");
    input_path = generate_input(*generate, cache, work.path() + "/generate.log");
  }
  report.input = probe_input(input_path, parsed.chain);
  if (generate) report.input.generated_from = generate->text;
  if (auto refusal = protocol::format_refusal({.format = config.format,
                                               .chain_is_copy = chain::is_identity(parsed.chain),
                                               .has_audio = !report.input.audio_codec.empty()})) {
    throw std::invalid_argument("--format: " + *refusal);
  }
  const std::string content = read_whole_file(input_path);
  check_interrupted();

  BaselineSettings settings;
  settings.input = input_path;
  settings.chain = chain;
  settings.format = config.format;
  settings.preset = config.preset;
  settings.crf = config.crf;
  settings.work_dir = work.path();
  settings.timeout = kBaselineTimeout;
  report.ffmpeg = ffmpeg_command(settings, report.input, parsed.chain);
  report.single_process.command = single_process_command(executable, settings);

  // Repeats are interleaved (ffmpeg, single process, each cluster size, then again) so that the
  // samples compared with each other ran under the same load, on a machine that may be shared.
  std::vector<double> ffmpeg_cpu;
  std::vector<BaselineSample> single_samples;
  struct Figures {
    std::vector<double> decode_ms, filter_ms, encode_ms, reported_fps;
  };
  std::vector<Figures> figures(worker_counts.size());
  report.runs.resize(worker_counts.size());
  for (std::size_t i = 0; i < worker_counts.size(); ++i) report.runs[i].workers = worker_counts[i];
  for (int repeat = 1; repeat <= config.repeat; ++repeat) {
    const std::string of =
        " (" + std::to_string(repeat) + "/" + std::to_string(config.repeat) + ")";
    if (config.baselines) {
      check_interrupted();
      progress.update("ffmpeg" + of + ": running");
      const auto ffmpeg =
          run_ffmpeg(report.ffmpeg.command, work.path() + "/ffmpeg.log", settings.timeout);
      report.ffmpeg.seconds_samples.push_back(ffmpeg.seconds);
      report.ffmpeg.peak_memory_bytes =
          std::max(report.ffmpeg.peak_memory_bytes, ffmpeg.peak_memory_bytes);
      ffmpeg_cpu.push_back(ffmpeg.cpu_seconds);
      progress.say("ffmpeg" + of + ": " + seconds_text(ffmpeg.seconds));

      check_interrupted();
      progress.update("single process" + of + ": running");
      single_samples.push_back(run_single_process(report.single_process.command,
                                                  work.path() + "/single.log", settings.timeout));
      report.single_process.seconds_samples.push_back(single_samples.back().seconds);
      progress.say("single process" + of + ": " + seconds_text(single_samples.back().seconds));
    }
    for (std::size_t i = 0; i < worker_counts.size(); ++i) {
      check_interrupted();
      const int workers = worker_counts[i];
      const std::string label =
          "framepipe, " + std::to_string(workers) + (workers == 1 ? " worker" : " workers") + of;
      const ClusterSample sample = measure_cluster_once(
          executable, workers, config, chain, report.input, content,
          work.path() + "/cluster-" + std::to_string(workers) + "-" + std::to_string(repeat), label,
          progress, network.get());
      add_sample(report.runs[i], sample, figures[i].decode_ms, figures[i].filter_ms,
                 figures[i].encode_ms, figures[i].reported_fps);
      progress.say(label + ": " + std::to_string(sample.job.frames) + " frames in " +
                   seconds_text(sample.job.seconds) + " after a " +
                   seconds_text(sample.job.upload_seconds) + " upload");
    }
  }
  for (std::size_t i = 0; i < worker_counts.size(); ++i) {
    finish_run(report.runs[i], config.repeat, figures[i].decode_ms, figures[i].filter_ms,
               figures[i].encode_ms, figures[i].reported_fps);
  }
  if (config.baselines) {
    auto& ffmpeg = report.ffmpeg;
    ffmpeg.ran = true;
    ffmpeg.seconds = median(ffmpeg.seconds_samples);
    ffmpeg.fps = report.input.frames / ffmpeg.seconds;
    ffmpeg.cpu_seconds = median(ffmpeg_cpu);

    auto& single = report.single_process;
    single.ran = true;
    single.seconds = median(single.seconds_samples);
    // The decode/filter/encode split of the run whose time is the median one.
    const auto middle = std::min_element(
        single_samples.begin(), single_samples.end(), [&](const auto& a, const auto& b) {
          return std::abs(a.seconds - single.seconds) < std::abs(b.seconds - single.seconds);
        });
    // An audio format writes no frame: its rate is the input's frames converted per second.
    single.frames = report.audio_only ? report.input.frames : middle->frames;
    single.fps = single.frames / single.seconds;
    single.decode_seconds = middle->decode_seconds;
    single.filter_seconds = middle->filter_seconds;
    single.encode_seconds = middle->encode_seconds;
    std::vector<double> single_cpu;
    for (const auto& sample : single_samples) {
      single.peak_memory_bytes = std::max(single.peak_memory_bytes, sample.peak_memory_bytes);
      single_cpu.push_back(sample.cpu_seconds);
    }
    single.cpu_seconds = median(single_cpu);
  }
  if (const ClusterRun* one = report.one_worker_run(); one && one->fps > 0) {
    const double reference = one->fps;
    for (auto& run : report.runs) {
      run.speedup = run.fps / reference;
      run.efficiency = *run.speedup / run.workers;
    }
  }
  report.machine.load_average_end = load_average();
  progress.clear();

  std::fputs(render_table(report).c_str(), stdout);
  std::fflush(stdout);
  if (!config.json_path.empty()) {
    write_whole_file(config.json_path, to_json(report).dump(2) + "\n");
    std::printf("  JSON: %s\n", config.json_path.c_str());
  }
  if (!config.svg_path.empty()) {
    write_whole_file(config.svg_path, render_svg(report));
    std::printf("  SVG:  %s\n", config.svg_path.c_str());
  }
  return 0;
}

}  // namespace framepipe::bench
