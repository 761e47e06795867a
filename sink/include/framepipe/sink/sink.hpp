// The sink: pulls results from the workers, puts them back in order, encodes them (with the
// source's audio) and publishes each job's progress, which also tells the ventilator how far its
// window may advance. Encoding happens here, serially, on frames the workers already converted to
// yuv420p: the sink never touches a pixel.
#pragma once
#include <string>

#include "framepipe/media/av.hpp"
#include "framepipe/protocol/curve.hpp"
#include "framepipe/protocol/messages.hpp"

namespace framepipe::sink {

struct Config {
  std::string results_bind;     // PULL: results from workers, jobs from the ventilator
  std::string progress_bind;    // PUB: JobProgress and SinkAlive
  int encoder_threads = 0;      // 0: libx264 chooses
  int reorder_capacity = 4096;  // frames buffered out of order, per job
  media::Limits limits;
  protocol::CurveConfig curve;
};

// Runs until stop_requested(). Throws zmq::error_t when an endpoint cannot be bound.
int run(const Config& config);

}  // namespace framepipe::sink
