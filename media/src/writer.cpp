#include "framepipe/media/writer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <deque>
#include <limits>
#include <map>
#include <new>
#include <string>
#include <utility>

extern "C" {
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
}

#include "framepipe/media/encoder.hpp"
#include "framepipe/media/formats.hpp"

namespace framepipe::media {

namespace {

constexpr int kMaxAudioChannels = 64;         // libswresample's limit
constexpr int kMaxAudioSampleRate = 768'000;  // above every real format
constexpr AVRational kFallbackFrameRate{25, 1};
// Audio that starts before the first picture moves time zero back by at most this much; more
// is a broken or hostile file, and that audio is then left out of the presentation.
constexpr double kMaxAudioLeadSeconds = 10.0;

struct OutputContextDeleter {
  void operator()(AVFormatContext* context) const {
    if (context->pb != nullptr && (context->oformat->flags & AVFMT_NOFILE) == 0) {
      avio_closep(&context->pb);
    }
    avformat_free_context(context);
  }
};
using OutputContextPtr = std::unique_ptr<AVFormatContext, OutputContextDeleter>;

struct ResamplerDeleter {
  void operator()(SwrContext* context) const { swr_free(&context); }
};
struct AudioFifoDeleter {
  void operator()(AVAudioFifo* fifo) const { av_audio_fifo_free(fifo); }
};

// Owns an AVChannelLayout (which may hold an allocated custom map).
class ChannelLayout {
 public:
  ChannelLayout() = default;
  ~ChannelLayout() { av_channel_layout_uninit(&layout_); }
  ChannelLayout(const ChannelLayout&) = delete;
  ChannelLayout& operator=(const ChannelLayout&) = delete;

  // Copies `source`, or takes the default layout for its channel count when its order is unknown.
  void assign(const AVChannelLayout& source) {
    av_channel_layout_uninit(&layout_);
    if (source.order == AV_CHANNEL_ORDER_UNSPEC) {
      av_channel_layout_default(&layout_, source.nb_channels);
    } else if (av_channel_layout_copy(&layout_, &source) < 0) {
      throw std::bad_alloc();
    }
  }
  const AVChannelLayout& get() const { return layout_; }
  AVChannelLayout* pointer() { return &layout_; }  // for FFmpeg 5.1's non-const parameters

 private:
  AVChannelLayout layout_{};
};

[[noreturn]] void fail(const std::string& what, int error) {
  if (error == AVERROR(ENOMEM)) throw std::bad_alloc();
  throw MediaError(what + ": " + error_string(error));
}

bool valid_rate(AVRational rate) {
  return rate.num > 0 && rate.den > 0;
}

// The source's sample format when the encoder takes it (FLAC keeps 24-bit sources' depth), else
// planar float when it takes that, else its first.
AVSampleFormat choose_sample_format(const AVCodec& encoder, int input_format) {
  if (encoder.sample_fmts == nullptr) return AV_SAMPLE_FMT_FLTP;
  for (const AVSampleFormat* format = encoder.sample_fmts; *format != AV_SAMPLE_FMT_NONE;
       ++format) {
    if (*format == input_format) return *format;
  }
  for (const AVSampleFormat* format = encoder.sample_fmts; *format != AV_SAMPLE_FMT_NONE;
       ++format) {
    if (*format == AV_SAMPLE_FMT_FLTP) return *format;
  }
  return encoder.sample_fmts[0];
}

int choose_sample_rate(const AVCodec& encoder, int input_rate) {
  if (encoder.supported_samplerates == nullptr) return input_rate > 0 ? input_rate : 48000;
  for (const int* rate = encoder.supported_samplerates; *rate != 0; ++rate) {
    if (*rate == input_rate) return input_rate;
  }
  return 48000;
}

// The frame size and quality an encoded output asks for. Throws MediaError.
void check_encoded_size(const OutputSpec& spec, const Limits& limits) {
  if (spec.width <= 0 || spec.height <= 0 || spec.width % 2 != 0 || spec.height % 2 != 0) {
    throw MediaError("the output frame size " + std::to_string(spec.width) + "x" +
                     std::to_string(spec.height) + " is not positive and even");
  }
  if (static_cast<long long>(spec.width) * spec.height > limits.max_pixels) {
    throw MediaError("the output frame size " + std::to_string(spec.width) + "x" +
                     std::to_string(spec.height) + " exceeds the limit of " +
                     std::to_string(limits.max_pixels) + " pixels");
  }
  if (!valid_rate(spec.time_base)) throw MediaError("the output time base is not valid");
  if (spec.encoder.crf < 0 || spec.encoder.crf > 51) {
    throw MediaError("crf " + std::to_string(spec.encoder.crf) + " is outside 0..51");
  }
}

}  // namespace

// The audio of the source file on its way into the output: packets copied, or decoded,
// resampled and encoded to AAC. Source packets are read one ahead, so that the track is only
// advanced up to the video's time.
struct AudioTrack {
  FormatContextPtr input;
  AVStream* input_stream = nullptr;   // owned by input
  AVStream* output_stream = nullptr;  // owned by the output context
  bool transcode = false;
  PacketPtr packet = make_packet();  // the next source packet when packet_pending
  bool packet_pending = false;
  bool input_ended = false;
  int64_t origin = 0;  // output time zero, in the input stream's time base
  int64_t end = std::numeric_limits<int64_t>::max();  // packets from here on are left out
  int64_t presentation_start = AV_NOPTS_VALUE;        // first audible sample, input time base
  int64_t last_dts = AV_NOPTS_VALUE;        // of the last packet muxed, output time base (copy)
  int64_t next_input_dts = AV_NOPTS_VALUE;  // for source packets without timestamps (copy)
  long long damaged_packets = 0;

