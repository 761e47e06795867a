// A SegmentResult from the network, checked against the job it names before anything is muxed:
// one of its segments, no more frames than planned, timestamps in the job encoder's time base,
// packets that lie inside the one part that carries them. Never throws for what a peer sends
// (only std::bad_alloc).
#pragma once
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "framepipe/media/av.hpp"
#include "framepipe/protocol/messages.hpp"

namespace framepipe::sink {

// A segment as a worker encoded it, waiting for its turn to be muxed.
struct EncodedSegment {
  std::vector<media::PacketPtr> packets;
  std::vector<uint8_t> extradata;
  int64_t frames = 0;
  int64_t damaged_packets = 0;
  std::string worker;
};

// The segment `result` carries with `payload`, for the job `start` describes (a segmented one),
// or nothing with the reason in `why`. A segment whose every picture was damaged comes with 0
// frames and no packet. A result with an error is the caller's to handle before this (it fails
// the job); here it is refused.
std::optional<EncodedSegment> open_segment_result(const protocol::JobStart& start,
                                                  protocol::SegmentResult&& result,
                                                  std::span<const zmq::message_t> payload,
                                                  std::string& why);

}  // namespace framepipe::sink
