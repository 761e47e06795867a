// What a worker does with a segment: decodes its packets (the ventilator's limits apply), keeps
// the segment's own frames, runs the filter chain on each and encodes them with the job's encoder
// settings through media::VideoEncoder, the sink's own encoder code. One thread for each stage by
// default, and the same input always gives the same bytes, whichever worker does it: a segment
// sent again after a worker died comes out identical.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "framepipe/chain/chain.hpp"
#include "framepipe/filters/filters.hpp"
#include "framepipe/filters/frame_processor.hpp"
#include "framepipe/media/encoder.hpp"
#include "framepipe/media/segments.hpp"
#include "framepipe/protocol/color.hpp"
#include "framepipe/protocol/formats.hpp"

namespace framepipe::worker {

// Everything about a job a segment needs besides its packets.
struct SegmentJob {
  const AVCodecParameters* parameters = nullptr;  // of the source's video stream
  AVRational time_base{1, 1};                     // of the source's packets
  AVRational frame_rate{0, 1};                    // average, a hint for the encoder
  protocol::ColorInfo color;                      // of the decoded frames
  int out_width = 0;                              // the chain's output size
  int out_height = 0;
  AVRational sample_aspect{0, 1};  // of the output
  media::EncoderSettings encoder;
  std::string format{protocol::kDefaultFormat};  // the output format: its video encoder
  // The duration of the segment's last frame when it is the last segment (its own pkt_duration
  // otherwise, or one frame at the average rate); other segments end at plan.end_pts.
  bool last_segment = false;
};

struct EncodedSegment {
  std::vector<media::PacketPtr> packets;  // decode order; timestamps in time_base
  AVRational time_base{1, 1};             // media::encoder_time_base(source time base)
  int64_t frames = 0;
  int64_t damaged_packets = 0;     // the decoder skipped
  std::vector<uint8_t> extradata;  // the encoder's parameter sets (the same for every segment)
};

// Transcodes one segment; `between_frames` (if any) runs after each frame, and after each packet
// of the encoder's flush (a worker's heartbeat).
// Throws media::MediaError (undecodable, limits, encoder failure) and std::runtime_error (a chain
// that does not give the announced size).
EncodedSegment transcode_segment(const SegmentJob& job, const media::SegmentPlan& plan,
                                 const std::vector<media::PacketPtr>& packets,
                                 const media::Limits& limits, filters::Chain& chain,
                                 filters::FrameProcessor& processor,
                                 const std::function<void()>& between_frames = {});

}  // namespace framepipe::worker
