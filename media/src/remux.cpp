#include "framepipe/media/remux.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "framepipe/media/writer.hpp"

namespace framepipe::media {

namespace {

// Demuxers that give video packets without presentation times: AVI (B-frames come late or with
// none) and raw elementary streams (FFmpeg 5.1 does not mark these AVFMT_NOTIMESTAMPS).
constexpr std::array<std::string_view, 6> kUntimedDemuxers = {"avi",       "h264", "hevc",
                                                              "mpegvideo", "m4v",  "obu"};

// Matroska stores no decode times: the first packets of a stream with B-frames come without one.
// Each gets what libavformat's muxer would guess (its rule, mux.c): the smallest of the latest
// `delay` + 1 presentation times, the missing ones counted back a duration each.
class DecodeTimes {
 public:
  explicit DecodeTimes(int delay) : delay_(std::clamp(delay, 0, kMaxDelay)) {
    buffer_.fill(AV_NOPTS_VALUE);
  }

  void fill(AVPacket& packet) {
    if (packet.dts != AV_NOPTS_VALUE || packet.pts == AV_NOPTS_VALUE) return;
    buffer_[0] = packet.pts;
    for (int i = 1; i <= delay_ && buffer_[i] == AV_NOPTS_VALUE; ++i) {
      buffer_[i] = packet.pts + (i - delay_ - 1) * packet.duration;
    }
    for (int i = 0; i < delay_ && buffer_[i] > buffer_[i + 1]; ++i) {
      std::swap(buffer_[i], buffer_[i + 1]);
    }
    packet.dts = buffer_[0];
  }

 private:
  static constexpr int kMaxDelay = 16;  // H.264's largest reorder depth
  int delay_;
  std::array<int64_t, kMaxDelay + 1> buffer_{};
};

}  // namespace

std::optional<std::string> video_copy_refusal(const protocol::OutputFormat& format,
                                              std::string_view video_codec,
                                              std::string_view container) {
  const std::string demuxer(container.substr(0, container.find(',')));
  const AVInputFormat* input = av_find_input_format(demuxer.c_str());
  const bool untimed = std::find(kUntimedDemuxers.begin(), kUntimedDemuxers.end(), demuxer) !=
                       kUntimedDemuxers.end();
  if (untimed || input == nullptr || (input->flags & AVFMT_NOTIMESTAMPS) != 0) {
    return "the " + demuxer.substr(0, 32) + " input has no presentation times to keep";
  }
  if (format.kind != protocol::MediaKind::video) {
    return std::string(format.name) + " is an audio format";
  }
  if (format.constant_frame_rate) {
    return std::string(format.name) + " has no presentation times of its own";
  }
  if (std::find(format.video_codecs.begin(), format.video_codecs.end(), video_codec) ==
      format.video_codecs.end()) {
    return std::string(format.name) + " does not hold " + std::string(video_codec.substr(0, 32)) +
           " video";
  }
  return std::nullopt;
}

namespace {

bool is_picture_stream(const AVStream& stream) {
  return stream.codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
         (stream.disposition & AV_DISPOSITION_ATTACHED_PIC) == 0;
}

// The source's sound track alone into an audio format, a second of it at a time between checks
// of `progress`.
RemuxOutcome write_sound_track(const std::string& input_path, const std::string& output_path,
                               std::string_view format_name, const Limits& limits,
                               const RemuxProgress& progress) {
  OutputSpec spec;
  spec.path = output_path;
  spec.format = std::string(format_name);
  spec.audio_source = input_path;
  Writer writer(spec, limits);
  for (double seconds = 1; writer.write_audio_until(seconds); seconds += 1) {
    if (progress && !progress(0)) throw MediaError("stopped");
  }
  writer.finish();
  RemuxOutcome outcome;
  outcome.audio_mode = writer.audio_mode();
  outcome.audio_encoded = outcome.audio_mode.find(" from ") != std::string::npos;
  return outcome;
}

}  // namespace

std::optional<AudioFileInfo> probe_audio_file(const std::string& path, const Limits& limits) {
  FormatContextPtr input = open_input(path, limits);
  const AVStream* audio = nullptr;
  for (unsigned index = 0; index < input->nb_streams; ++index) {
    const AVStream& stream = *input->streams[index];
    if (is_picture_stream(stream)) return std::nullopt;
    if (audio == nullptr && stream.codecpar->codec_type == AVMEDIA_TYPE_AUDIO) audio = &stream;
  }
  if (audio == nullptr) return std::nullopt;
  AudioFileInfo info;
  info.container = input->iformat->name;
  info.codec = avcodec_get_name(audio->codecpar->codec_id);
  if (input->duration > 0) info.duration_seconds = input->duration / double(AV_TIME_BASE);
  return info;
}

RemuxOutcome remux(const std::string& input_path, const std::string& output_path,
                   std::string_view format_name, const Limits& limits,
                   const RemuxProgress& progress) {
  const protocol::OutputFormat* format = protocol::find_output_format(format_name);
  if (format == nullptr) {
    throw MediaError("unknown output format; use one of: " + protocol::format_choices());
  }
  if (format->kind == protocol::MediaKind::audio) {
    return write_sound_track(input_path, output_path, format_name, limits, progress);
  }
  FormatContextPtr input = open_input(input_path, limits);
  AVStream* video = nullptr;
  for (unsigned index = 0; index < input->nb_streams; ++index) {
    AVStream* stream = input->streams[index];
    if (video == nullptr && is_picture_stream(*stream)) {
      video = stream;
    } else {
      stream->discard = AVDISCARD_ALL;  // the Writer reads the audio from its own demuxer
    }
  }
  if (video == nullptr) throw MediaError("the file has no video stream");
  if (auto refusal = video_copy_refusal(*format, avcodec_get_name(video->codecpar->codec_id),
                                        input->iformat->name)) {
    throw MediaError("the video cannot be copied: " + *refusal);
  }

  OutputSpec spec;
  spec.path = output_path;
  spec.format = std::string(format_name);
  spec.audio_source = input_path;
  spec.copied_video = video;
  Writer writer(spec, limits);

  PacketPtr packet = make_packet();
  DecodeTimes decode_times(video->codecpar->video_delay);
  RemuxOutcome outcome;
  while (true) {
    const int result = av_read_frame(input.get(), packet.get());
    if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
    if (result < 0) break;  // the end, or a read error that ends the input as in ffmpeg
    if (packet->stream_index != video->index) {
      av_packet_unref(packet.get());
      continue;
    }
    if (outcome.video_packets >= limits.max_frames) {
      throw MediaError("the video has more than " + std::to_string(limits.max_frames) + " frames");
    }
    decode_times.fill(*packet);
    writer.write_copied(*packet);
    av_packet_unref(packet.get());
    ++outcome.video_packets;
    if (progress && !progress(outcome.video_packets)) throw MediaError("stopped");
  }
  writer.finish();
  outcome.audio_mode = writer.audio_mode();
  outcome.audio_encoded = outcome.audio_mode.find(" from ") != std::string::npos;  // "aac from ac3"
  return outcome;
}

}  // namespace framepipe::media
