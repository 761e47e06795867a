#include "framepipe/ventilator/segment_message.hpp"

#include <cstring>

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace framepipe::ventilator {

std::pair<protocol::Segment, zmq::message_t> segment_message(
    const SegmentedJob& job, const media::SegmentPlan& plan, bool last,
    const std::vector<media::PacketPtr>& packets) {
  const AVCodecParameters& parameters = *job.parameters;
  protocol::Segment segment;
  segment.job_id = job.job_id;
  segment.index = plan.index;
  segment.codec = avcodec_get_name(parameters.codec_id);
  segment.extradata.assign(parameters.extradata, parameters.extradata + parameters.extradata_size);
  segment.width = parameters.width;
  segment.height = parameters.height;
  const char* format = av_get_pix_fmt_name(static_cast<AVPixelFormat>(parameters.format));
  segment.pixel_format = format != nullptr ? format : "";
  segment.color = job.color;
  segment.time_base_num = job.time_base.num;
  segment.time_base_den = job.time_base.den;
  segment.rate_num = job.frame_rate.num;
  segment.rate_den = job.frame_rate.den > 0 ? job.frame_rate.den : 1;
  segment.start_pts = plan.start_pts;
  segment.end_pts = plan.end_pts;
  segment.frames = plan.frames;
  segment.last = last;
  segment.chain = job.chain;
  segment.out_width = job.out_width;
  segment.out_height = job.out_height;
  segment.sample_aspect_num = job.sample_aspect.num;
  segment.sample_aspect_den = job.sample_aspect.den > 0 ? job.sample_aspect.den : 1;
  segment.preset = job.preset;
  segment.crf = job.crf;
  segment.format = job.format;
  std::size_t bytes = 0;
  for (const auto& packet : packets) bytes += static_cast<std::size_t>(packet->size);
  zmq::message_t part(bytes);
  auto* out = static_cast<uint8_t*>(part.data());
  for (const auto& packet : packets) {
    std::memcpy(out, packet->data, static_cast<std::size_t>(packet->size));
    out += packet->size;
    segment.packet_sizes.push_back(packet->size);
    segment.packet_pts.push_back(packet->pts);
    segment.packet_dts.push_back(packet->dts);
    segment.packet_flags.push_back(static_cast<uint8_t>(packet->flags & AV_PKT_FLAG_KEY));
  }
  return {std::move(segment), std::move(part)};
}

}  // namespace framepipe::ventilator
