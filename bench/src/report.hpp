// What one `framepipe bench` measured, and its three renderings: the terminal table, the JSON
// document (every figure, null where the cluster's API does not give it) and the SVG plot of
// frames per second against workers.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace framepipe::bench {

struct Machine {
  int cores = 0;
  std::string cpu_model;
  long long memory_bytes = 0;
  std::string kernel;
  std::array<double, 3> load_average_start{};  // 1, 5, 15 minutes
  std::array<double, 3> load_average_end{};
};

struct InputInfo {
  std::string path;
  std::string generated_from;  // the --generate spec, "" for a given file
  int width = 0;
  int height = 0;
  long long frames = 0;  // video packets, counted by demuxing
  double duration = 0;   // seconds
  std::string codec;
  std::string pixel_format;  // the decoder's native format
  std::string audio_codec;   // "" without audio
  int audio_channels = 0;    // of that audio; 0 without audio
  long long bytes = 0;
  int out_width = 0;  // after the chain
  int out_height = 0;
  std::string wire_pixel_format;  // what the ventilator sends (native, or yuv420p when converted)
  long long bytes_to_worker = 0;  // plane bytes of one frame, linesize padding included
  long long bytes_to_sink = 0;    // yuv420p of the output size
};

struct ClusterRun {
  int workers = 0;
  int zmq_port_base = 0;
  int http_port = 0;
  std::vector<double> seconds_samples;  // upload complete to job done, one per repeat
  std::vector<double> upload_samples;
  long long frames = 0;
  double seconds = 0;  // the repeat statistic of seconds_samples
  double fps = 0;
  std::optional<double> speedup;     // fps / fps(1 worker), when 1 worker was measured
  std::optional<double> efficiency;  // speedup / workers
  double upload_seconds = 0;
  std::optional<double> cluster_reported_fps;  // the job's own fps, from the sink
  std::optional<double> decode_ms_per_frame;   // ventilator, from GET /health
  std::optional<double> filter_ms_per_frame;   // mean over workers, from GET /api/workers
  std::optional<double> encode_ms_per_frame;   // sink; null unless the job JSON carries it
  bool shared_memory = false;   // frames went ventilator -> sink by shared memory, not the wire
  std::string distribution;     // how the cluster dealt the job: frames or segments
  long long worker_frames = 0;  // frames the workers took, over all repeats
  long long worker_frames_shared = 0;  // of them, by shared memory
  // The share of frames that reached a worker by shared memory (0 without workers).
  double worker_shared_fraction() const {
    return worker_frames > 0 ? static_cast<double>(worker_frames_shared) / worker_frames : 0.0;
  }
  long long frames_in_flight_peak = 0;
  long long peak_registry = 0;
  long long peak_ventilator = 0;
  long long peak_sink = 0;
  long long peak_http = 0;
  long long peak_worker_max = 0;
  // Each role's resident size a few seconds after the job is done (the largest over the repeats).
  long long idle_registry = 0;
  long long idle_ventilator = 0;
  long long idle_sink = 0;
  long long idle_http = 0;
  long long idle_worker_max = 0;
  // CPU time (user + system) of each role per job: its growth over all repeats / repeats.
  double cpu_registry = 0;
  double cpu_ventilator = 0;
  double cpu_sink = 0;
  double cpu_http = 0;
  double cpu_workers = 0;  // all workers together
  double cpu_total() const {
    return cpu_registry + cpu_ventilator + cpu_sink + cpu_http + cpu_workers;
  }
  std::array<double, 3> load_average{};  // at the end of this worker count's runs
  // Bytes received and sent on the head's link per frame (with --hosts only), mean of repeats.
  std::optional<double> head_link_bytes_per_frame;
  // CPU milliseconds the head's processes (registry, ventilator, sink, http) spend per frame.
  double head_cpu_ms_per_frame() const {
    return frames > 0 ? 1000.0 * (cpu_registry + cpu_ventilator + cpu_sink + cpu_http) /
                            static_cast<double>(frames)
                      : 0.0;
  }
};

struct FfmpegBaseline {
  bool ran = false;
  std::vector<std::string> command;
  std::string video_filter;  // "" when none
  bool equivalent_filter = true;
  std::string note;
  std::vector<double> seconds_samples;
  double seconds = 0;
  double fps = 0;
  long long peak_memory_bytes = 0;
  double cpu_seconds = 0;  // median over the repeats
};

struct SingleProcessBaseline {
  bool ran = false;
  std::vector<std::string> command;
  std::vector<double> seconds_samples;
  double seconds = 0;
  double fps = 0;
  long long frames = 0;
  double decode_seconds = 0;
  double filter_seconds = 0;
  double encode_seconds = 0;
  long long peak_memory_bytes = 0;
  double cpu_seconds = 0;  // median over the repeats
};

struct Report {
  std::string started_at;  // ISO 8601, UTC
  Machine machine;
  InputInfo input;
  std::string chain;
  std::string format;       // the output format, as the job and both baselines write it
  bool audio_only = false;  // an audio format: fps counts the input's video frames
  std::string preset;
  int crf = 0;
  int repeat = 1;
  std::string repeat_statistic = "median";
  int hosts = 0;          // worker hosts in network namespaces; 0: loopback on one machine
  std::string link_rate;  // of the head's link with hosts; "": unshaped
  std::vector<ClusterRun> runs;
  FfmpegBaseline ffmpeg;
  SingleProcessBaseline single_process;

  // fps of the fastest cluster run, or nothing when none ran.
  const ClusterRun* best_run() const;
  const ClusterRun* one_worker_run() const;
};

nlohmann::json to_json(const Report& report);
std::string render_table(const Report& report);
std::string render_svg(const Report& report);

// The median of the samples (0 for none).
double median(std::vector<double> samples);

}  // namespace framepipe::bench
