// Writes a job's result in its output format (protocol/formats.hpp): encodes yuv420p frames with
// the format's video encoder (libx264 for MP4, or VP9 for WebM...) and brings the audio of the
// source file along: copied when the format holds its codec as it is (MP4: AAC, MP3, Opus, FLAC),
// encoded with the format's audio encoder otherwise. Audio packets are interleaved with video as
// the video advances, so memory stays bounded and the file plays while streaming ("faststart"
// moves an MP4's index to the front when the file is finished). An audio format (MP3, FLAC...)
// writes only the sound track: the frames still come, in order, and only pace the audio.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framepipe/media/av.hpp"
#include "framepipe/media/encoder.hpp"
#include "framepipe/protocol/color.hpp"
#include "framepipe/protocol/formats.hpp"

namespace framepipe::media {

struct OutputSpec {
  std::string path;  // the file to write (a temporary name; the caller renames it)
  std::string format{protocol::kDefaultFormat};  // an OutputFormat's name
  int width = 0;                                 // even
  int height = 0;                                // even
  AVRational time_base{1, 25};                   // of the frames' pts (the source video stream's)
  AVRational frame_rate{25, 1};  // average rate, a hint for the encoder's rate control
  protocol::ColorInfo color;
  AVRational sample_aspect{0, 1};  // pixel shape of the frames; {0,1}: unknown (not written)
  std::string audio_source;        // file to take the first audio stream from; "" for none
  EncoderSettings encoder;
  // Segments: the video comes already encoded by VideoEncoders of this spec elsewhere (workers),
  // through write_segment(), with these parameter sets (none for VP9); false: frames come
  // through write().
  bool encoded_video = false;
  std::vector<uint8_t> encoded_video_extradata;
  // A container change: the source's video stream goes in as it is, its packets through
  // write_copied() with their own timestamps, and the audio keeps the source's timeline too. Read
  // by the constructor only (codec parameters, time base, side data); width, height, time_base and
  // the encoder settings are then unused. Null: frames or segments.
  const AVStream* copied_video = nullptr;
};

class Writer {
 public:
  // Opens encoder and muxer (and the audio source). Throws MediaError, also for an unknown format
  // and for an audio format whose source has no audio it can use.
  Writer(const OutputSpec& spec, const Limits& limits);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Encodes one frame: format AV_PIX_FMT_YUV420P, width/height of the spec, pts in the spec's
  // time_base. Frames must come in presentation order; a pts not above the previous one is moved
  // just after it (by at most 0.1 ms, however coarse the time base), so that no frame is ever
  // dropped. The frame may be refcounted (zero-copy). Throws MediaError.
  void write(AVFrame* frame);

  // Muxes the next segment's packets, as a VideoEncoder of this spec gave them (decode order,
  // timestamps in encoder_time_base(time_base)). Segments come in order, each shown after the one
  // before. Decode timestamps are joined as one continuous encode has them: after the first
  // segment's encoder delay, a packet's dts is the pts of the frame that many places before it in
  // presentation order, so they rise strictly across the joins and never pass a pts. Throws
  // MediaError (segments that cannot be joined, write errors).
  void write_segment(std::vector<PacketPtr>& packets);

  // Muxes the next packet of a copied video stream (spec.copied_video), as demuxed: decode order,
  // timestamps in that stream's time base, kept as they are (rescaled only to the container's
  // time base). Throws MediaError.
  void write_copied(AVPacket& packet);

  // An audio format with no frames to pace it: moves the sound track into the output up to
  // `seconds` after its start. Returns false once all of it is in (finish() writes the rest).
  // Throws MediaError.
  bool write_audio_until(double seconds);

  // An audio format encodes no picture: the frame is checked, counted and moves the audio along.

  // Flushes the encoder, writes the remaining audio and the trailer. Throws MediaError.
  void finish();

  long long frames_written() const { return frames_written_; }
  // What happens to the audio: "none", "copy aac", "aac from vorbis", "mp3 from aac"...
  const std::string& audio_mode() const { return audio_mode_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  long long frames_written_ = 0;
  std::string audio_mode_ = "none";
};

}  // namespace framepipe::media
