// libFuzzer target for the protocol decoder: whatever bytes arrive, open() and every body<M>()
// return a value or nothing, never crash, never allocate without bound.
#include <cstddef>
#include <cstdint>

#include "framepipe/protocol/codec.hpp"

using namespace framepipe::protocol;

namespace {

template <class... Messages>
void try_bodies(const Envelope& envelope) {
  std::string why;
  (static_cast<void>(envelope.body<Messages>(&why)), ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string why;
  auto envelope = open(data, size, &why);
  if (!envelope) return 0;
  try_bodies<Hello, Welcome, Heartbeat, HeartbeatAck, Reregister, ListWorkers, WorkerList, Ready,
             Frame, Result, SubmitJob, SubmitReply, CancelJob, Ping, Pong, JobStart, JobEnd,
             JobAbort, JobProgress, SinkAlive, VentilatorAlive, FramesEncoded, Segment,
             SegmentResult, SharedProbe>(*envelope);
  return 0;
}
