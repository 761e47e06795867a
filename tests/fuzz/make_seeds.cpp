// Writes one valid envelope of each message type into DIR, as the fuzzer's seed corpus.
#include <fstream>
#include <string>

#include "framepipe/protocol/codec.hpp"

using namespace framepipe::protocol;

namespace {

template <class M>
void write(const std::string& dir, const std::string& name, const M& message) {
  zmq::message_t packed = pack(message);
  std::ofstream(dir + "/" + name, std::ios::binary)
      .write(static_cast<const char*>(packed.data()), static_cast<std::streamsize>(packed.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  write(dir, "hello", Hello{"w", "host", 1, 2, "0.1.0"});
  write(dir, "welcome", Welcome{"tcp://*:1", "tcp://*:2", 1000, 3});
  write(dir, "heartbeat", Heartbeat{"w", WorkerStats{}});
  WorkerList list;
  list.workers.push_back(WorkerInfo{});
  list.dead = {"x"};
  write(dir, "worker_list", list);
  write(dir, "ready", Ready{"w", 2, true, "job", 3, 4, 0});
  Frame frame;
  frame.job_id = "job";
  frame.pixel_format = "yuv420p";
  frame.linesizes = {64, 32, 32};
  frame.plane_sizes = {4096, 1024, 1024};
  frame.chain = "blur=sigma=2";
  write(dir, "frame", frame);
  write(dir, "result", Result{"job", 1, 2, 64, 64, "w", 10});
  write(dir, "submit", SubmitJob{"job", "/in", "/out", "copy", "veryfast", 20, "webm"});
  write(dir, "progress", JobProgress{"job", JobState::running, 1, 2, 3.0, "", 4, 5.0});
  JobStart start;
  start.format = "mp3";
  write(dir, "start", start);
  write(dir, "abort", JobAbort{"job", AbortReason::failed, "cannot decode"});
  write(dir, "pong", Pong{});
  write(dir, "frames-encoded", FramesEncoded{"job", 48});
  Segment segment;
  segment.job_id = "job";
  segment.codec = "h264";
  segment.extradata = {1, 100, 0, 13};
  segment.packet_sizes = {100, 20};
  segment.packet_pts = {0, 1};
  segment.packet_dts = {-1, 0};
  segment.packet_flags = {1, 0};
  segment.format = "mp4";
  write(dir, "segment", segment);
  SegmentResult result;
  result.job_id = "job";
  result.packet_sizes = {100};
  result.packet_pts = {0};
  result.packet_dts = {0};
  result.packet_durations = {1};
  result.packet_flags = {1};
  write(dir, "segment-result", result);
  return 0;
}
