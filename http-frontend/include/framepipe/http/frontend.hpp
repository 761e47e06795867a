// The http-frontend: the only HTTP in framepipe. It serves the web pages (jobs page and dashboard),
// accepts uploads, keeps the job list (SQLite under the data directory), hands jobs to the
// ventilator, follows the sink's progress (live to browsers by Server-Sent Events), serves results,
// lists the registry's workers, and exposes /health and Prometheus /metrics. It speaks ZeroMQ to
// the cluster through one thread that owns all its sockets.
#pragma once
#include <cstdint>
#include <string>

#include "framepipe/protocol/curve.hpp"

namespace framepipe::http {

struct Config {
  std::string bind_host;  // address to listen on
  int port = 8080;
  std::string data_dir = "framepipe-data";
  std::string registry_endpoint;  // registry ROUTER
  std::string control_endpoint;   // ventilator control ROUTER
  std::string progress_endpoint;  // sink PUB
  int64_t max_upload_bytes = 4LL << 30;
  int64_t min_free_disk_mb = 1024;  // refuse uploads that would leave less free (MiB)
  std::string default_preset = "veryfast";
  int default_crf = 20;
  int threads = 16;              // HTTP worker threads
  int max_event_streams = 1024;  // live event streams at once; an eighth of them per address
  std::string worker_command;    // the command that adds a worker to this cluster
  std::string api_token;         // when set, /api routes need "Authorization: Bearer"; an admin's
  // Accounts (accounts_api.hpp): users sign up and in, and see only their own jobs. Off: one
  // open single-user server (guarded by api_token when it is set).
  bool accounts = true;
  bool signup_open = true;  // false: only an admin creates accounts, after the first
  int64_t quota_mb = 0;     // per user, 0: none
  int64_t share_max_ttl_seconds = 30LL * 24 * 3600;
  std::string cors_origin;      // when set, Access-Control-Allow-Origin
  protocol::CurveConfig curve;  // CURVE client keys for the cluster's sockets
  // The pages and assets (index.html, dashboard.html, app.js, chart.umd.js...). "": the directory
  // installed beside the binary, <dir of the executable>/../share/framepipe/web. When it holds no
  // index.html the API still works and the pages answer 404.
  std::string web_dir;
  bool access_log_json = false;  // one JSON line per request on stdout (logger "http_access")
};

// Serves until stop_requested(). Throws std::invalid_argument for a bad config, and
// std::runtime_error if the port cannot be bound or the data directory cannot be used.
int run(const Config& config);

}  // namespace framepipe::http
