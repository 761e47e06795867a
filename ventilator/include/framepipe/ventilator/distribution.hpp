// How a job is dealt to workers, as frames or as segments: the rule `auto` follows, without
// sockets (the reactor gathers the facts when the job starts).
#pragma once
#include <cstddef>
#include <string>

namespace framepipe::ventilator {

struct DistributionFacts {
  std::string asked = "auto";     // auto, frames or segments
  bool pixels_unchanged = false;  // the chain leaves pixels alone: frames go straight to the sink
  std::string segment_refusal;    // why the job cannot be dealt as segments; "" when it can
  bool shared_memory = true;      // this ventilator offers its frames in shared memory
  std::size_t workers = 0;
  std::size_t workers_reading_shared = 0;  // of them, on this machine
  std::size_t head_cores = 1;              // this machine's: its workers share them
  double worker_filter_ms = 0;  // a worker's recent mean filter time per frame; 0: not measured
  double sink_encode_ms = 0;    // the sink's mean encode time per frame; 0: not measured
};

struct DistributionChoice {
  bool segments = false;
  std::string why;  // for people: the job JSON and the page show it
};

// `segments` and `frames` are obeyed (a refusal for segments is the caller's to give). `auto`:
// frames when the chain leaves pixels alone or the stream cannot be cut; segments when no worker
// shares this machine's memory (raw frames would cross the network), or when the workers together
// filter well over what the sink's one encoder encodes (it would bound the job, while each worker
// encodes its own segments; workers on this machine count for at most its cores but one, which
// the encoder and the decoder need); frames otherwise.
DistributionChoice choose_distribution(const DistributionFacts& facts);

}  // namespace framepipe::ventilator
