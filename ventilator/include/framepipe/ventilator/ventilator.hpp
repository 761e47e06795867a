// The ventilator: takes jobs from the http-frontend, decodes them (the only serial, per-pixel-free
// stage before the workers), and deals frames to workers that asked for them (credit), fairly
// across jobs, within each job's window. It keeps every frame until the sink reports it encoded and
// sends again frames a worker lost: a worker the registry declares dead, a worker that says it is
// idle while it should hold frames, or a frame older than its deadline. A job may instead be dealt
// as segments of compressed packets, cut at keyframes without decoding, which workers decode,
// filter and encode (workers on other machines: a tenth of the bytes, and no encoder on the head).
#pragma once
#include <string>

#include "framepipe/media/av.hpp"
#include "framepipe/protocol/curve.hpp"
#include "framepipe/protocol/messages.hpp"

namespace framepipe::ventilator {

struct Config {
  std::string frames_bind;        // ROUTER, workers connect
  std::string control_bind;       // ROUTER, the http-frontend connects
  std::string results_endpoint;   // sink PULL (JobStart/JobEnd)
  std::string progress_endpoint;  // sink PUB
  std::string registry_endpoint;  // registry ROUTER
  int window_frames = protocol::kDefaultWindowFrames;
  // Segmented jobs: a window of this many segments (of compressed packets), cut at the first
  // keyframe segment_seconds after the last cut.
  int window_segments = 12;
  double segment_seconds = 4;
  int decode_threads = 0;        // 0: libavcodec chooses
  int max_active_jobs = 16;      // jobs decoded at once (frames interleaved fairly)
  int min_deadline_ms = 10'000;  // floor of the re-send deadline (measured times set it above)
  // Frames go to a sink (copy jobs) and workers on this machine by reference, in shared memory.
  bool shared_memory = true;
  media::Limits limits;
  protocol::CurveConfig curve;
};

// Runs until stop_requested(). Throws zmq::error_t when an endpoint cannot be bound.
int run(const Config& config);

}  // namespace framepipe::ventilator
