#include "metrics.hpp"

#include <charconv>
#include <cmath>
#include <initializer_list>
#include <set>
#include <utility>

#include "framepipe/protocol/messages.hpp"

namespace framepipe::http {
namespace {

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// A path segment: not empty, no '/'.
bool is_segment(std::string_view text) {
  return !text.empty() && text.find('/') == std::string_view::npos;
}

// The length of the valid UTF-8 sequence at the start of `text`, or 0 when it is not one.
size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < second_min || byte(1) > second_max) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// One label, name="value", the value escaped.
std::string label(std::string_view name, std::string_view value) {
  std::string text(name);
  text += "=\"";
  text += escape_label_value(value);
  text += '"';
  return text;
}

// {a="x",b="y"} from already formatted labels, skipping empty ones; "" when none is left.
std::string label_set(std::initializer_list<std::string_view> labels) {
  std::string text;
  for (std::string_view one : labels) {
    if (one.empty()) continue;
    text += text.empty() ? "{" : ",";
    text += one;
  }
  if (!text.empty()) text += '}';
  return text;
}

int64_t not_negative(int64_t value) {
  return value < 0 ? 0 : value;
}

double finite_or_zero(double value) {
  return std::isfinite(value) ? value : 0.0;
}

// The text being built: families, each with its HELP and TYPE, then its samples.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    text_ += help;  // constant texts without backslashes or newlines
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
  }

  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    text_ += name;
    text_ += labels;
    text_ += ' ';
    text_ += value;
    text_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, int64_t value) {
    sample(name, labels, std::to_string(value));
  }
  void sample(std::string_view name, std::string_view labels, uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    sample(name, labels, format_sample_value(value));
  }

  // A histogram of the protocol's latency buckets (milliseconds), in seconds. `extra_label` (a
  // formatted label or "") goes on every sample. A histogram whose bucket count does not match the
  // protocol's (a peer of another version, or garbage) is shown empty.
  void latency_histogram(std::string_view name, std::string_view extra_label,
                         const protocol::Histogram& histogram) {
    const auto& bounds = protocol::kLatencyBucketsMs;
    const bool valid = histogram.counts.size() == bounds.size() + 1;
    int64_t cumulative = 0;
    const std::string bucket = std::string(name) + "_bucket";
    for (size_t i = 0; i <= bounds.size(); ++i) {
      if (valid) cumulative += not_negative(histogram.counts[i]);
      const std::string le =
          i < bounds.size() ? format_sample_value(bounds[i] / 1000.0) : std::string("+Inf");
      sample(bucket, label_set({extra_label, label("le", le)}), cumulative);
    }
    const double sum_seconds = valid ? finite_or_zero(histogram.sum_ms) / 1000.0 : 0.0;
    sample(std::string(name) + "_sum", label_set({extra_label}), sum_seconds);
    // The total of the buckets, so that _count always equals the +Inf bucket.
    sample(std::string(name) + "_count", label_set({extra_label}), cumulative);
  }

  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

std::string_view route_of(std::string_view path) {
  static constexpr std::string_view kExact[] = {
      "/",           "/dashboard",   "/dashboard/",  "/api/jobs",
      "/api/events", "/api/workers", "/api/filters", "/api/cluster",
      "/health",     "/metrics"};
  for (std::string_view route : kExact) {
    if (path == route) return route;
  }
  constexpr std::string_view kAssets = "/assets/";
  if (path.starts_with(kAssets) && is_segment(path.substr(kAssets.size()))) {
    return "/assets/{name}";
  }
  constexpr std::string_view kJobs = "/api/jobs/";
  if (path.starts_with(kJobs)) {
    std::string_view rest = path.substr(kJobs.size());
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return is_segment(rest) ? "/api/jobs/{id}" : "other";
    if (slash == 0) return "other";
    rest = rest.substr(slash);
    if (rest == "/result") return "/api/jobs/{id}/result";
    if (rest == "/events") return "/api/jobs/{id}/events";
  }
  return "other";
}

std::string_view method_label(std::string_view method) {
  static constexpr std::string_view kMethods[] = {"GET",    "HEAD",    "POST", "PUT",
                                                  "DELETE", "OPTIONS", "PATCH"};
  for (std::string_view known : kMethods) {
    if (method == known) return known;
  }
  return "other";
}

void RequestCounters::count(std::string_view method, std::string_view route, int status) {
  std::lock_guard lock(mutex_);
  ++counts_[std::make_tuple(std::string(method), std::string(route), status)];
}

std::vector<RequestCounters::Entry> RequestCounters::entries() const {
  std::lock_guard lock(mutex_);
  std::vector<Entry> out;
  out.reserve(counts_.size());
  for (const auto& [key, count] : counts_) {
    out.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), count});
  }
  return out;
}

void JobCounters::count_final(JobState state) {
  switch (state) {
    case JobState::done:
      ++completed_;
      break;
    case JobState::failed:
      ++failed_;
      break;
    case JobState::canceled:
      ++canceled_;
      break;
    case JobState::queued:
    case JobState::running:
      break;
  }
}

