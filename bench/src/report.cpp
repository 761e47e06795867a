#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string_view>

#include "framepipe/protocol/formats.hpp"

namespace framepipe::bench {
namespace {

using json = nlohmann::json;

constexpr double kMebibyte = 1024.0 * 1024.0;

json optional_number(const std::optional<double>& value) {
  return value ? json(*value) : json(nullptr);
}

json triple(const std::array<double, 3>& values) {
  return {values[0], values[1], values[2]};
}

std::optional<double> per_second(const std::optional<double>& ms, double multiplier = 1) {
  if (!ms || *ms <= 0) return std::nullopt;
  return multiplier * 1000.0 / *ms;
}

__attribute__((format(printf, 1, 2))) std::string format(const char* pattern, ...) {
  char text[1024];
  va_list arguments;
  va_start(arguments, pattern);
  std::vsnprintf(text, sizeof text, pattern, arguments);
  va_end(arguments);
  return text;
}

// How the output is written: "mp4: libx264 veryfast crf 20", "webm: libvpx-vp9 deadline=good
// cpu-used=5 ...", "mp3: the sound track alone".
std::string encoding_text(const Report& report) {
  const protocol::OutputFormat* format = protocol::find_output_format(report.format);
  if (format == nullptr) return report.format;
  std::string text = std::string(format->name) + ": ";
  if (format->kind == protocol::MediaKind::audio) return text + "the sound track alone";
  text += format->video_encoder;
  if (format->takes_job_quality) {
    text += " " + report.preset + " crf " + std::to_string(report.crf);
  }
  for (const auto& [key, value] : format->video_options) {
    text += " " + std::string(key) + "=" + std::string(value);
  }
  return text;
}

// `decimals` digits after the point, or "n/a".
std::string optional_text(const std::optional<double>& value, int decimals,
                          const char* suffix = "") {
  return value ? format("%.*f%s", decimals, *value, suffix) : "n/a";
}

std::string mebibytes(long long bytes) {
  return bytes > 0 ? format("%.0f", static_cast<double>(bytes) / kMebibyte) : "n/a";
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) {
    if (!text.empty()) text += ' ';
    const bool quote = word.find_first_of(" ,'\"=;") != std::string::npos && word.front() != '-';
    text += quote ? "'" + word + "'" : word;
  }
  return text;
}

std::string pad(std::string text, std::size_t width, bool left = false) {
  if (text.size() >= width) return text;
  const std::string spaces(width - text.size(), ' ');
  return left ? text + spaces : spaces + text;
}

// A row of right-aligned cells after a left-aligned label.
std::string row(const std::string& label, std::size_t label_width,
                const std::vector<std::string>& cells, std::size_t cell_width) {
  std::string line = pad(label, label_width, true);
  for (const auto& cell : cells) line += pad(cell, cell_width);
  return line + "\n";
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks up to `top`.
double tick_step(double top, int ticks) {
  const double raw = top / ticks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= factor * power) return factor * power;
  }
  return 10 * power;
}

struct PairedRatios {
  std::optional<double> best_vs_ffmpeg;
  std::optional<double> best_vs_single;
  std::optional<double> one_worker_overhead;
};

// Ratio of seconds b[i] / a[i] for each repeat i, then their median.
std::optional<double> paired_median(const std::vector<double>& numerator,
                                    const std::vector<double>& denominator) {
  std::vector<double> ratios;
  for (std::size_t i = 0; i < std::min(numerator.size(), denominator.size()); ++i) {
    if (denominator[i] > 0) ratios.push_back(numerator[i] / denominator[i]);
  }
  if (ratios.empty()) return std::nullopt;
  return median(ratios);
}

