// The registry: a ROUTER socket that workers say hello to, heartbeat to, and that anyone may ask
// for the live worker list. A worker that misses `liveness` heartbeats is declared dead and
// dropped; one the registry does not know (after a restart) is told to say hello again.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framepipe/protocol/curve.hpp"
#include "framepipe/protocol/messages.hpp"

namespace framepipe::registry {

struct Config {
  std::string bind_endpoint;     // ROUTER, workers and clients connect
  std::string frames_endpoint;   // handed to workers; "*" = host they used
  std::string results_endpoint;  // handed to workers
  int heartbeat_ms = protocol::kHeartbeatIntervalMs;
  int liveness = protocol::kHeartbeatLiveness;
  protocol::CurveConfig curve;
};

// Workers one registry tracks at most: a flood of hellos from a peer that is not a worker (on a
// network without CURVE) cannot grow the table without bound.
inline constexpr std::size_t kMaxWorkers = 4096;

// Bookkeeping of live workers, separate from the socket so it can be tested on its own.
class WorkerTable {
 public:
  explicit WorkerTable(int64_t dead_after_ms, std::size_t max_workers = kMaxWorkers)
      : dead_after_ms_(dead_after_ms), max_workers_(max_workers) {}

  enum class Hello { joined, known, full, taken };
  // A new worker joins unless the table is full; a known one is refreshed if it says hello from
  // the routing id `peer` it joined from, and refused (`taken`) from any other.
  Hello hello(const protocol::Hello& hello, const std::string& peer, int64_t now_ms);
  enum class Beat { refreshed, unknown, foreign };
  // Refreshes the worker the heartbeat names if it comes from the routing id `peer` that worker
  // said hello from. `unknown`: it must say hello again; `foreign`: another peer names a known
  // worker, which is not refreshed (one peer must not keep another worker alive).
  Beat heartbeat(const protocol::Heartbeat& heartbeat, const std::string& peer, int64_t now_ms);
  // Drops workers silent for longer than dead_after_ms; returns their names.
  std::vector<std::string> expire(int64_t now_ms);
  protocol::WorkerList list(int64_t now_ms) const;
  std::size_t size() const { return workers_.size(); }

 private:
  struct Entry {
    protocol::WorkerInfo info;
    std::string peer;  // the ROUTER routing id the worker said hello from
    int64_t last_seen_ms = 0;
  };
  int64_t dead_after_ms_;
  std::size_t max_workers_;
  std::map<std::string, Entry> workers_;
  std::vector<std::pair<std::string, int64_t>> recently_dead_;  // name, time of death
};

// Serves until stop_requested(). Throws zmq::error_t if the endpoint cannot be bound.
int run(const Config& config);

}  // namespace framepipe::registry
