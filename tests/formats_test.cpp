// Output formats: the table (protocol/formats.hpp), the up-front refusal rules, and the libav side
// (media/formats.hpp): every muxer and encoder the table names exists in this FFmpeg, and each
// container takes the codecs the table says it holds.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <string_view>

#include "framepipe/media/formats.hpp"
#include "framepipe/protocol/formats.hpp"

extern "C" {
#include <libavformat/avformat.h>
}

namespace {

using framepipe::protocol::find_output_format;
using framepipe::protocol::format_choices;
using framepipe::protocol::format_refusal;
using framepipe::protocol::MediaKind;
using framepipe::protocol::output_formats;
using framepipe::protocol::OutputFormat;

bool contains(std::span<const std::string_view> list, std::string_view value) {
  for (std::string_view item : list) {
    if (item == value) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("the format table: ten formats, five video then five audio", "[formats]") {
  std::set<std::string_view> names;
  std::set<std::string_view> extensions;
  int video = 0;
  int audio = 0;
  bool audio_seen = false;
  for (const OutputFormat& format : output_formats()) {
    names.insert(format.name);
    extensions.insert(format.extension);
    CHECK(find_output_format(format.name) == &format);
    CHECK(!format.muxer.empty());
    CHECK(!format.audio_encoder.empty());
    CHECK(!format.audio_codecs.empty());
    if (format.kind == MediaKind::video) {
      CHECK_FALSE(audio_seen);
      ++video;
      CHECK(!format.video_encoder.empty());
      CHECK(!format.video_codecs.empty());
      CHECK(format.mime_type.starts_with("video/"));
    } else {
      audio_seen = true;
      ++audio;
      CHECK(format.video_encoder.empty());
      CHECK(format.video_codecs.empty());
      CHECK_FALSE(format.takes_job_quality);
      CHECK(format.mime_type.starts_with("audio/"));
    }
  }
  CHECK(video == 5);
  CHECK(audio == 5);
  CHECK(names == std::set<std::string_view>{"mp4", "mkv", "webm", "mov", "avi", "mp3", "flac",
                                            "wav", "aac", "ogg"});
  CHECK(extensions == names);  // each result's extension is its format's name
  REQUIRE(find_output_format(framepipe::protocol::kDefaultFormat) != nullptr);
  CHECK(find_output_format(framepipe::protocol::kDefaultFormat)->name == "mp4");
}

TEST_CASE("which audio codecs a format holds as they are", "[formats]") {
  using framepipe::protocol::holds_audio;
  CHECK(holds_audio(*find_output_format("mp4"), "aac"));
  CHECK_FALSE(holds_audio(*find_output_format("mp4"), "ac3"));
  CHECK(holds_audio(*find_output_format("mkv"), "ac3"));
  CHECK(holds_audio(*find_output_format("webm"), "opus"));
  CHECK_FALSE(holds_audio(*find_output_format("webm"), "aac"));
  CHECK_FALSE(holds_audio(*find_output_format("wav"), ""));
}

TEST_CASE("x264's presets: one list for the API, the bench and the workers", "[formats]") {
  using framepipe::protocol::is_x264_preset;
  using framepipe::protocol::x264_presets;
  REQUIRE(x264_presets().size() == 9);
  CHECK(x264_presets().front() == "ultrafast");
  CHECK(x264_presets().back() == "veryslow");
  for (const std::string_view preset : x264_presets()) CHECK(is_x264_preset(preset));
  CHECK_FALSE(is_x264_preset("placebo"));
  CHECK_FALSE(is_x264_preset("VeryFast"));
  CHECK_FALSE(is_x264_preset(""));
  CHECK(framepipe::protocol::x264_preset_choices().starts_with("ultrafast, superfast, veryfast"));
}

TEST_CASE("a file name's extension names its format, case ignored", "[formats]") {
  using framepipe::protocol::format_for_file_name;
  const auto name_of = [](std::string_view file_name) -> std::string_view {
    const OutputFormat* format = format_for_file_name(file_name);
    return format != nullptr ? format->name : "";
  };
  CHECK(name_of("out.mp4") == "mp4");
  CHECK(name_of("/tmp/x.y/Holiday.WebM") == "webm");
  CHECK(name_of("song.final.FLAC") == "flac");
  CHECK(name_of("a.ogg") == "ogg");
  CHECK(name_of("a.mov") == "mov");
  CHECK(name_of("noextension").empty());
  CHECK(name_of("dir.mkv/noextension").empty());  // a dot in a folder's name is not an extension
  CHECK(name_of("trailing.").empty());
  CHECK(name_of("clip.m4a").empty());  // no format writes .m4a
  CHECK(name_of("clip.mp4.part").empty());
  CHECK(name_of("").empty());
}

TEST_CASE("each format's MIME type, muxer and encoders", "[formats]") {
  struct Expected {
    std::string_view name, mime, muxer, video, audio;
  };
  const Expected expected[] = {
      {"mp4", "video/mp4", "mp4", "libx264", "aac"},
      {"mkv", "video/x-matroska", "matroska", "libx264", "aac"},
      {"webm", "video/webm", "webm", "libvpx-vp9", "libopus"},
      {"mov", "video/quicktime", "mov", "libx264", "aac"},
      {"avi", "video/x-msvideo", "avi", "libx264", "libmp3lame"},
      {"mp3", "audio/mpeg", "mp3", "", "libmp3lame"},
      {"flac", "audio/flac", "flac", "", "flac"},
      {"wav", "audio/wav", "wav", "", "pcm_s16le"},
      {"aac", "audio/aac", "adts", "", "aac"},
      {"ogg", "audio/ogg", "ogg", "", "libvorbis"},
  };
  for (const Expected& want : expected) {
    INFO(want.name);
    const OutputFormat* format = find_output_format(want.name);
    REQUIRE(format != nullptr);
    CHECK(format->mime_type == want.mime);
    CHECK(format->muxer == want.muxer);
    CHECK(format->video_encoder == want.video);
    CHECK(format->audio_encoder == want.audio);
  }
  // The rules the measured facts impose: WebM holds no H.264 and no AAC; AVI no Opus; only the
  // AVI container lacks timestamps of its own.
  const OutputFormat& webm = *find_output_format("webm");
  CHECK_FALSE(contains(webm.video_codecs, "h264"));
  CHECK_FALSE(contains(webm.audio_codecs, "aac"));
  CHECK_FALSE(contains(find_output_format("avi")->audio_codecs, "opus"));
  for (const OutputFormat& format : output_formats()) {
    CHECK(format.constant_frame_rate == (format.name == "avi"));
  }
  // AVI has no presentation times: its H.264 has no B-frames to reorder.
  const OutputFormat& avi = *find_output_format("avi");
  REQUIRE(avi.video_options.size() == 1);
  CHECK(avi.video_options[0] == framepipe::protocol::EncoderOption{"bf", "0"});
  // The x264 preset and crf of a job apply to the libx264 formats only.
  for (const OutputFormat& format : output_formats()) {
    CHECK(format.takes_job_quality == (format.video_encoder == "libx264"));
  }
}

TEST_CASE("names are exact: no case folding, no extension dots, no empty name", "[formats]") {
  CHECK(find_output_format("MP4") == nullptr);
  CHECK(find_output_format(".mp4") == nullptr);
  CHECK(find_output_format("") == nullptr);
  CHECK(find_output_format("matroska") == nullptr);
  CHECK(format_choices() ==
        "video mp4 (default), mkv, webm, mov, avi; audio mp3, flac, wav, aac, ogg");
}

TEST_CASE("refusals up front: unknown formats name every valid choice", "[formats]") {
  const auto refusal = format_refusal({"mpeg2", true, std::nullopt});
  REQUIRE(refusal);
  CHECK(refusal->find("unknown format \"mpeg2\"") != std::string::npos);
  for (const OutputFormat& format : output_formats()) {
    CHECK(refusal->find(std::string(format.name)) != std::string::npos);
  }
  // A hostile name is shown cut short and printable.
  const auto hostile = format_refusal({std::string(1000, 'x') + "\n\"", true, std::nullopt});
  REQUIRE(hostile);
  CHECK(hostile->find('\n') == std::string::npos);
  CHECK(hostile->size() < 200);
}

TEST_CASE("refusals up front: audio formats take `copy` alone and need an audio track",
          "[formats]") {
  for (const OutputFormat& format : output_formats()) {
    INFO(format.name);
    if (format.kind == MediaKind::video) {
      // Any chain, with or without audio.
      CHECK_FALSE(format_refusal({format.name, false, false}));
      CHECK_FALSE(format_refusal({format.name, true, std::nullopt}));
      continue;
    }
    // At upload (not probed yet) and after the probe found audio: accepted.
    CHECK_FALSE(format_refusal({format.name, true, std::nullopt}));
    CHECK_FALSE(format_refusal({format.name, true, true}));
    // A filter chain: refused whatever the file holds, naming the video formats.
    const auto filtered = format_refusal({format.name, false, std::nullopt});
    REQUIRE(filtered);
    CHECK(filtered->find("audio only") != std::string::npos);
    CHECK(filtered->find("\"copy\"") != std::string::npos);
    CHECK(filtered->find("mp4") != std::string::npos);
    CHECK(filtered->find("webm") != std::string::npos);
    // No audio track: refused once the probe says so.
    const auto silent = format_refusal({format.name, true, false});
    REQUIRE(silent);
    CHECK(silent->find("no audio track") != std::string::npos);
    CHECK(silent->find("mp4") != std::string::npos);
  }
}

TEST_CASE("this FFmpeg has every muxer and encoder, and each container takes its codecs",
          "[formats][media]") {
  for (const OutputFormat& format : output_formats()) {
    INFO(format.name);
    const auto codecs = framepipe::media::resolve_format(format.name);
    REQUIRE(codecs.format == &format);
    REQUIRE(codecs.muxer != nullptr);
    REQUIRE(codecs.audio_encoder != nullptr);
    CHECK((codecs.video_encoder != nullptr) == (format.kind == MediaKind::video));
    // The encoders make codecs the result holds, so encoded audio is never refused by the muxer.
    CHECK(contains(format.audio_codecs, avcodec_get_name(codecs.audio_encoder->id)));
    CHECK(framepipe::media::keeps_audio(format, codecs.audio_encoder->id));
    if (codecs.video_encoder != nullptr) {
      CHECK(contains(format.video_codecs, avcodec_get_name(codecs.video_encoder->id)));
    }
    // libavformat agrees (1: yes; a muxer without a codec list cannot tell, below 0).
    for (std::string_view name : format.audio_codecs) {
      INFO(name);
      const AVCodecDescriptor* descriptor =
          avcodec_descriptor_get_by_name(std::string(name).c_str());
      REQUIRE(descriptor != nullptr);
      CHECK(avformat_query_codec(codecs.muxer, descriptor->id, FF_COMPLIANCE_EXPERIMENTAL) != 0);
    }
    for (std::string_view name : format.video_codecs) {
      INFO(name);
      const AVCodecDescriptor* descriptor =
          avcodec_descriptor_get_by_name(std::string(name).c_str());
      REQUIRE(descriptor != nullptr);
      CHECK(avformat_query_codec(codecs.muxer, descriptor->id, FF_COMPLIANCE_EXPERIMENTAL) != 0);
    }
  }
  CHECK_THROWS_WITH(framepipe::media::resolve_format("mpeg2"),
                    Catch::Contains("unknown output format") && Catch::Contains("webm"));
}