PairedRatios paired_ratios(const Report& report) {
  PairedRatios paired;
  const ClusterRun* best = report.best_run();
  const ClusterRun* one = report.one_worker_run();
  const auto& ffmpeg = report.ffmpeg;
  const auto& single = report.single_process;
  // fps ratios are inverse time ratios, scaled by the frame counts (equal for the same input).
  const double frames = static_cast<double>(report.input.frames);
  if (best && ffmpeg.ran && best->frames > 0 && frames > 0) {
    if (auto ratio = paired_median(ffmpeg.seconds_samples, best->seconds_samples)) {
      paired.best_vs_ffmpeg = *ratio * static_cast<double>(best->frames) / frames;
    }
  }
  if (best && single.ran && best->frames > 0 && single.frames > 0) {
    if (auto ratio = paired_median(single.seconds_samples, best->seconds_samples)) {
      paired.best_vs_single =
          *ratio * static_cast<double>(best->frames) / static_cast<double>(single.frames);
    }
  }
  if (one && ffmpeg.ran) {
    paired.one_worker_overhead = paired_median(one->seconds_samples, ffmpeg.seconds_samples);
  }
  return paired;
}

}  // namespace

double median(std::vector<double> samples) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const std::size_t middle = samples.size() / 2;
  return samples.size() % 2 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2;
}

const ClusterRun* Report::best_run() const {
  const ClusterRun* best = nullptr;
  for (const auto& run : runs) {
    if (!best || run.fps > best->fps) best = &run;
  }
  return best;
}

const ClusterRun* Report::one_worker_run() const {
  for (const auto& run : runs) {
    if (run.workers == 1) return &run;
  }
  return nullptr;
}

// Pixel bytes of one frame that cross a socket, on average: what goes to a worker unless it went
// by shared memory, and what goes to the sink unless it went by shared memory.
long long wire_bytes(const InputInfo& input, const ClusterRun& run) {
  // Segments and copied streams carry no pixels: their compressed bytes are the link's figures
  // (measured with --hosts).
  if (run.distribution == "segments" || run.distribution == "copied") return 0;
  const double to_worker =
      static_cast<double>(input.bytes_to_worker) * (1.0 - run.worker_shared_fraction());
  return std::llround(to_worker) + (run.shared_memory ? 0 : input.bytes_to_sink);
}

