#include "framepipe/worker/segment_transcoder.hpp"

#include <algorithm>
#include <memory>

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
  spec.reproducible = true;  // segments join into one file whichever worker encodes each
  media::VideoEncoder encoder(spec);
  const AVRational ticks = encoder.time_base();

  EncodedSegment out;
  out.time_base = ticks;
  // The chain writes each picture straight into a pooled buffer that the encoder then references:
  // no copy between the filter and the encoder.
  const std::size_t picture_bytes = filters::yuv420p_size(job.out_width, job.out_height);
  std::unique_ptr<AVBufferPool, void (*)(AVBufferPool*)> pool(
      av_buffer_pool_init(picture_bytes, nullptr),
      [](AVBufferPool* p) { av_buffer_pool_uninit(&p); });
  if (!pool) throw std::bad_alloc();
  const int luma = job.out_width * job.out_height;
  media::FramePtr picture = media::make_frame();
  int64_t last_frame_duration = 0;
  out.frames = decoder.decode(plan, packets, [&](media::FramePtr frame) {
    av_frame_unref(picture.get());
    picture->buf[0] = av_buffer_pool_get(pool.get());
    if (!picture->buf[0]) throw std::bad_alloc();
    uint8_t* pixels = picture->buf[0]->data;
    processor.process(filters::planar_view(*frame, job.color), chain, job.out_width, job.out_height,
                      pixels);
    picture->format = AV_PIX_FMT_YUV420P;
    picture->width = job.out_width;
    picture->height = job.out_height;
    picture->data[0] = pixels;
    picture->data[1] = pixels + luma;
    picture->data[2] = pixels + luma + luma / 4;
    picture->linesize[0] = job.out_width;
    picture->linesize[1] = job.out_width / 2;
    picture->linesize[2] = job.out_width / 2;
    picture->pts = av_rescale_q(frame->pts, job.time_base, ticks);
    last_frame_duration =
        frame->pkt_duration > 0 ? av_rescale_q(frame->pkt_duration, job.time_base, ticks) : 0;
    encoder.send(*picture);
    while (auto packet = encoder.next_packet()) out.packets.push_back(std::move(*packet));
    if (between_frames) between_frames();
  });
  out.damaged_packets = decoder.damaged_packets();
  const AVCodecContext& context = encoder.context();
  out.extradata.assign(context.extradata, context.extradata + context.extradata_size);
  // Every picture damaged: no frame, as the whole file's decoder would give none of them.
  if (out.frames == 0) return out;
  int64_t last_duration = last_frame_duration;
  if (!job.last_segment) {
    // Up to the next segment's first frame, as a continuous encode would have it.
    last_duration = av_rescale_q(plan.end_pts, job.time_base, ticks) - picture->pts;
  } else if (last_duration <= 0) {
    const AVRational rate =
        job.frame_rate.num > 0 && job.frame_rate.den > 0 ? job.frame_rate : AVRational{25, 1};
    last_duration = std::max<int64_t>(1, av_rescale_q(1, av_inv_q(rate), ticks));
  }
  encoder.finish(last_duration, between_frames);
  while (auto packet = encoder.next_packet()) out.packets.push_back(std::move(*packet));
  return out;
}

}  // namespace framepipe::worker
