// A worker: `framepipe worker tcp://HEAD:PORT` is all it needs. It says hello to the registry at
// that endpoint, learns where frames come from and where results go, asks the ventilator for
// frames (credit-based, so a slow worker never hoards frames), applies each job's filter chain and
// pushes the result to the sink. It heartbeats with its stats from the same loop that filters, so
// a worker stuck in a filter stops heartbeating, and it re-registers by itself when the registry
// goes away or forgets it.
#pragma once
#include <string>

#include "framepipe/protocol/curve.hpp"
#include "framepipe/protocol/messages.hpp"

namespace framepipe::worker {

struct Config {
  std::string registry_endpoint;         // tcp://HOST:PORT
  std::string name;                      // default: HOST-PID-RANDOM
  int threads = 1;                       // OpenCV threads for filtering; 1 = one unit of compute
  int credit = protocol::kWorkerCredit;  // frames asked for at once
  protocol::CurveConfig curve;           // this worker's key pair and the head's public key
  // Fault injection for tests (environment FRAMEPIPE_FAULT): "hold-frames" accepts frames and
  // never answers them while heartbeating normally, like a worker whose results cannot leave.
  std::string fault;
};

// Runs until stop_requested(). Throws std::invalid_argument for a bad endpoint.
int run(Config config);

}  // namespace framepipe::worker