json to_json(const Report& report) {
  const auto& input = report.input;
  json runs = json::array();
  for (const auto& run : report.runs) {
    const long long wire = wire_bytes(input, run);
    runs.push_back({
        {"workers", run.workers},
        {"frames", run.frames},
        {"seconds", run.seconds},
        {"seconds_samples", run.seconds_samples},
        {"fps", run.fps},
        {"speedup", optional_number(run.speedup)},
        {"efficiency", optional_number(run.efficiency)},
        {"upload_seconds", run.upload_seconds},
        {"upload_seconds_samples", run.upload_samples},
        {"cluster_reported_fps", optional_number(run.cluster_reported_fps)},
        {"decode_ms_per_frame", optional_number(run.decode_ms_per_frame)},
        {"filter_ms_per_frame", optional_number(run.filter_ms_per_frame)},
        {"encode_ms_per_frame", optional_number(run.encode_ms_per_frame)},
        {"stage_fps",
         {{"decode", optional_number(per_second(run.decode_ms_per_frame))},
          {"filter", optional_number(per_second(run.filter_ms_per_frame, run.workers))},
          {"encode", optional_number(per_second(run.encode_ms_per_frame))}}},
        {"frames_in_flight_peak", run.frames_in_flight_peak},
        {"peak_memory_bytes",
         {{"registry", run.peak_registry},
          {"ventilator", run.peak_ventilator},
          {"sink", run.peak_sink},
          {"http", run.peak_http},
          {"worker_max", run.peak_worker_max}}},
        {"idle_rss_bytes",
         {{"registry", run.idle_registry},
          {"ventilator", run.idle_ventilator},
          {"sink", run.idle_sink},
          {"http", run.idle_http},
          {"worker_max", run.idle_worker_max}}},
        {"cpu_seconds_per_job",
         {{"registry", run.cpu_registry},
          {"ventilator", run.cpu_ventilator},
          {"sink", run.cpu_sink},
          {"http", run.cpu_http},
          {"workers_total", run.cpu_workers},
          {"total", run.cpu_total()}}},
        {"bytes_per_frame_on_wire", wire},
        {"wire",
         {{"to_worker_bytes", input.bytes_to_worker},
          {"to_worker_pixel_format", input.wire_pixel_format},
          {"to_sink_bytes", input.bytes_to_sink},
          {"to_sink_pixel_format", "yuv420p"},
          {"to_sink_by_shared_memory", run.shared_memory},
          {"to_worker_by_shared_memory_fraction", run.worker_shared_fraction()},
          {"megabytes_per_second", static_cast<double>(wire) * run.fps / 1e6}}},
        {"distribution", run.distribution},
        {"head",
         {{"cpu_ms_per_frame", run.head_cpu_ms_per_frame()},
          {"link_bytes_per_frame", optional_number(run.head_link_bytes_per_frame)}}},
        {"load_average", triple(run.load_average)},
        {"http_port", run.http_port},
        {"zmq_port_base", run.zmq_port_base},
    });
  }

  json baselines = json::object();
  const auto& ffmpeg = report.ffmpeg;
  baselines["ffmpeg"] = {
      {"ran", ffmpeg.ran},
      {"command", joined(ffmpeg.command)},
      {"argv", ffmpeg.command},
      {"video_filter", ffmpeg.video_filter.empty() ? json(nullptr) : json(ffmpeg.video_filter)},
      {"equivalent_filter", ffmpeg.equivalent_filter},
      {"threads", "default (all cores)"},
      {"note", ffmpeg.note},
      {"seconds", ffmpeg.ran ? json(ffmpeg.seconds) : json(nullptr)},
      {"seconds_samples", ffmpeg.seconds_samples},
      {"fps", ffmpeg.ran ? json(ffmpeg.fps) : json(nullptr)},
      {"peak_memory_bytes", ffmpeg.ran ? json(ffmpeg.peak_memory_bytes) : json(nullptr)},
      {"cpu_seconds", ffmpeg.ran ? json(ffmpeg.cpu_seconds) : json(nullptr)},
  };
  const auto& single = report.single_process;
  baselines["single_process"] = {
      {"ran", single.ran},
      {"command", joined(single.command)},
      {"argv", single.command},
      {"frames", single.frames},
      {"seconds", single.ran ? json(single.seconds) : json(nullptr)},
      {"seconds_samples", single.seconds_samples},
      {"fps", single.ran ? json(single.fps) : json(nullptr)},
      {"decode_seconds", single.ran ? json(single.decode_seconds) : json(nullptr)},
      {"filter_seconds", single.ran ? json(single.filter_seconds) : json(nullptr)},
      {"encode_seconds", single.ran ? json(single.encode_seconds) : json(nullptr)},
      {"peak_memory_bytes", single.ran ? json(single.peak_memory_bytes) : json(nullptr)},
      {"cpu_seconds", single.ran ? json(single.cpu_seconds) : json(nullptr)},
  };

  const ClusterRun* best = report.best_run();
  const ClusterRun* one = report.one_worker_run();
  json ratios = {
      {"best_framepipe_vs_ffmpeg",
       best && ffmpeg.ran && ffmpeg.fps > 0 ? json(best->fps / ffmpeg.fps) : json(nullptr)},
      {"best_framepipe_vs_single_process",
       best && single.ran && single.fps > 0 ? json(best->fps / single.fps) : json(nullptr)},
      {"one_worker_overhead_vs_ffmpeg", one && ffmpeg.ran && ffmpeg.seconds > 0
                                            ? json(one->seconds / ffmpeg.seconds)
                                            : json(nullptr)},
      {"best_workers", best ? json(best->workers) : json(nullptr)},
  };
  // The same ratios taken repeat by repeat (samples that ran back to back, under the same load),
  // then the median: steadier than the ratio of medians on a shared machine.
  const auto paired = paired_ratios(report);
  ratios["paired_medians"] = {
      {"best_framepipe_vs_ffmpeg", optional_number(paired.best_vs_ffmpeg)},
      {"best_framepipe_vs_single_process", optional_number(paired.best_vs_single)},
      {"one_worker_overhead_vs_ffmpeg", optional_number(paired.one_worker_overhead)},
  };

  return {
      {"tool", "framepipe bench"},
      {"started_at", report.started_at},
      {"machine",
       {{"cores", report.machine.cores},
        {"cpu_model", report.machine.cpu_model},
        {"memory_bytes", report.machine.memory_bytes},
        {"kernel", report.machine.kernel},
        {"load_average_start", triple(report.machine.load_average_start)},
        {"load_average_end", triple(report.machine.load_average_end)}}},
      {"input",
       {{"path", input.path},
        {"generated_from",
         input.generated_from.empty() ? json(nullptr) : json(input.generated_from)},
        {"width", input.width},
        {"height", input.height},
        {"frames", input.frames},
        {"duration", input.duration},
        {"codec", input.codec},
        {"pixel_format", input.pixel_format},
        {"audio_codec", input.audio_codec.empty() ? json(nullptr) : json(input.audio_codec)},
        {"bytes", input.bytes},
        {"out_width", input.out_width},
        {"out_height", input.out_height}}},
      {"filters", report.chain},
      {"format", report.format},
      {"encoding", encoding_text(report)},
      {"fps_counts", report.audio_only ? "the input's video frames (an audio format writes none)"
                                       : "frames written"},
      {"preset", report.preset},
      {"crf", report.crf},
      {"repeat", report.repeat},
      {"topology",
       {{"worker_hosts", report.hosts},
        {"head_link_rate", report.hosts > 0
                               ? json(report.link_rate.empty() ? "unshaped" : report.link_rate)
                               : json(nullptr)}}},
      {"repeat_statistic", report.repeat_statistic},
      {"runs", runs},
      {"baselines", baselines},
      {"ratios", ratios},
      {"definitions",
       {{"seconds",
         "framepipe: wall time from upload complete to the job reported done; "
         "baselines: wall time of the whole command"},
        {"fps", "frames / seconds"},
        {"speedup", "fps(N workers) / fps(1 worker)"},
        {"efficiency", "fps(N) / (N * fps(1))"},
        {"best_framepipe_vs_ffmpeg", "fps of the fastest worker count / ffmpeg's fps"},
        {"best_framepipe_vs_single_process",
         "fps of the fastest worker count / single-process fps"},
        {"one_worker_overhead_vs_ffmpeg", "seconds(1 worker) / ffmpeg's seconds"},
        {"peak_memory_bytes",
         "VmHWM of each role's process just after the job is done, the "
         "largest over the repeats (each repeat starts a fresh cluster); "
         "baselines: ru_maxrss"},
        {"idle_rss_bytes",
         "VmRSS of each role's process a few seconds after the job is done (the sink and the "
         "ventilator give their free heap back once idle), the largest over the repeats"},
        {"cpu_seconds_per_job",
         "user + system CPU time of each role's process from just before "
         "the upload to just after the job is done, mean over the "
         "repeats; baselines: of the whole command"},
        {"paired_medians",
         "each ratio computed per repeat (ffmpeg, single process and the "
         "clusters run back to back), then the median"},
        {"cluster_reported_fps",
         "the job's own recent fps from GET /api/jobs/{id} (the "
         "sink's, smoothed), last value seen while running"},
        {"null", "not available from the cluster's API (or the run did not happen)"}}},
  };
}