  // Transcoding only.
  CodecContextPtr decoder;
  CodecContextPtr encoder;
  std::unique_ptr<SwrContext, ResamplerDeleter> resampler;
  ChannelLayout resampler_input_layout;
  int resampler_input_format = -1;
  int resampler_input_rate = 0;
  std::unique_ptr<AVAudioFifo, AudioFifoDeleter> fifo;
  int64_t next_pts = AV_NOPTS_VALUE;  // of the next encoded sample, in samples from time zero
  FramePtr decoded = make_frame();
  FramePtr resampled = make_frame();
  FramePtr encoder_input = make_frame();
  PacketPtr encoded = make_packet();
};

struct Writer::State {
  OutputSpec spec;
  FormatCodecs codecs;
  bool audio_only = false;  // an audio format: frames only pace the audio
  std::string url;
  OutputContextPtr output;
  bool file_opened = false;
  bool finished = false;

  std::optional<VideoEncoder> video_encoder;
  AVStream* video_stream = nullptr;  // owned by output
  Limits limits;
  // Every time below is in the encoder's time base: encoder_time_base(spec.time_base), or 1/rate
  // for a container without timestamps of its own (AVI).
  AVRational frame_time_base{1, 1};
  int64_t default_frame_ticks = 1;  // one frame at the average rate
  // Time zero of the output: the first frame, or the start of the audio when that comes earlier.
  // Both streams are measured from it, so their distance stays the source's.
  int64_t origin = AV_NOPTS_VALUE;
  int64_t first_pts = AV_NOPTS_VALUE;  // the first frame's pts from time zero
  int64_t last_pts = AV_NOPTS_VALUE;   // the previous frame's pts after moving, from time zero
  int64_t last_frame_duration = 0;     // the previous frame's own pkt_duration, 0 when unknown
  long long video_packets_muxed = 0;
  // Segments: the first segment's encoder delay (packets before its first frame's time), and the
  // last `delay` presentation times of the segments muxed so far.
  int64_t segment_delay = 0;
  std::deque<int64_t> shown_tail;

  std::unique_ptr<AudioTrack> audio;

  ~State();

  VideoEncoderSpec encoder_spec() const;  // what the spec asks of the video encoder
  void open_video_encoder();
  void open_encoded_video_stream();
  void open_copied_video_stream();
  void open_audio(std::string& audio_mode);
  void set_origin(int64_t first_frame_pts);
  void open_audio_transcoder(AudioTrack& track, std::string& audio_mode);

  void write_trailer();
  void release_video_packets();
  void mux(AVPacket& packet);

