#include "framepipe/ventilator/segment_message.hpp"

extern "C" {
#include <libavutil/pixdesc.h>
}

#include "framepipe/media/packet_list.hpp"

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
  zmq::message_t part(media::packed_size(packets));
  media::PacketLists lists;
  media::pack_packets(packets, static_cast<uint8_t*>(part.data()), lists);
  segment.packet_sizes = std::move(lists.sizes);
  segment.packet_pts = std::move(lists.pts);
  segment.packet_dts = std::move(lists.dts);
  segment.packet_flags = std::move(lists.flags);
  return {std::move(segment), std::move(part)};
}

}  // namespace framepipe::ventilator