std::string render_table(const Report& report) {
  const auto& input = report.input;
  const auto& machine = report.machine;
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line,
                "\nframepipe bench: %s\n  %dx%d %s %s, %lld frames, %.1f s, audio %s; filters %s "
                "(output %dx%d); %s; %s of %d run(s)\n",
                input.path.c_str(), input.width, input.height, input.codec.c_str(),
                input.pixel_format.c_str(), input.frames, input.duration,
                input.audio_codec.empty() ? "none" : input.audio_codec.c_str(),
                report.chain.c_str(), input.out_width, input.out_height,
                encoding_text(report).c_str(), report.repeat_statistic.c_str(), report.repeat);
  out += line;
  std::snprintf(
      line, sizeof line,
      "  machine: %d cores, %s, %.1f GiB, Linux %s; load average %.2f %.2f %.2f at "
      "start, %.2f %.2f %.2f at end\n",
      machine.cores, machine.cpu_model.c_str(),
      static_cast<double>(machine.memory_bytes) / (kMebibyte * 1024), machine.kernel.c_str(),
      machine.load_average_start[0], machine.load_average_start[1], machine.load_average_start[2],
      machine.load_average_end[0], machine.load_average_end[1], machine.load_average_end[2]);
  out += line;
  const bool shared = std::any_of(report.runs.begin(), report.runs.end(),
                                  [](const ClusterRun& run) { return run.shared_memory; });
  double worker_shared = 0;  // the smallest share over the runs that had workers
  bool any_workers = false;
  for (const ClusterRun& run : report.runs) {
    if (run.worker_frames == 0) continue;
    worker_shared = any_workers ? std::min(worker_shared, run.worker_shared_fraction())
                                : run.worker_shared_fraction();
    any_workers = true;
  }
  const std::string to_worker_how =
      any_workers && worker_shared > 0 ? format(", %.0f%%+ by shared memory", 100.0 * worker_shared)
                                       : std::string();
  std::snprintf(line, sizeof line,
                "  pixels per frame: %lld B to a worker (%s planes%s) + %lld B to the sink "
                "(yuv420p)%s\n",
                input.bytes_to_worker, input.wire_pixel_format.c_str(), to_worker_how.c_str(),
                input.bytes_to_sink, shared ? " by shared memory" : "");
  out += line;
  out += "  on the wire per frame (pixels that crossed a socket, mean):";
  for (const ClusterRun& run : report.runs) {
    out += format(" %d w %.2f MB;", run.workers, static_cast<double>(wire_bytes(input, run)) / 1e6);
  }
  out += "\n";
  if (report.hosts > 0) {
    out += format(
        "  across %d worker host(s), the head's link %s; per frame on that link "
        "(both ways, measured):",
        report.hosts, report.link_rate.empty() ? "unshaped" : report.link_rate.c_str());
    for (const ClusterRun& run : report.runs) {
      out += format(" %d w %.3f MB (%s);", run.workers,
                    run.head_link_bytes_per_frame.value_or(0) / 1e6, run.distribution.c_str());
    }
    out += "\n";
  }
  out += "  the head's CPU per frame (registry, ventilator, sink, http):";
  for (const ClusterRun& run : report.runs) {
    out += format(" %d w %.2f ms;", run.workers, run.head_cpu_ms_per_frame());
  }
  out += "\n\n";

  const auto& ffmpeg = report.ffmpeg;
  const auto& single = report.single_process;
  auto ratio = [](double numerator, double denominator) {
    return denominator > 0 && numerator > 0 ? format("%.2fx", numerator / denominator) : "n/a";
  };

  constexpr std::size_t kLabel = 34;
  constexpr std::size_t kCell = 11;
  out += row("end to end, into " + report.format, kLabel,
             {"seconds", "fps", "speed-up", "effic.", "vs ffmpeg", "vs single"}, kCell);
  for (const auto& run : report.runs) {
    out += row(
        "framepipe, " + std::to_string(run.workers) + (run.workers == 1 ? " worker" : " workers"),
        kLabel,
        {format("%.2f", run.seconds), format("%.1f", run.fps), optional_text(run.speedup, 2, "x"),
         optional_text(run.efficiency, 2), ratio(run.fps, ffmpeg.ran ? ffmpeg.fps : 0),
         ratio(run.fps, single.ran ? single.fps : 0)},
        kCell);
  }
  if (ffmpeg.ran) {
    out += row(std::string("ffmpeg") + (ffmpeg.equivalent_filter ? "" : " (no equivalent filter)"),
               kLabel,
               {format("%.2f", ffmpeg.seconds), format("%.1f", ffmpeg.fps), "", "", "1.00x",
                ratio(ffmpeg.fps, single.ran ? single.fps : 0)},
               kCell);
  }
  if (single.ran) {
    out += row("single process (same chain)", kLabel,
               {format("%.2f", single.seconds), format("%.1f", single.fps), "", "",
                ratio(single.fps, ffmpeg.ran ? ffmpeg.fps : 0), "1.00x"},
               kCell);
  }
  out +=
      "  (\"vs\" columns: frames per second of the row over the baseline's; above 1 is faster)\n";
  if (report.audio_only) {
    out += "  (an audio format writes no frame: fps counts the input's video frames)\n";
  }
  if (ffmpeg.ran) out += "  ffmpeg: " + joined(ffmpeg.command) + "\n    " + ffmpeg.note + "\n";
  if (single.ran) {
    std::snprintf(line, sizeof line,
                  "  single process: decode %.2f s, filter %.2f s, encode %.2f s (inside %.2f s)\n",
                  single.decode_seconds, single.filter_seconds, single.encode_seconds,
                  single.seconds);
    out += line;
  }

  if (!report.runs.empty()) {
    out += "\n";
    constexpr std::size_t kStageLabel = 10;
    constexpr std::size_t kStageCell = 13;
    out += row("per stage", kStageLabel,
               {"upload s", "decode ms", "decode fps", "filter ms", "filter fps", "encode ms",
                "in flight", "wire MB/s"},
               kStageCell);
    for (const auto& run : report.runs) {
      const auto wire = static_cast<double>(wire_bytes(input, run));
      out += row(std::to_string(run.workers) + " w", kStageLabel,
                 {format("%.2f", run.upload_seconds), optional_text(run.decode_ms_per_frame, 2),
                  optional_text(per_second(run.decode_ms_per_frame), 0),
                  optional_text(run.filter_ms_per_frame, 2),
                  optional_text(per_second(run.filter_ms_per_frame, run.workers), 0),
                  optional_text(run.encode_ms_per_frame, 2),
                  std::to_string(run.frames_in_flight_peak), format("%.0f", wire * run.fps / 1e6)},
                 kStageCell);
    }
    out +=
        "  (filter fps: all workers together; encode ms: the sink's mean per frame, its video "
        "encoder included)\n\n";
    out += row("peak MiB", kStageLabel, {"registry", "ventilator", "sink", "http", "worker max"},
               kStageCell);
    for (const auto& run : report.runs) {
      out +=
          row(std::to_string(run.workers) + " w", kStageLabel,
              {mebibytes(run.peak_registry), mebibytes(run.peak_ventilator),
               mebibytes(run.peak_sink), mebibytes(run.peak_http), mebibytes(run.peak_worker_max)},
              kStageCell);
    }
    out += row("idle MiB", kStageLabel, {"registry", "ventilator", "sink", "http", "worker max"},
               kStageCell);
    for (const auto& run : report.runs) {
      out +=
          row(std::to_string(run.workers) + " w", kStageLabel,
              {mebibytes(run.idle_registry), mebibytes(run.idle_ventilator),
               mebibytes(run.idle_sink), mebibytes(run.idle_http), mebibytes(run.idle_worker_max)},
              kStageCell);
    }
    out += "  (idle: resident a few seconds after the job is done)\n";
    std::string baselines_memory = "  baselines' peak RSS:";
    if (ffmpeg.ran) baselines_memory += " ffmpeg " + mebibytes(ffmpeg.peak_memory_bytes) + " MiB";
    if (single.ran) {
      baselines_memory += ", single process " + mebibytes(single.peak_memory_bytes) + " MiB";
    }
    out += baselines_memory + "\n\n";
    out += row("CPU s/job", kStageLabel,
               {"ventilator", "sink", "workers", "http+reg.", "total", "vs ffmpeg"}, kStageCell);
    for (const auto& run : report.runs) {
      out += row(std::to_string(run.workers) + " w", kStageLabel,
                 {format("%.2f", run.cpu_ventilator), format("%.2f", run.cpu_sink),
                  format("%.2f", run.cpu_workers), format("%.2f", run.cpu_http + run.cpu_registry),
                  format("%.2f", run.cpu_total()),
                  ratio(run.cpu_total(), ffmpeg.ran ? ffmpeg.cpu_seconds : 0)},
                 kStageCell);
    }
    std::string baselines_cpu = "  baselines' CPU s:";
    if (ffmpeg.ran) baselines_cpu += " ffmpeg " + format("%.2f", ffmpeg.cpu_seconds);
    if (single.ran) baselines_cpu += ", single process " + format("%.2f", single.cpu_seconds);
    out += baselines_cpu + "\n";
  }

  const ClusterRun* best = report.best_run();
  const ClusterRun* one = report.one_worker_run();
  out += "\n";
  if (best && ffmpeg.ran) {
    std::snprintf(line, sizeof line, "  best framepipe (%d worker%s) vs ffmpeg: %.2fx its fps\n",
                  best->workers, best->workers == 1 ? "" : "s", best->fps / ffmpeg.fps);
    out += line;
  }
  if (best && single.ran) {
    std::snprintf(line, sizeof line,
                  "  best framepipe (%d worker%s) vs single process: %.2fx its fps\n",
                  best->workers, best->workers == 1 ? "" : "s", best->fps / single.fps);
    out += line;
  }
  if (one && ffmpeg.ran) {
    std::snprintf(line, sizeof line, "  1 worker takes %.2fx ffmpeg's time",
                  one->seconds / ffmpeg.seconds);
    out += line;
    if (const auto paired = paired_ratios(report).one_worker_overhead;
        paired && report.repeat > 1) {
      out += format(" (%.2fx as the median of the %d paired runs)", *paired, report.repeat);
    }
    out += "\n";
  }
  return out;
}