  // Moves audio into the output up to `time` (in time_base); all of it when `to_end`.
  void advance_audio(int64_t time, AVRational time_base, bool to_end);
  bool read_audio_packet(AudioTrack& track);
  void copy_audio_packet(AudioTrack& track);
  void transcode_audio_packet(AudioTrack& track, const AVPacket* packet);
  void resample_audio_frame(AudioTrack& track, const AVFrame* frame);
  void encode_audio(AudioTrack& track, bool final);
  void drain_audio_encoder(AudioTrack& track);
};

Writer::State::~State() {
  if (file_opened && !finished) {
    // An unfinished file (an MP4 without its index) cannot be played: leave none behind.
    audio.reset();
    output.reset();
    std::remove(spec.path.c_str());
  }
}

Writer::Writer(const OutputSpec& spec, const Limits& limits) : state_(std::make_unique<State>()) {
  State& state = *state_;
  state.spec = spec;
  state.limits = limits;
  state.codecs = resolve_format(spec.format);
  const protocol::OutputFormat& format = *state.codecs.format;
  state.audio_only = format.kind == protocol::MediaKind::audio;
  if (spec.copied_video == nullptr && !state.audio_only) check_encoded_size(spec, limits);
  if (spec.copied_video != nullptr && state.audio_only) {
    throw MediaError("an audio format takes no copied video");
  }
  const AVRational rate = valid_rate(spec.frame_rate) ? spec.frame_rate : kFallbackFrameRate;
  if (format.constant_frame_rate) {
    // One tick per frame: a frame moved after the one before moves by a whole frame.
    av_reduce(&state.frame_time_base.num, &state.frame_time_base.den, rate.den, rate.num,
              std::numeric_limits<int>::max());
  } else {
    state.frame_time_base = encoder_time_base(spec.time_base);
  }
  state.default_frame_ticks =
      std::max<int64_t>(1, av_rescale_q(1, av_inv_q(rate), state.frame_time_base));

  // "file:" keeps a colon in the name from selecting another protocol.
  state.url = "file:" + spec.path;
  const std::string muxer(format.muxer);
  AVFormatContext* raw_output = nullptr;
  int result = avformat_alloc_output_context2(
      &raw_output, const_cast<AVOutputFormat*>(state.codecs.muxer), nullptr, state.url.c_str());
  if (result < 0) fail("cannot create the " + muxer + " muxer", result);
  state.output.reset(raw_output);

  if (state.audio_only) {
    // no video stream
  } else if (spec.copied_video != nullptr) {
    state.open_copied_video_stream();
  } else if (!spec.encoded_video) {
    state.open_video_encoder();
  } else {
    state.open_encoded_video_stream();
  }
  if (!spec.audio_source.empty()) state.open_audio(audio_mode_);
  if (spec.copied_video != nullptr && state.audio) {
    AudioTrack& track = *state.audio;
    track.origin = 0;
    track.end = av_rescale_q(static_cast<int64_t>(limits.max_duration_seconds * AV_TIME_BASE),
                             AVRational{1, AV_TIME_BASE}, track.input_stream->time_base);
  }
  if (state.audio_only && !state.audio) {
    throw MediaError("the format " + std::string(format.name) +
                     " is audio only and the input has no audio it can use (" + audio_mode_ + ")");
  }

  result = avio_open(&state.output->pb, state.url.c_str(), AVIO_FLAG_WRITE);
  if (result < 0) fail("cannot create " + spec.path, result);
  state.file_opened = true;

  AVDictionary* options = nullptr;
  for (const auto& [key, value] : format.muxer_options) {
    av_dict_set(&options, std::string(key).c_str(), std::string(value).c_str(), 0);
  }
  result = avformat_write_header(state.output.get(), &options);
  av_dict_free(&options);
  if (result < 0) fail("cannot start the " + muxer + " file", result);
}

Writer::~Writer() = default;

VideoEncoderSpec Writer::State::encoder_spec() const {
  VideoEncoderSpec encoder;
  encoder.width = spec.width;
  encoder.height = spec.height;
  encoder.source_time_base = spec.time_base;
  encoder.frame_rate = spec.frame_rate;
  encoder.color = spec.color;
  encoder.sample_aspect = spec.sample_aspect;
  encoder.settings = spec.encoder;
  encoder.global_header = (output->oformat->flags & AVFMT_GLOBALHEADER) != 0;
  encoder.format = spec.format;
  encoder.time_base = frame_time_base;
  return encoder;
}

void Writer::State::open_video_encoder() {
  video_encoder.emplace(encoder_spec());
  const AVCodecContext& context = video_encoder->context();

  video_stream = avformat_new_stream(output.get(), nullptr);
  if (video_stream == nullptr) throw std::bad_alloc();
  video_stream->time_base = context.time_base;  // a hint; the muxer picks its own
  video_stream->sample_aspect_ratio = context.sample_aspect_ratio;
  if (valid_rate(spec.frame_rate)) video_stream->avg_frame_rate = spec.frame_rate;
  const int result = avcodec_parameters_from_context(video_stream->codecpar, &context);
  if (result < 0) fail("cannot describe the video stream", result);
}

void Writer::State::open_encoded_video_stream() {
  video_stream = avformat_new_stream(output.get(), nullptr);
  if (video_stream == nullptr) throw std::bad_alloc();
  encoded_video_parameters(encoder_spec(), spec.encoded_video_extradata, *video_stream->codecpar);
  video_stream->time_base = frame_time_base;  // a hint; the muxer picks its own
  video_stream->sample_aspect_ratio = video_stream->codecpar->sample_aspect_ratio;
  if (valid_rate(spec.frame_rate)) video_stream->avg_frame_rate = spec.frame_rate;
}

void Writer::State::open_copied_video_stream() {
  const AVStream& source = *spec.copied_video;
  if (!valid_rate(source.time_base)) throw MediaError("the video stream has no valid time base");
  video_stream = avformat_new_stream(output.get(), nullptr);
  if (video_stream == nullptr) throw std::bad_alloc();
  int result = avcodec_parameters_copy(video_stream->codecpar, source.codecpar);
  if (result < 0) fail("cannot describe the video stream", result);
  video_stream->codecpar->codec_tag = 0;       // the source container's tag means nothing here
  video_stream->time_base = source.time_base;  // a hint; the muxer picks its own
  video_stream->sample_aspect_ratio = source.sample_aspect_ratio;
  video_stream->avg_frame_rate = source.avg_frame_rate;
  video_stream->disposition = source.disposition;
  // The display matrix (a phone's rotation) and the like describe the pictures: they go along.
  for (int i = 0; i < source.nb_side_data; ++i) {
    const AVPacketSideData& side = source.side_data[i];
    uint8_t* data = av_stream_new_side_data(video_stream, side.type, side.size);
    if (data == nullptr) throw std::bad_alloc();
    std::copy(side.data, side.data + side.size, data);
  }
  frame_time_base = source.time_base;
  // The source's timeline is kept as it is, the audio's with it: no time zero of our own.
  origin = 0;
}

void Writer::State::open_audio(std::string& audio_mode) {
  auto track = std::make_unique<AudioTrack>();
  track->input = open_input(spec.audio_source, limits);
  AVFormatContext& input = *track->input;
  for (unsigned index = 0; index < input.nb_streams; ++index) {
    AVStream* stream = input.streams[index];
    if (track->input_stream == nullptr && stream->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
      track->input_stream = stream;
    } else {
      stream->discard = AVDISCARD_ALL;
    }
  }
  if (track->input_stream == nullptr) return;  // audio_mode stays "none"
  const AVCodecParameters& parameters = *track->input_stream->codecpar;
  const std::string codec_name = avcodec_get_name(parameters.codec_id);
  if (!valid_rate(track->input_stream->time_base)) {
    audio_mode = "none (the " + codec_name + " audio has no valid time base)";
    return;
  }

  if (track->input_stream->start_time != AV_NOPTS_VALUE) {
    // libavformat's start leaves out the samples a decoder drops at the start (Opus pre-skip).
    track->presentation_start = track->input_stream->start_time;
    if (parameters.initial_padding > 0 && parameters.sample_rate > 0) {
      track->presentation_start +=
          av_rescale_q(parameters.initial_padding, AVRational{1, parameters.sample_rate},
                       track->input_stream->time_base);
    }
  }

  if (keeps_audio(*codecs.format, parameters.codec_id)) {
    track->output_stream = avformat_new_stream(output.get(), nullptr);
    if (track->output_stream == nullptr) throw std::bad_alloc();
    const int result = avcodec_parameters_copy(track->output_stream->codecpar, &parameters);
    if (result < 0) fail("cannot describe the audio stream", result);
    track->output_stream->codecpar->codec_tag = 0;  // the source container's tag means nothing here
    track->output_stream->time_base = track->input_stream->time_base;
    // FFmpeg 5.1 still calls FLAC in MP4 experimental; the mapping is standard and browsers play
    // it.
    if (parameters.codec_id == AV_CODEC_ID_FLAC) {
      output->strict_std_compliance = FF_COMPLIANCE_EXPERIMENTAL;
    }
    audio_mode = "copy " + codec_name;
  } else {
    track->transcode = true;
    if (parameters.ch_layout.nb_channels <= 0 ||
        parameters.ch_layout.nb_channels > kMaxAudioChannels || parameters.sample_rate <= 0 ||
        parameters.sample_rate > kMaxAudioSampleRate) {
      audio_mode = "none (the " + codec_name + " audio has an invalid channel count or rate)";
      return;
    }
    open_audio_transcoder(*track, audio_mode);
    if (!track->encoder) return;
  }
  audio = std::move(track);
}

void Writer::State::open_audio_transcoder(AudioTrack& track, std::string& audio_mode) {
  const AVCodecParameters& parameters = *track.input_stream->codecpar;
  const std::string codec_name = avcodec_get_name(parameters.codec_id);
  const AVCodec* decoder = avcodec_find_decoder(parameters.codec_id);
  if (decoder == nullptr) {
    audio_mode = "none (no decoder for the " + codec_name + " audio)";
    return;
  }
  track.decoder.reset(avcodec_alloc_context3(decoder));
  if (!track.decoder) throw std::bad_alloc();
  int result = avcodec_parameters_to_context(track.decoder.get(), &parameters);
  if (result < 0) fail("cannot describe the audio decoder", result);
  track.decoder->pkt_timebase = track.input_stream->time_base;
  result = avcodec_open2(track.decoder.get(), decoder, nullptr);
  if (result < 0) {
    audio_mode =
        "none (the " + codec_name + " audio cannot be decoded: " + error_string(result) + ")";
    track.decoder.reset();
    return;
  }

  const AVCodec* encoder = codecs.audio_encoder;
  track.encoder.reset(avcodec_alloc_context3(encoder));
  if (!track.encoder) throw std::bad_alloc();
  AVCodecContext& context = *track.encoder;
  const bool mono = parameters.ch_layout.nb_channels == 1;
  context.sample_fmt = choose_sample_format(*encoder, parameters.format);
  context.sample_rate = choose_sample_rate(*encoder, parameters.sample_rate);
  av_channel_layout_default(&context.ch_layout, mono ? 1 : 2);
  const int64_t bit_rate =
      mono ? codecs.format->audio_bit_rate_mono : codecs.format->audio_bit_rate_stereo;
  if (bit_rate > 0) context.bit_rate = bit_rate;
  context.time_base = AVRational{1, context.sample_rate};
  if ((output->oformat->flags & AVFMT_GLOBALHEADER) != 0) {
    context.flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  result = avcodec_open2(&context, encoder, nullptr);
  if (result < 0) fail(std::string("cannot start the audio encoder ") + encoder->name, result);

  track.fifo.reset(av_audio_fifo_alloc(context.sample_fmt, context.ch_layout.nb_channels,
                                       std::max(context.frame_size, 1) * 2));
  if (!track.fifo) throw std::bad_alloc();
  track.output_stream = avformat_new_stream(output.get(), nullptr);
  if (track.output_stream == nullptr) throw std::bad_alloc();
  track.output_stream->time_base = context.time_base;
  result = avcodec_parameters_from_context(track.output_stream->codecpar, &context);
  if (result < 0) fail("cannot describe the audio stream", result);
  audio_mode = std::string(avcodec_get_name(encoder->id)) + " from " + codec_name;
}

void Writer::write(AVFrame* frame) {
  State& state = *state_;
  if (state.finished) throw MediaError("write() after finish()");
  if (frame == nullptr || frame->data[0] == nullptr) throw MediaError("an empty frame was written");
  if ((frame->format != AV_PIX_FMT_YUV420P && frame->format != AV_PIX_FMT_YUVJ420P) ||
      frame->width != state.spec.width || frame->height != state.spec.height) {
    const char* format_name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format));
    throw MediaError("a frame of " + std::to_string(frame->width) + "x" +
                     std::to_string(frame->height) + " " +
                     (format_name != nullptr ? format_name : "unknown") + " was written to a " +
                     std::to_string(state.spec.width) + "x" + std::to_string(state.spec.height) +
                     " yuv420p output");
  }

