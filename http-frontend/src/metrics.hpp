// GET /metrics: the Prometheus text exposition format (version 0.0.4) of the http-frontend's own
// counters (requests, jobs) and of the cluster figures its cluster link caches (the ventilator's
// Pong, the sink's SinkAlive, the registry's worker list), with the stage latencies as histograms
// in seconds. Route and method labels come from small fixed sets, so that the number of series
// stays bounded whatever clients send.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "cluster_link.hpp"
#include "connection_gate.hpp"
#include "job_store.hpp"

namespace framepipe::http {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// The route pattern a request path belongs to ("/api/jobs/{id}/result", "/assets/{name}"...), or
// "other" for a path no route serves.
std::string_view route_of(std::string_view path);

// The method as a label: GET, HEAD, POST, PUT, DELETE, OPTIONS or PATCH, else "other".
std::string_view method_label(std::string_view method);

// Requests answered since the process started, by method, route and status. Thread-safe.
class RequestCounters {
 public:
  struct Entry {
    std::string method;
    std::string route;
    int status = 0;
    uint64_t count = 0;
  };
  // `method` and `route` should already be labels (method_label, route_of).
  void count(std::string_view method, std::string_view route, int status);
  // Sorted by method, route, status.
  std::vector<Entry> entries() const;

 private:
  mutable std::mutex mutex_;  // guards counts_
  std::map<std::tuple<std::string, std::string, int>, uint64_t> counts_;
};

struct JobCounts {
  uint64_t enqueued = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t canceled = 0;
};

// Jobs accepted and jobs that reached a final state since the process started. Thread-safe.
class JobCounters {
 public:
  void count_enqueued() { ++enqueued_; }
  // Counts a job that has just moved to `state`; does nothing for queued and running.
  void count_final(JobState state);
  JobCounts counts() const;

 private:
  std::atomic<uint64_t> enqueued_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> canceled_{0};
};

// Everything one scrape shows.
struct MetricsView {
  int64_t now_ms = 0;                        // protocol::now_ms() clock, for liveness
  const ClusterSnapshot* cluster = nullptr;  // required
  std::vector<RequestCounters::Entry> requests;
  JobCounts jobs;
  std::array<int64_t, 5> jobs_by_state{};  // jobs in the list, indexed by JobState
  // The HTTP server's connections (connection_gate.hpp); absent before it serves.
  std::optional<GateCounts> gate;
  uint64_t slow_bodies_cut = 0;  // closed: too slow with a body or reading an answer
};

// The exposition text: HELP and TYPE for every family, then its samples. Per-worker series only
// while the registry answers (as GET /api/workers). Never throws except std::bad_alloc; values
// from peers are clamped (negative counts to 0) so that the text stays valid.
std::string render_metrics(const MetricsView& view);

// A label value as the format wants it: backslash, double quote and newline escaped, invalid UTF-8
// replaced by U+FFFD and other control characters by '?'.
std::string escape_label_value(std::string_view value);

// A sample value: shortest round-trip decimal, "NaN", "+Inf" or "-Inf".
std::string format_sample_value(double value);

}  // namespace framepipe::http
