// A local cluster driven from outside, as a user would: `framepipe up` on loopback with free ports
// and a data directory of its own, reached only through the HTTP API. Stopped (SIGTERM to its
// process group, SIGKILL after a grace period) when the object goes away, whatever happened.
#pragma once
#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "host_network.hpp"
#include "process.hpp"

namespace httplib {
class Client;
}

namespace framepipe::bench {

struct RoleUsage {
  long long peak_bytes = 0;      // VmHWM (the largest, for workers)
  long long resident_bytes = 0;  // VmRSS now (the largest, for workers)
  double cpu_seconds = 0;        // user + system since the process started (the sum, for workers)
};

struct ClusterUsage {
  RoleUsage registry;
  RoleUsage ventilator;
  RoleUsage sink;
  RoleUsage http;
  RoleUsage workers;
  int workers_seen = 0;
};

class LocalCluster {
 public:
  // Starts `executable up --workers N ...` and waits until GET /health answers 200 and N workers
  // are listed. Throws std::runtime_error (with the tail of the cluster's log) when it does not
  // come up in time or a stop is requested.
  // `up` with `workers` workers, data and log in `directory`, and `up_options` added. With a
  // `network`, `up` (in the head's namespace, where the caller must be) starts no worker and
  // listens on the head's address; the workers run on the worker hosts in turn, each joining with
  // the registry's endpoint only, as on a LAN.
  LocalCluster(const std::string& executable, int workers, const std::string& directory,
               const std::vector<std::string>& up_options = {},
               const HostNetwork* network = nullptr);
  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  int http_port() const { return http_port_; }
  int zmq_port_base() const { return zmq_port_base_; }

  // POST /api/jobs with the file's bytes; returns the job id. Throws std::runtime_error on any
  // answer but 201.
  std::string submit(const std::string& file_name, const std::string& content,
                     const std::string& chain, const std::string& preset, int crf,
                     const std::string& distribution = "auto", const std::string& format = "mp4");
  // GET path as JSON. Throws std::runtime_error on a transport error or a status other than 200
  // (or 503 for /health, whose body still describes the cluster).
  nlohmann::json get(const std::string& path);
  // The same, but nothing instead of an exception: for figures sampled along the way.
  std::optional<nlohmann::json> try_get(const std::string& path) noexcept;
  // DELETE /api/jobs/{id}; failures are ignored (it only frees disk space).
  void remove_job(const std::string& id);

  // Peak memory and CPU time of each role, read from the processes whose parent is the launcher.
  ClusterUsage usage() const;
  // The last lines of the launcher's log, for error messages.
  std::string log_tail() const;

  // Stops the cluster now (the destructor does it otherwise). Never throws.
  void stop() noexcept;

 private:
  std::string log_path_;
  int http_port_ = 0;
  int zmq_port_base_ = 0;
  std::unique_ptr<ChildProcess> launcher_;
  std::vector<std::unique_ptr<ChildProcess>> remote_workers_;  // on a network's worker hosts
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace framepipe::bench