  const int64_t source_pts =
      frame->pts != AV_NOPTS_VALUE
          ? av_rescale_q(frame->pts, state.spec.time_base, state.frame_time_base)
          : AV_NOPTS_VALUE;
  if (state.origin == AV_NOPTS_VALUE) {
    state.set_origin(source_pts != AV_NOPTS_VALUE ? source_pts : 0);
  }
  int64_t pts = 0;
  if (source_pts != AV_NOPTS_VALUE) {
    pts = source_pts - state.origin;
  } else if (state.last_pts != AV_NOPTS_VALUE) {
    pts = state.last_pts + state.default_frame_ticks;
  }
  if (state.last_pts != AV_NOPTS_VALUE) {
    // Never drop a frame: one tick after the previous is at most 0.1 ms from its own time when
    // the timestamp repeats (a damaged stream), as ffmpeg -fps_mode passthrough keeps it.
    if (pts <= state.last_pts) pts = state.last_pts + 1;
  } else {
    state.first_pts = pts;
  }
  state.last_pts = pts;
  if (state.audio_only) {
    ++frames_written_;
    state.advance_audio(pts, state.frame_time_base, false);
    return;
  }
  state.last_frame_duration =
      frame->pkt_duration > 0
          ? av_rescale_q(frame->pkt_duration, state.spec.time_base, state.frame_time_base)
          : 0;

