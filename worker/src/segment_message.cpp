#include "framepipe/worker/segment_message.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

extern "C" {
#include <libavutil/pixdesc.h>
}

#include "framepipe/media/packet_list.hpp"
#include "framepipe/protocol/formats.hpp"
#include "framepipe/protocol/planes.hpp"

namespace framepipe::worker {

namespace {

constexpr std::size_t kMaxExtradataBytes = 64 * 1024;
constexpr int kMaxCrf = 51;
// Timestamps are rescaled to the encoder's time base (under 2^32 ticks a second) and subtracted
// there: within 2^30 seconds (34 years) either way, neither overflows. Real streams' are far
// inside.
constexpr long double kMaxTimestampSeconds = 1 << 30;

}  // namespace

std::optional<SegmentInput> open_segment(const protocol::Segment& message,
                                         std::span<const zmq::message_t> payload,
                                         const media::Limits& limits, std::string& why) {
  const auto refuse = [&](std::string reason) -> std::optional<SegmentInput> {
    why = "segment " + std::to_string(message.index) + " of job " + message.job_id + ": " +
          std::move(reason);
    return std::nullopt;
  };
  if (!media::is_segment_codec(message.codec)) {
    return refuse("codec \"" + message.codec.substr(0, 32) + "\" is not one workers decode");
  }
  const AVCodecDescriptor* descriptor = avcodec_descriptor_get_by_name(message.codec.c_str());
  if (descriptor == nullptr || avcodec_find_decoder(descriptor->id) == nullptr) {
    return refuse("no decoder for " + message.codec);
  }
  if (auto bad = protocol::check_dimensions(message.width, message.height); !bad.empty()) {
    return refuse(bad);
  }
  if (static_cast<long long>(message.width) * message.height > limits.max_pixels) {
    return refuse("frames larger than the limit");
  }
  if (auto bad = protocol::check_dimensions(message.out_width, message.out_height); !bad.empty()) {
    return refuse("output " + bad);
  }
  if (message.out_width % 2 != 0 || message.out_height % 2 != 0) {
    return refuse("odd output dimensions");
  }
  const AVPixelFormat format = av_get_pix_fmt(message.pixel_format.c_str());
  if (format == AV_PIX_FMT_NONE) return refuse("unknown pixel format");
  if (message.time_base_num <= 0 || message.time_base_den <= 0) return refuse("bad time base");
  if (message.rate_num < 0 || message.rate_den <= 0) return refuse("bad frame rate");
  if (message.extradata.size() > kMaxExtradataBytes) return refuse("extradata too large");
  if (message.crf < 0 || message.crf > kMaxCrf) return refuse("crf outside 0..51");
  // Before x264 sees it: an unknown preset fails the encoder's opening with a line on stderr.
  if (!protocol::is_x264_preset(message.preset)) return refuse("not an x264 preset");
  const protocol::OutputFormat* output = protocol::find_output_format(message.format);
  // Segments are encoded by workers in a video format that keeps their timestamps (not AVI, whose
  // frames sit on a grid the sink lays out).
  if (output == nullptr || output->kind != protocol::MediaKind::video ||
      output->constant_frame_rate) {
    return refuse("format \"" + message.format.substr(0, 16) + "\" is not one segments take");
  }
  if (message.start_pts >= message.end_pts) return refuse("an empty time range");
  // A segment that is not the last ends where the next one starts: a real timestamp, not
  // INT64_MAX. (Unset timestamps are the decoder's to guess.)
  const auto out_of_range = [&](int64_t pts) {
    return pts != AV_NOPTS_VALUE &&
           std::fabs(static_cast<long double>(pts) * message.time_base_num /
                     message.time_base_den) > kMaxTimestampSeconds;
  };
  if (std::any_of(message.packet_pts.begin(), message.packet_pts.end(), out_of_range) ||
      std::any_of(message.packet_dts.begin(), message.packet_dts.end(), out_of_range) ||
      (!message.last && out_of_range(message.end_pts))) {
    return refuse("timestamps beyond 2^30 seconds");
  }
  if (payload.size() != 1) return refuse("packets not in exactly one part");
  media::PacketLists lists{
      message.packet_sizes, message.packet_pts, message.packet_dts, {}, message.packet_flags};
  std::string bad;
  auto packets = media::unpack_packets(
      std::span(static_cast<const uint8_t*>(payload[0].data()), payload[0].size()), lists, bad);
  if (!packets) return refuse(bad);
  const std::size_t count = packets->size();
  if (message.frames <= 0 || message.frames > static_cast<int64_t>(count) ||
      message.frames > limits.max_frames) {
    return refuse("a frame count that its packets cannot give");
  }

  SegmentInput input;
  input.parameters.reset(avcodec_parameters_alloc());
  if (!input.parameters) throw std::bad_alloc();
  AVCodecParameters& parameters = *input.parameters;
  parameters.codec_type = AVMEDIA_TYPE_VIDEO;
  parameters.codec_id = descriptor->id;
  parameters.width = message.width;
  parameters.height = message.height;
  parameters.format = format;
  parameters.color_space = static_cast<AVColorSpace>(message.color.space);
  parameters.color_range = static_cast<AVColorRange>(message.color.range);
  parameters.color_primaries = static_cast<AVColorPrimaries>(message.color.primaries);
  parameters.color_trc = static_cast<AVColorTransferCharacteristic>(message.color.transfer);
  if (!message.extradata.empty()) {
    parameters.extradata =
        static_cast<uint8_t*>(av_mallocz(message.extradata.size() + AV_INPUT_BUFFER_PADDING_SIZE));
    if (parameters.extradata == nullptr) throw std::bad_alloc();
    std::memcpy(parameters.extradata, message.extradata.data(), message.extradata.size());
    parameters.extradata_size = static_cast<int>(message.extradata.size());
  }

  input.packets = std::move(*packets);
  input.plan.index = message.index;
  input.plan.first_packet = 0;
  input.plan.end_packet = static_cast<int64_t>(count);
  input.plan.start_pts = message.start_pts;
  input.plan.end_pts = message.end_pts;
  input.plan.frames = message.frames;
  input.plan.bytes = static_cast<int64_t>(payload[0].size());

  SegmentJob& job = input.job;
  job.parameters = input.parameters.get();
  job.time_base = {message.time_base_num, message.time_base_den};
  job.frame_rate = {message.rate_num, message.rate_den};
  job.color = message.color;
  job.out_width = message.out_width;
  job.out_height = message.out_height;
  job.sample_aspect = {message.sample_aspect_num, message.sample_aspect_den};
  job.encoder.preset = message.preset;
  job.encoder.crf = message.crf;
  job.format = message.format;
  job.encoder.threads = 1;  // a worker is one unit of compute, and one thread is deterministic
  job.last_segment = message.last;
  return input;
}

std::pair<protocol::SegmentResult, zmq::message_t> segment_result(const EncodedSegment& encoded,
                                                                  const protocol::Segment& segment,
                                                                  const std::string& worker) {
  protocol::SegmentResult result;
  result.job_id = segment.job_id;
  result.index = segment.index;
  result.worker = worker;
  result.frames = encoded.frames;
  result.damaged_packets = encoded.damaged_packets;
  result.extradata = encoded.extradata;
  result.time_base_num = encoded.time_base.num;
  result.time_base_den = encoded.time_base.den;
  zmq::message_t part(media::packed_size(encoded.packets));
  media::PacketLists lists;
  media::pack_packets(encoded.packets, static_cast<uint8_t*>(part.data()), lists);
  result.packet_sizes = std::move(lists.sizes);
  result.packet_pts = std::move(lists.pts);
  result.packet_dts = std::move(lists.dts);
  result.packet_durations = std::move(lists.durations);
  result.packet_flags = std::move(lists.flags);
  return {std::move(result), std::move(part)};
}

}  // namespace framepipe::worker
