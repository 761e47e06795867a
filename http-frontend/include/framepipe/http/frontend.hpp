// The http-frontend: the only HTTP in framepipe. It accepts uploads, keeps the job list (SQLite
// under the data directory), hands jobs to the ventilator, follows the sink's progress, serves
// results, and lists the registry's workers. It speaks ZeroMQ to the cluster through one thread
// that owns all its sockets.
#pragma once
#include <cstdint>
#include <string>

namespace framepipe::http {

struct Config {
  std::string bind_host = "0.0.0.0";
  int port = 8080;
  std::string data_dir = "framepipe-data";
  std::string registry_endpoint = "tcp://127.0.0.1:5555";   // registry ROUTER
  std::string control_endpoint = "tcp://127.0.0.1:5559";    // ventilator control ROUTER
  std::string progress_endpoint = "tcp://127.0.0.1:5558";   // sink PUB
  int64_t max_upload_bytes = 4LL << 30;
  int64_t min_free_disk_bytes = 1LL << 30;  // refuse uploads that would leave less free
  std::string default_preset = "veryfast";
  int default_crf = 20;
  int threads = 16;                         // HTTP worker threads
  std::string worker_command;               // the command that adds a worker to this cluster
  std::string api_token;                    // when set, /api routes need "Authorization: Bearer"
  std::string cors_origin;                  // when set, Access-Control-Allow-Origin
};

// Serves until stop_requested(). Throws std::runtime_error if the port cannot be bound or the
// data directory cannot be used.
int run(const Config& config);

}  // namespace framepipe::http