  // A reference, not a copy, when the caller's buffers are refcounted; the caller's frame is
  // left as it was.
  FramePtr input = make_frame();
  const int result = av_frame_ref(input.get(), frame);
  if (result < 0) fail("cannot take the frame", result);
  input->pts = pts;
  state.video_encoder->send(*input);
  ++frames_written_;
  state.release_video_packets();
}

void Writer::State::set_origin(int64_t first_frame_pts) {
  origin = first_frame_pts;
  if (!audio) return;
  AudioTrack& track = *audio;
  const AVRational audio_time_base = track.input_stream->time_base;
  if (audio_only && track.presentation_start != AV_NOPTS_VALUE) {
    // The sound track alone: it starts at zero wherever the pictures started.
    origin =
        av_rescale_q_rnd(track.presentation_start, audio_time_base, frame_time_base, AV_ROUND_DOWN);
  } else if (track.presentation_start != AV_NOPTS_VALUE &&
             av_compare_ts(track.presentation_start, audio_time_base, origin, frame_time_base) <
                 0) {
    // Rounded down, so that no audio is cut: the video may start up to one tick after zero.
    const int64_t audio_start =
        av_rescale_q_rnd(track.presentation_start, audio_time_base, frame_time_base, AV_ROUND_DOWN);
    if (static_cast<double>(origin - audio_start) * av_q2d(frame_time_base) <=
        kMaxAudioLeadSeconds) {
      origin = audio_start;
    }
  }
  track.origin = av_rescale_q(origin, frame_time_base, audio_time_base);
  // Audio is not read beyond the longest video the limits allow.
  track.end =
      track.origin + av_rescale_q(static_cast<int64_t>(limits.max_duration_seconds * AV_TIME_BASE),
                                  AVRational{1, AV_TIME_BASE}, audio_time_base);
}

