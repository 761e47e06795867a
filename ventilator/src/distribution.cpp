#include "framepipe/ventilator/distribution.hpp"

#include <algorithm>
#include <cmath>

namespace framepipe::ventilator {

namespace {

// The workers must outrun the sink's encoder by this much before segments pay for encoding in
// every worker (measured on one machine: frames by shared memory ran 85 frames/s of 720p where
// segments ran 70).
constexpr double kEncoderBoundMargin = 2;

std::string rate(double frames_per_second) {
  return std::to_string(static_cast<long long>(std::lround(frames_per_second))) + " frames/s";
}

}  // namespace

DistributionChoice choose_distribution(const DistributionFacts& facts) {
  if (facts.asked == "segments") return {true, "asked for"};
  if (facts.asked == "frames") return {false, "asked for"};
  if (facts.pixels_unchanged) {
    return {false, "the chain leaves pixels alone: frames go straight to the sink"};
  }
  if (!facts.segment_refusal.empty()) {
    return {false, "segments cannot be used: " + facts.segment_refusal};
  }
  if (!facts.shared_memory)
    return {true, "shared memory is off: raw frames would cross the network"};
  if (facts.workers_reading_shared == 0) {
    return {true,
            "no worker reads this machine's shared memory: raw frames would cross the network"};
  }
  if (facts.worker_filter_ms > 0 && facts.sink_encode_ms > 0) {
    const std::size_t remote =
        facts.workers - std::min(facts.workers, facts.workers_reading_shared);
    const std::size_t local =
        std::min(facts.workers_reading_shared, std::max<std::size_t>(1, facts.head_cores) - 1);
    const double workers_fps = static_cast<double>(std::max<std::size_t>(1, local + remote)) *
                               1000.0 / facts.worker_filter_ms;
    const double sink_fps = 1000.0 / facts.sink_encode_ms;
    if (workers_fps > kEncoderBoundMargin * sink_fps) {
      return {true, "the sink's encoder (" + rate(sink_fps) + ") would bound " +
                        std::to_string(facts.workers) + " workers (" + rate(workers_fps) +
                        "): each worker encodes its own segments"};
    }
  }
  return {false, "workers on this machine read frames in shared memory"};
}

}  // namespace framepipe::ventilator
