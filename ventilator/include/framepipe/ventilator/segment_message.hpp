// A planned segment's packets as the Segment message a worker receives (and its one part of
// packets), with the source stream's description and the job's chain and encoder settings.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "framepipe/media/av.hpp"
#include "framepipe/media/segments.hpp"
#include "framepipe/protocol/formats.hpp"
#include "framepipe/protocol/messages.hpp"

namespace framepipe::ventilator {

// What the Segment messages of one job share.
struct SegmentedJob {
  std::string job_id;
  const AVCodecParameters* parameters = nullptr;  // of the source's video stream
  AVRational time_base{1, 1};
  AVRational frame_rate{0, 1};
  protocol::ColorInfo color;
  std::string chain;  // canonical
  int out_width = 0;
  int out_height = 0;
  AVRational sample_aspect{0, 1};
  std::string preset;
  int crf = 20;
  std::string format{protocol::kDefaultFormat};  // the output format
};

std::pair<protocol::Segment, zmq::message_t> segment_message(
    const SegmentedJob& job, const media::SegmentPlan& plan, bool last,
    const std::vector<media::PacketPtr>& packets);

}  // namespace framepipe::ventilator