void Writer::write_segment(std::vector<PacketPtr>& packets) {
  State& state = *state_;
  if (state.finished) throw MediaError("write_segment() after finish()");
  if (!state.spec.encoded_video) {
    throw MediaError("this output encodes frames; it takes no segment");
  }
  if (packets.empty()) throw MediaError("an empty segment was written");
  std::vector<int64_t> shown;
  shown.reserve(packets.size());
  for (const auto& packet : packets) shown.push_back(packet->pts);
  std::sort(shown.begin(), shown.end());
  if (std::adjacent_find(shown.begin(), shown.end()) != shown.end()) {
    throw MediaError("a segment has two frames at the same time");
  }
  const bool first = state.origin == AV_NOPTS_VALUE;
  if (first) {
    state.set_origin(shown.front());
    state.segment_delay = std::count_if(packets.begin(), packets.end(), [&](const auto& packet) {
      return packet->dts < shown.front();
    });
  } else if (shown.front() - state.origin <= state.last_pts) {
    throw MediaError("a segment starts before the end of the one before");
  }
  // Presentation times from `delay` places before this segment's first packet on.
  std::vector<int64_t> presented(state.shown_tail.begin(), state.shown_tail.end());
  presented.insert(presented.end(), shown.begin(), shown.end());
  const auto delay = static_cast<std::size_t>(state.segment_delay);
  for (std::size_t i = 0; i < packets.size(); ++i) {
    AVPacket& packet = *packets[i];
    if (!first || i >= delay) {
      // The index in `presented` of the frame `delay` places before packet i of this segment.
      const std::size_t at = state.shown_tail.size() + i - delay;
      if (at >= presented.size() || presented[at] > packet.pts) {
        throw MediaError("the segment's timestamps cannot follow the one before");
      }
      packet.dts = presented[at];
    }
    packet.pts -= state.origin;
    packet.dts -= state.origin;
    packet.stream_index = state.video_stream->index;
    av_packet_rescale_ts(&packet, state.frame_time_base, state.video_stream->time_base);
    if (state.audio) state.advance_audio(packet.dts, state.video_stream->time_base, false);
    state.mux(packet);
    ++state.video_packets_muxed;
    ++frames_written_;
  }
  state.last_pts = shown.back() - state.origin;
  for (int64_t pts : shown) {
    state.shown_tail.push_back(pts);
    if (state.shown_tail.size() > delay) state.shown_tail.pop_front();
  }
}

bool Writer::write_audio_until(double seconds) {
  State& state = *state_;
  if (state.finished) throw MediaError("write_audio_until() after finish()");
  if (!state.audio_only) throw MediaError("only an audio format takes its sound track alone");
  if (state.origin == AV_NOPTS_VALUE) state.set_origin(0);
  state.advance_audio(std::llround(seconds * 1000.0), AVRational{1, 1000}, false);
  return !state.audio->input_ended;
}

void Writer::write_copied(AVPacket& packet) {
  State& state = *state_;
  if (state.finished) throw MediaError("write_copied() after finish()");
  if (state.spec.copied_video == nullptr) {
    throw MediaError("this output encodes its video; it takes no copied packet");
  }
  packet.stream_index = state.video_stream->index;
  packet.pos = -1;
  av_packet_rescale_ts(&packet, state.frame_time_base, state.video_stream->time_base);
  const int64_t time = packet.dts != AV_NOPTS_VALUE ? packet.dts : packet.pts;
  if (state.audio && time != AV_NOPTS_VALUE) {
    state.advance_audio(time, state.video_stream->time_base, false);
  }
  state.mux(packet);
  ++state.video_packets_muxed;
  ++frames_written_;
}

void Writer::finish() {
  State& state = *state_;
  if (state.finished) return;
  if (state.audio_only) {
    if (state.origin == AV_NOPTS_VALUE) state.set_origin(0);
    state.advance_audio(0, AVRational{1, 1}, true);
    state.write_trailer();
    return;
  }
  if (frames_written_ == 0) throw MediaError("no video frame was written");
  if (!state.video_encoder) {  // segments or a copied stream: every packet is muxed already
    if (state.audio) state.advance_audio(0, AVRational{1, 1}, true);
    state.write_trailer();
    return;
  }

  // The last frame lasts as long as it says, or as long as the average frame.
  int64_t last_duration = state.last_frame_duration;
  if (last_duration <= 0 && frames_written_ > 1) {
    last_duration =
        (state.last_pts - state.first_pts + (frames_written_ - 1) / 2) / (frames_written_ - 1);
  }
  if (last_duration <= 0) last_duration = state.default_frame_ticks;
  state.video_encoder->finish(last_duration);
  state.release_video_packets();
  if (state.video_packets_muxed != frames_written_) {
    throw MediaError("the encoder gave " + std::to_string(state.video_packets_muxed) +
                     " packets for " + std::to_string(frames_written_) + " frames");
  }
  if (state.audio) state.advance_audio(0, AVRational{1, 1}, true);
  state.write_trailer();
}

void Writer::State::write_trailer() {
  int result = av_write_trailer(output.get());
  if (result < 0) fail("cannot finish the " + std::string(codecs.format->muxer) + " file", result);
  result = avio_closep(&output->pb);
  if (result < 0) fail("cannot close " + spec.path, result);
  finished = true;
}

