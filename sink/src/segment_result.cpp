#include "framepipe/sink/segment_result.hpp"

#include <algorithm>

#include "framepipe/media/encoder.hpp"
#include "framepipe/media/packet_list.hpp"

namespace framepipe::sink {

std::optional<EncodedSegment> open_segment_result(const protocol::JobStart& start,
                                                  protocol::SegmentResult&& result,
                                                  std::span<const zmq::message_t> payload,
                                                  std::string& why) {
  const auto refuse = [&](const std::string& reason) -> std::optional<EncodedSegment> {
    why = "segment " + std::to_string(result.index) + " of job " + result.job_id + ": " + reason;
    return std::nullopt;
  };
  if (start.segment_frames.empty()) return refuse("the job is dealt as frames");
  if (result.index < 0 || result.index >= static_cast<int64_t>(start.segment_frames.size())) {
    return refuse("not one of its segments");
  }
  const int64_t planned = start.segment_frames[static_cast<std::size_t>(result.index)];
  if (!result.error.empty()) return refuse("a worker's error reached the check");  // see header
  if (result.frames == 0) {  // every picture of it was damaged: nothing to mux
    if (!result.packet_sizes.empty() || payload.size() != 1 || payload[0].size() != 0) {
      return refuse("packets without frames");
    }
    return EncodedSegment{{},
                          std::move(result.extradata),
                          0,
                          std::max<int64_t>(0, result.damaged_packets),
                          std::move(result.worker)};
  }
  if (result.frames < 0 || result.frames > planned) {
    return refuse(std::to_string(result.frames) + " frames, of " + std::to_string(planned) +
                  " planned");
  }
  const AVRational ticks =
      media::encoder_time_base(AVRational{start.time_base_num, start.time_base_den});
  if (result.time_base_num != ticks.num || result.time_base_den != ticks.den) {
    return refuse("timestamps in another time base than the job's encoder");
  }
  if (payload.size() != 1) return refuse("packets not in exactly one part");
  if (result.packet_sizes.size() > static_cast<std::size_t>(4 * planned + 16)) {
    return refuse("more packets than its frames can give");
  }
  media::PacketLists lists{std::move(result.packet_sizes), std::move(result.packet_pts),
                           std::move(result.packet_dts), std::move(result.packet_durations),
                           std::move(result.packet_flags)};
  std::string bad;
  auto packets = media::unpack_packets(
      std::span(static_cast<const uint8_t*>(payload[0].data()), payload[0].size()), lists, bad);
  if (!packets) return refuse(bad);
  return EncodedSegment{std::move(*packets), std::move(result.extradata), result.frames,
                        std::max<int64_t>(0, result.damaged_packets), std::move(result.worker)};
}

}  // namespace framepipe::sink