JobCounts JobCounters::counts() const {
  return {enqueued_.load(), completed_.load(), failed_.load(), canceled_.load()};
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  while (!value.empty()) {
    const size_t length = utf8_sequence_length(value);
    if (length == 0) {
      out += kReplacementCharacter;
      value.remove_prefix(1);
      continue;
    }
    if (length == 1) {
      const char c = value.front();
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '"') {
        out += "\\\"";
      } else if (c == '\n') {
        out += "\\n";
      } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
        out += '?';
      } else {
        out += c;
      }
    } else {
      out.append(value.substr(0, length));
    }
    value.remove_prefix(length);
  }
  return out;
}

std::string format_sample_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof text, value);
  if (error != std::errc()) return "NaN";  // cannot happen with 64 bytes
  return std::string(text, end);
}

std::string render_metrics(const MetricsView& view) {
  const ClusterSnapshot& cluster = *view.cluster;
  const protocol::Pong& pong = cluster.last_pong;
  const protocol::SinkAlive& sink = cluster.last_sink_alive;
  Exposition out;

  out.family("framepipe_http_requests_total", "counter",
             "HTTP requests answered by the http-frontend, by method, route pattern and status.");
  for (const auto& entry : view.requests) {
    out.sample("framepipe_http_requests_total",
               label_set({label("method", entry.method), label("route", entry.route),
                          label("status", std::to_string(entry.status))}),
               entry.count);
  }

  if (view.gate) {
    const GateCounts& gate = *view.gate;
    out.family("framepipe_http_connections_waiting", "gauge",
               "Connections still sending their request head.");
    out.sample("framepipe_http_connections_waiting", "", gate.waiting);
    out.family("framepipe_http_event_streams", "gauge", "Live event streams open.");
    out.sample("framepipe_http_event_streams", "", gate.streams);
    out.family("framepipe_http_uploads", "gauge",
               "Uploads being received, and uploads waiting for their address's turn.");
    out.sample("framepipe_http_uploads", label_set({label("state", "receiving")}), gate.uploads);
    out.sample("framepipe_http_uploads", label_set({label("state", "waiting")}),
               gate.uploads_parked);
    out.family("framepipe_http_downloads", "gauge",
               "Results being sent (job results, share links), and those waiting for their "
               "address's turn.");
    out.sample("framepipe_http_downloads", label_set({label("state", "sending")}), gate.downloads);
    out.sample("framepipe_http_downloads", label_set({label("state", "waiting")}),
               gate.downloads_parked);
    out.family("framepipe_http_connections_closed_total", "counter",
               "Connections closed by the server for their client's sake: a request head not in "
               "time, making way for newer connections of a crowded address, a body or a reading "
               "too slow.");
    out.sample("framepipe_http_connections_closed_total",
               label_set({label("reason", "head_too_slow")}), gate.heads_too_slow);
    out.sample("framepipe_http_connections_closed_total", label_set({label("reason", "evicted")}),
               gate.evicted);
    out.sample("framepipe_http_connections_closed_total",
               label_set({label("reason", "body_or_reading_too_slow")}), view.slow_bodies_cut);
    out.family("framepipe_http_refused_busy_total", "counter",
               "Requests answered 503 by the server's caps (event streams, uploads per address).");
    out.sample("framepipe_http_refused_busy_total", "", gate.refused_busy);
  }

  out.family("framepipe_jobs_enqueued_total", "counter",
             "Jobs accepted by POST /api/jobs since the http-frontend started.");
  out.sample("framepipe_jobs_enqueued_total", "", view.jobs.enqueued);
  out.family("framepipe_jobs_completed_total", "counter",
             "Jobs that finished with a result since the http-frontend started.");
  out.sample("framepipe_jobs_completed_total", "", view.jobs.completed);
  out.family("framepipe_jobs_failed_total", "counter",
             "Jobs that failed since the http-frontend started.");
  out.sample("framepipe_jobs_failed_total", "", view.jobs.failed);
  out.family("framepipe_jobs_canceled_total", "counter",
             "Jobs canceled since the http-frontend started.");
  out.sample("framepipe_jobs_canceled_total", "", view.jobs.canceled);

  out.family("framepipe_jobs", "gauge", "Jobs in the job list, by state.");
  constexpr JobState kStates[] = {JobState::queued, JobState::running, JobState::done,
                                  JobState::failed, JobState::canceled};
  for (JobState state : kStates) {
    out.sample("framepipe_jobs", label_set({label("state", to_string(state))}),
               view.jobs_by_state[static_cast<size_t>(state)]);
  }

  out.family("framepipe_frames_processed_total", "counter",
             "Frames encoded by the sink since it started.");
  out.sample("framepipe_frames_processed_total", "", not_negative(sink.frames_encoded));
  out.family("framepipe_frames_decoded_total", "counter",
             "Frames decoded by the ventilator since it started.");
  out.sample("framepipe_frames_decoded_total", "", not_negative(pong.frames_decoded));
  out.family(
      "framepipe_frames_resent_total", "counter",
      "Frames the ventilator sent again (lost with a dead or stuck worker) since it started.");
  out.sample("framepipe_frames_resent_total", "", not_negative(pong.frames_resent));
  out.family("framepipe_frames_shared_total", "counter",
             "Frames the sink read by reference in the ventilator's shared memory (copy jobs on "
             "one machine) since it started.");
  out.sample("framepipe_frames_shared_total", "", not_negative(sink.frames_shared));
  out.family("framepipe_duplicates_dropped_total", "counter",
             "Duplicate results (a frame filtered twice) dropped by the sink since it started.");
  out.sample("framepipe_duplicates_dropped_total", "", not_negative(sink.duplicates_dropped));
  out.family("framepipe_frames_in_flight", "gauge",
             "Frames decoded and not yet encoded, over all jobs (the ventilator's windows).");
  out.sample("framepipe_frames_in_flight", "", not_negative(pong.frames_in_flight));

  out.family("framepipe_component_up", "gauge",
             "1 when the component answered within the liveness window, else 0.");
  const std::pair<std::string_view, const PeerStatus*> components[] = {
      {"registry", &cluster.registry},
      {"ventilator", &cluster.ventilator},
      {"sink", &cluster.sink}};
  for (const auto& [name, status] : components) {
    out.sample("framepipe_component_up", label_set({label("component", name)}),
               static_cast<int64_t>(status->alive(view.now_ms) ? 1 : 0));
  }

  // Workers as GET /api/workers shows them: none while the registry is silent. The registry keys
  // workers by name; a repeated name is shown once, so that no series is duplicated.
  std::vector<const protocol::WorkerInfo*> workers;
  if (cluster.registry.alive(view.now_ms)) {
    std::set<std::string_view> names;
    for (const auto& worker : cluster.workers) {
      if (names.insert(worker.name).second) workers.push_back(&worker);
    }
  }
  out.family("framepipe_workers_live", "gauge", "Workers registered and heartbeating.");
  out.sample("framepipe_workers_live", "", static_cast<int64_t>(workers.size()));

  const auto each_worker = [&](std::string_view name, std::string_view type, std::string_view help,
                               auto value_of) {
    out.family(name, type, help);
    for (const protocol::WorkerInfo* worker : workers) {
      out.sample(name, label_set({label("worker", worker->name)}), value_of(*worker));
    }
  };
  out.family("framepipe_worker_info", "gauge", "Always 1 per live worker; its host and version.");
  for (const protocol::WorkerInfo* worker : workers) {
    out.sample("framepipe_worker_info",
               label_set({label("worker", worker->name), label("host", worker->host),
                          label("version", worker->version)}),
               int64_t{1});
  }
  each_worker("framepipe_worker_busy", "gauge", "1 while the worker holds frames, else 0.",
              [](const protocol::WorkerInfo& w) { return int64_t{w.stats.state == "busy"}; });
  each_worker("framepipe_worker_frames_done_total", "counter",
              "Frames the worker filtered since it started.",
              [](const protocol::WorkerInfo& w) { return not_negative(w.stats.frames_done); });
  each_worker("framepipe_worker_fps", "gauge", "Frames per second the worker filtered, recently.",
              [](const protocol::WorkerInfo& w) { return finite_or_zero(w.stats.fps); });
  each_worker("framepipe_worker_cpu_percent", "gauge",
              "CPU time of the worker process over its last heartbeat interval, in percent of one "
              "core.",
              [](const protocol::WorkerInfo& w) { return finite_or_zero(w.stats.cpu_percent); });
  each_worker("framepipe_worker_memory_bytes", "gauge", "Resident memory of the worker process.",
              [](const protocol::WorkerInfo& w) { return not_negative(w.stats.rss_bytes); });
  each_worker("framepipe_worker_cores", "gauge", "CPU cores of the worker's machine.",
              [](const protocol::WorkerInfo& w) { return int64_t{w.cores}; });

  out.family("framepipe_decode_seconds", "histogram",
             "Time the ventilator spent decoding one frame, since it started.");
  out.latency_histogram("framepipe_decode_seconds", "", pong.decode_latency);
  out.family("framepipe_filter_seconds", "histogram",
             "Time a worker spent running the filter chain on one frame, since it started.");
  for (const protocol::WorkerInfo* worker : workers) {
    out.latency_histogram("framepipe_filter_seconds", label("worker", worker->name),
                          worker->stats.filter_latency);
  }
  out.family("framepipe_encode_seconds", "histogram",
             "Time the sink spent encoding one frame, since it started.");
  out.latency_histogram("framepipe_encode_seconds", "", sink.encode_latency);
  return out.take();
}

}  // namespace framepipe::http