void Writer::State::release_video_packets() {
  while (auto encoded = video_encoder->next_packet()) {
    AVPacket& packet = **encoded;
    packet.stream_index = video_stream->index;
    av_packet_rescale_ts(&packet, video_encoder->time_base(), video_stream->time_base);
    if (audio) advance_audio(packet.dts, video_stream->time_base, false);
    mux(packet);
    ++video_packets_muxed;
  }
}

void Writer::State::mux(AVPacket& packet) {
  const int result = av_interleaved_write_frame(output.get(), &packet);
  if (result < 0) fail("cannot write to " + spec.path, result);
}

void Writer::State::advance_audio(int64_t time, AVRational time_base, bool to_end) {
  AudioTrack& track = *audio;
  while (!track.input_ended) {
    if (!track.packet_pending && !read_audio_packet(track)) break;
    const AVPacket& packet = *track.packet;
    const int64_t source_time = packet.dts != AV_NOPTS_VALUE ? packet.dts : packet.pts;
    if (source_time != AV_NOPTS_VALUE && source_time >= track.end) {
      av_packet_unref(track.packet.get());
      track.packet_pending = false;
      track.input_ended = true;
      break;
    }
    if (!to_end && source_time != AV_NOPTS_VALUE &&
        av_compare_ts(source_time - track.origin, track.input_stream->time_base, time, time_base) >
            0) {
      return;  // this packet belongs after the video written so far
    }
    if (track.transcode) {
      transcode_audio_packet(track, track.packet.get());
    } else {
      copy_audio_packet(track);
    }
    av_packet_unref(track.packet.get());
    track.packet_pending = false;
  }
  if (track.input_ended && track.transcode && track.decoder) {
    transcode_audio_packet(track, nullptr);  // flush decoder, resampler and encoder
    track.decoder.reset();
  }
}

bool Writer::State::read_audio_packet(AudioTrack& track) {
  while (true) {
    const int result = av_read_frame(track.input.get(), track.packet.get());
    if (result < 0) {
      if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
      track.input_ended = true;  // the end, or a read error that ends the input as in ffmpeg
      return false;
    }
    if (track.packet->stream_index == track.input_stream->index) {
      track.packet_pending = true;
      return true;
    }
    av_packet_unref(track.packet.get());
  }
}

void Writer::State::copy_audio_packet(AudioTrack& track) {
  AVPacket& packet = *track.packet;
  if (packet.dts == AV_NOPTS_VALUE) packet.dts = packet.pts;
  if (packet.dts == AV_NOPTS_VALUE) packet.dts = track.next_input_dts;
  if (packet.dts == AV_NOPTS_VALUE) {
    ++track.damaged_packets;  // no time at all before any timed packet: cannot be placed
    return;
  }
  if (packet.pts == AV_NOPTS_VALUE) packet.pts = packet.dts;
  track.next_input_dts = packet.duration > 0 ? packet.dts + packet.duration : AV_NOPTS_VALUE;

  packet.pts -= track.origin;
  packet.dts -= track.origin;
  packet.stream_index = track.output_stream->index;
  packet.pos = -1;
  av_packet_rescale_ts(&packet, track.input_stream->time_base, track.output_stream->time_base);
  if (track.last_dts != AV_NOPTS_VALUE && packet.dts <= track.last_dts) {
    ++track.damaged_packets;  // out of order or duplicate: MP4 cannot hold it
    return;
  }
  track.last_dts = packet.dts;
  // The muxer parses copied packets (ADTS headers of AAC from MPEG-TS): a damaged one is skipped.
  const int result = av_interleaved_write_frame(output.get(), &packet);
  if (result == AVERROR_INVALIDDATA) {
    ++track.damaged_packets;
  } else if (result < 0) {
    fail("cannot write to " + spec.path, result);
  }
}

void Writer::State::transcode_audio_packet(AudioTrack& track, const AVPacket* packet) {
  int result = avcodec_send_packet(track.decoder.get(), packet);
  if (result < 0 && packet != nullptr) {
    if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
    ++track.damaged_packets;
    return;
  }
  while (true) {
    result = avcodec_receive_frame(track.decoder.get(), track.decoded.get());
    if (result == AVERROR(EAGAIN) || result == AVERROR_EOF) break;
    if (result < 0) {
      if (result == AVERROR(ENOMEM)) throw std::bad_alloc();
      ++track.damaged_packets;
      continue;
    }
    resample_audio_frame(track, track.decoded.get());
    av_frame_unref(track.decoded.get());
  }
  if (packet == nullptr) {
    if (track.resampler) resample_audio_frame(track, nullptr);
    encode_audio(track, true);
  }
}

