#include "framepipe/worker/segment_transcoder.hpp"

#include <algorithm>

namespace framepipe::worker {

EncodedSegment transcode_segment(const SegmentJob& job, const media::SegmentPlan& plan,
                                 const std::vector<media::PacketPtr>& packets,
                                 const media::Limits& limits, filters::Chain& chain,
                                 filters::FrameProcessor& processor,
                                 const std::function<void()>& between_frames) {
  media::SegmentDecoder decoder(*job.parameters, job.time_base, limits);
  media::VideoEncoderSpec spec;
  spec.width = job.out_width;
  spec.height = job.out_height;
  spec.source_time_base = job.time_base;
  spec.frame_rate = job.frame_rate;
  spec.color = job.color;
  spec.sample_aspect = job.sample_aspect;
  spec.settings = job.encoder;
  spec.format = job.format;
  spec.global_header = true;
  media::VideoEncoder encoder(spec);
  const AVRational ticks = encoder.time_base();

  EncodedSegment out;
  out.time_base = ticks;
  media::FramePtr picture = media::make_frame();
  picture->format = AV_PIX_FMT_YUV420P;
  picture->width = job.out_width;
  picture->height = job.out_height;
  if (av_frame_get_buffer(picture.get(), 0) < 0) throw std::bad_alloc();
  std::vector<uint8_t> pixels(filters::yuv420p_size(job.out_width, job.out_height));
  int64_t last_frame_duration = 0;
  out.frames = decoder.decode(plan, packets, [&](media::FramePtr frame) {
    processor.process(filters::planar_view(*frame, job.color), chain, job.out_width, job.out_height,
                      pixels.data());
    // The encoder keeps a reference to what it is given: a fresh buffer for every frame.
    if (av_frame_make_writable(picture.get()) < 0) throw std::bad_alloc();
    const int luma = job.out_width * job.out_height;
    const uint8_t* planes[3] = {pixels.data(), pixels.data() + luma,
                                pixels.data() + luma + luma / 4};
    const int widths[3] = {job.out_width, job.out_width / 2, job.out_width / 2};
    const int heights[3] = {job.out_height, job.out_height / 2, job.out_height / 2};
    for (int p = 0; p < 3; ++p) {
      for (int y = 0; y < heights[p]; ++y) {
        std::copy_n(planes[p] + static_cast<std::ptrdiff_t>(y) * widths[p], widths[p],
                    picture->data[p] + static_cast<std::ptrdiff_t>(y) * picture->linesize[p]);
      }
    }
    picture->pts = av_rescale_q(frame->pts, job.time_base, ticks);
    last_frame_duration =
        frame->pkt_duration > 0 ? av_rescale_q(frame->pkt_duration, job.time_base, ticks) : 0;
    encoder.send(*picture);
    while (auto packet = encoder.next_packet()) out.packets.push_back(std::move(*packet));
    if (between_frames) between_frames();
  });
  if (out.frames == 0) throw media::MediaError("the segment gave no frame");
  int64_t last_duration = last_frame_duration;
  if (!job.last_segment) {
    // Up to the next segment's first frame, as a continuous encode would have it.
    last_duration = av_rescale_q(plan.end_pts, job.time_base, ticks) - picture->pts;
  } else if (last_duration <= 0) {
    const AVRational rate =
        job.frame_rate.num > 0 && job.frame_rate.den > 0 ? job.frame_rate : AVRational{25, 1};
    last_duration = std::max<int64_t>(1, av_rescale_q(1, av_inv_q(rate), ticks));
  }
  encoder.finish(last_duration);
  while (auto packet = encoder.next_packet()) out.packets.push_back(std::move(*packet));
  const AVCodecContext& context = encoder.context();
  out.extradata.assign(context.extradata, context.extradata + context.extradata_size);
  return out;
}

}  // namespace framepipe::worker