std::string render_svg(const Report& report) {
  constexpr double kWidth = 780;
  constexpr double kHeight = 440;
  constexpr double kLeft = 70;
  constexpr double kRight = 250;  // room for the legend
  constexpr double kTop = 50;
  constexpr double kBottom = 55;
  const double plot_width = kWidth - kLeft - kRight;
  const double plot_height = kHeight - kTop - kBottom;

  int max_workers = 1;
  for (const auto& run : report.runs) max_workers = std::max(max_workers, run.workers);
  max_workers = std::max(max_workers, 2);

  // The ideal line starts from 1 worker's fps, or from the smallest count measured, scaled.
  const ClusterRun* reference = report.one_worker_run();
  if (!reference) {
    for (const auto& run : report.runs) {
      if (!reference || run.workers < reference->workers) reference = &run;
    }
  }
  const double ideal_per_worker = reference ? reference->fps / reference->workers : 0;

  double top = 1;
  for (const auto& run : report.runs) top = std::max(top, run.fps);
  top = std::max(top, ideal_per_worker * max_workers);
  if (report.ffmpeg.ran) top = std::max(top, report.ffmpeg.fps);
  if (report.single_process.ran) top = std::max(top, report.single_process.fps);
  const double step = tick_step(top * 1.05, 6);
  const double y_max = std::ceil(top * 1.05 / step) * step;

  auto x_of = [&](double workers) {
    return kLeft + (workers - 0.5) / (max_workers)*plot_width;  // workers 0.5 .. max+0.5
  };
  auto y_of = [&](double fps) { return kTop + plot_height * (1 - fps / y_max); };

  std::string svg;
  char text[512];
  auto add = [&svg](const std::string& piece) { svg += piece; };
  add(
      format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
             "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
             kWidth, kHeight, kWidth, kHeight));
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::snprintf(text, sizeof text, "framepipe bench: %dx%d, %lld frames, filters %s",
                report.input.width, report.input.height, report.input.frames, report.chain.c_str());
  add(format("<text x=\"%.0f\" y=\"22\" font-size=\"14\" font-weight=\"bold\">%s</text>\n", kLeft,
             xml_escape(text).c_str()));
  std::snprintf(text, sizeof text, "%s; %d cores (%s); load %.1f at start; %s of %d",
                encoding_text(report).c_str(), report.machine.cores,
                report.machine.cpu_model.c_str(), report.machine.load_average_start[0],
                report.repeat_statistic.c_str(), report.repeat);
  add(format("<text x=\"%.0f\" y=\"38\" font-size=\"10\" fill=\"#555\">%s</text>\n", kLeft,
             xml_escape(text).c_str()));

  // Grid, ticks and axes.
  for (double fps = 0; fps <= y_max + step / 2; fps += step) {
    const double y = y_of(fps);
    add(format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
               kLeft, y, kLeft + plot_width, y));
    add(format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", kLeft - 6, y + 4,
               fps));
  }
  for (int workers = 1; workers <= max_workers; ++workers) {
    const double x = x_of(workers);
    add(format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x,
               kTop + plot_height, x, kTop + plot_height + 5));
    add(format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", x,
               kTop + plot_height + 18, workers));
  }
  add(format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", kLeft,
             kTop, kLeft, kTop + plot_height));
  add(format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", kLeft,
             kTop + plot_height, kLeft + plot_width, kTop + plot_height));
  add(format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">workers</text>\n",
             kLeft + plot_width / 2, kHeight - 12));
  add(
      format("<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">frames per "
             "second</text>\n",
             kTop + plot_height / 2));

  // Baselines: horizontal lines across the plot.
  struct Legend {
    std::string label;
    std::string color;
    std::string dash;
    bool marker;
  };
  std::vector<Legend> legend;
  if (report.ffmpeg.ran) {
    const double y = y_of(report.ffmpeg.fps);
    add(
        format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" "
               "stroke-width=\"2\"/>\n",
               kLeft, y, kLeft + plot_width, y));
    legend.push_back({format("ffmpeg %.1f fps", report.ffmpeg.fps) +
                          (report.ffmpeg.equivalent_filter ? "" : " (no eq. filter)"),
                      "#d62728", "", false});
  }
  if (report.single_process.ran) {
    const double y = y_of(report.single_process.fps);
    add(
        format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2ca02c\" "
               "stroke-width=\"2\" stroke-dasharray=\"2 3\"/>\n",
               kLeft, y, kLeft + plot_width, y));
    legend.push_back(
        {format("single process %.1f fps", report.single_process.fps), "#2ca02c", "2 3", false});
  }
  if (ideal_per_worker > 0) {
    add(format(
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
        "stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
        x_of(1), y_of(ideal_per_worker), x_of(max_workers), y_of(ideal_per_worker * max_workers)));
    legend.push_back({"ideal linear", "#888", "6 4", false});
  }

  // framepipe: points joined by a line, each labelled with its fps.
  std::vector<const ClusterRun*> sorted;
  for (const auto& run : report.runs) sorted.push_back(&run);
  std::sort(sorted.begin(), sorted.end(),
            [](const ClusterRun* a, const ClusterRun* b) { return a->workers < b->workers; });
  if (!sorted.empty()) {
    std::string points;
    for (const ClusterRun* run : sorted) {
      std::snprintf(text, sizeof text, "%.1f,%.1f ", x_of(run->workers), y_of(run->fps));
      points += text;
    }
    add(format("<polyline points=\"%s\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2.5\"/>\n",
               points.c_str()));
    for (const ClusterRun* run : sorted) {
      add(format("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"#1f77b4\"/>\n",
                 x_of(run->workers), y_of(run->fps)));
      add(format(
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#1f77b4\">%.1f</text>\n",
          x_of(run->workers), y_of(run->fps) - 10, run->fps));
    }
    legend.insert(legend.begin(), {"framepipe", "#1f77b4", "", true});
  }

  double legend_y = kTop + 10;
  const double legend_x = kLeft + plot_width + 15;
  for (const auto& item : legend) {
    add(
        format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
               "stroke-width=\"2\"%s/>\n",
               legend_x, legend_y, legend_x + 24, legend_y, item.color.c_str(),
               item.dash.empty() ? "" : (" stroke-dasharray=\"" + item.dash + "\"").c_str()));
    if (item.marker) {
      add(format("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", legend_x + 12, legend_y,
                 item.color.c_str()));
    }
    add(format("<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", legend_x + 30, legend_y + 4,
               xml_escape(item.label).c_str()));
    legend_y += 20;
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace framepipe::bench