// Converts a decoded frame (nullptr: what the resampler still holds) into the FIFO and encodes
// every full AAC frame. The first frame fixes the timeline; from there time advances by samples.
void Writer::State::resample_audio_frame(AudioTrack& track, const AVFrame* frame) {
  AVCodecContext& encoder = *track.encoder;
  if (frame != nullptr) {
    if (frame->nb_samples <= 0) return;
    if (track.next_pts == AV_NOPTS_VALUE) {
      const int64_t timestamp = frame->best_effort_timestamp != AV_NOPTS_VALUE
                                    ? frame->best_effort_timestamp
                                    : track.origin;
      track.next_pts =
          av_rescale_q(timestamp - track.origin, track.input_stream->time_base, encoder.time_base);
    }
    const bool same_input =
        track.resampler && frame->format == track.resampler_input_format &&
        frame->sample_rate == track.resampler_input_rate &&
        av_channel_layout_compare(&frame->ch_layout, &track.resampler_input_layout.get()) == 0;
    if (!same_input) {
      if (frame->ch_layout.nb_channels <= 0 || frame->ch_layout.nb_channels > kMaxAudioChannels ||
          frame->sample_rate <= 0 || frame->sample_rate > kMaxAudioSampleRate) {
        ++track.damaged_packets;
        return;
      }
      track.resampler_input_layout.assign(frame->ch_layout);
      track.resampler_input_format = frame->format;
      track.resampler_input_rate = frame->sample_rate;
      SwrContext* resampler = nullptr;
      int result = swr_alloc_set_opts2(&resampler, &encoder.ch_layout, encoder.sample_fmt,
                                       encoder.sample_rate, track.resampler_input_layout.pointer(),
                                       static_cast<AVSampleFormat>(frame->format),
                                       frame->sample_rate, 0, nullptr);
      track.resampler.reset(resampler);
      if (result >= 0) result = swr_init(resampler);
      if (result < 0) fail("cannot convert the audio", result);
    }
  }

  const int input_samples = frame != nullptr ? frame->nb_samples : 0;
  const int capacity = swr_get_out_samples(track.resampler.get(), input_samples);
  if (capacity < 0) fail("cannot convert the audio", capacity);
  if (capacity == 0) return;
  AVFrame& resampled = *track.resampled;
  av_frame_unref(&resampled);
  resampled.format = encoder.sample_fmt;
  resampled.sample_rate = encoder.sample_rate;
  resampled.nb_samples = capacity;
  int result = av_channel_layout_copy(&resampled.ch_layout, &encoder.ch_layout);
  if (result >= 0) result = av_frame_get_buffer(&resampled, 0);
  if (result < 0) throw std::bad_alloc();
  const int converted =
      swr_convert(track.resampler.get(), resampled.extended_data, capacity,
                  frame != nullptr ? const_cast<const uint8_t**>(frame->extended_data) : nullptr,
                  input_samples);
  if (converted < 0) fail("cannot convert the audio", converted);
  if (converted > 0 &&
      av_audio_fifo_write(track.fifo.get(), reinterpret_cast<void**>(resampled.extended_data),
                          converted) < converted) {
    throw std::bad_alloc();
  }
  av_frame_unref(&resampled);
  encode_audio(track, false);
}

// Sends FIFO samples to the encoder in frames of its frame size; a shorter last frame when final.
void Writer::State::encode_audio(AudioTrack& track, bool final) {
  AVCodecContext& encoder = *track.encoder;
  const int frame_size = encoder.frame_size > 0 ? encoder.frame_size : 1024;
  while (av_audio_fifo_size(track.fifo.get()) >= frame_size ||
         (final && av_audio_fifo_size(track.fifo.get()) > 0)) {
    const int samples = std::min(frame_size, av_audio_fifo_size(track.fifo.get()));
    AVFrame& input = *track.encoder_input;
    av_frame_unref(&input);
    input.format = encoder.sample_fmt;
    input.sample_rate = encoder.sample_rate;
    input.nb_samples = samples;
    int result = av_channel_layout_copy(&input.ch_layout, &encoder.ch_layout);
    if (result >= 0) result = av_frame_get_buffer(&input, 0);
    if (result < 0) throw std::bad_alloc();
    if (av_audio_fifo_read(track.fifo.get(), reinterpret_cast<void**>(input.extended_data),
                           samples) < samples) {
      throw MediaError("the audio buffer lost samples");
    }
    input.pts = track.next_pts;
    track.next_pts += samples;
    result = avcodec_send_frame(&encoder, &input);
    av_frame_unref(&input);
    if (result < 0) fail("the audio encoder refused a frame", result);
    drain_audio_encoder(track);
  }
  if (final) {
    const int result = avcodec_send_frame(&encoder, nullptr);
    if (result < 0 && result != AVERROR_EOF) fail("cannot flush the audio encoder", result);
    drain_audio_encoder(track);
  }
}

void Writer::State::drain_audio_encoder(AudioTrack& track) {
  while (true) {
    AVPacket& packet = *track.encoded;
    const int result = avcodec_receive_packet(track.encoder.get(), &packet);
    if (result == AVERROR(EAGAIN) || result == AVERROR_EOF) return;
    if (result < 0) fail("the audio encoder failed", result);
    packet.stream_index = track.output_stream->index;
    av_packet_rescale_ts(&packet, track.encoder->time_base, track.output_stream->time_base);
    mux(packet);
  }
}

}  // namespace framepipe::media
