// A Segment message from the network, checked before anything is decoded (the same limits as the
// ventilator's decoder: a codec workers decode from segments, the frame size, the frame count,
// packets that lie inside the part that carries them), turned into what transcode_segment takes;
// and an encoded segment turned into its SegmentResult message.
#pragma once
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "framepipe/media/av.hpp"
#include "framepipe/media/segments.hpp"
#include "framepipe/protocol/messages.hpp"
#include "framepipe/worker/segment_transcoder.hpp"

namespace framepipe::worker {

struct ParametersDeleter {
  void operator()(AVCodecParameters* parameters) const { avcodec_parameters_free(&parameters); }
};

struct SegmentInput {
  std::unique_ptr<AVCodecParameters, ParametersDeleter> parameters;
  SegmentJob job;  // job.parameters points into `parameters`
  media::SegmentPlan plan;
  std::vector<media::PacketPtr> packets;
};

// The segment `message` describes with the packets of `payload` (one part), or nothing with the
// reason in `why`. Never throws for what a peer sends (only std::bad_alloc).
std::optional<SegmentInput> open_segment(const protocol::Segment& message,
                                         std::span<const zmq::message_t> payload,
                                         const media::Limits& limits, std::string& why);

// The result message for an encoded segment, and its one part of packets.
std::pair<protocol::SegmentResult, zmq::message_t> segment_result(const EncodedSegment& encoded,
                                                                  const protocol::Segment& segment,
                                                                  const std::string& worker);

}  // namespace framepipe::worker
