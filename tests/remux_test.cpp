// media::remux: a container change copies the video packet for packet (data and timestamps, as
// ffmpeg's own `-c copy` does) and copies or encodes the audio, checked with ffmpeg's framemd5 of
// files made by the ffmpeg CLI at test time.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "command_output.hpp"
#include "framepipe/media/remux.hpp"
#include "framepipe/protocol/formats.hpp"
#include "temporary_directory.hpp"

namespace {

namespace fs = std::filesystem;
using framepipe::media::Limits;
using framepipe::media::MediaError;
using framepipe::media::remux;
using framepipe::media::video_copy_refusal;
using framepipe::protocol::find_output_format;
using framepipe::testing::command_output;

std::string make(const fs::path& path, const std::string& arguments) {
  command_output("ffmpeg -nostdin -v error -y " + arguments + " '" + path.string() + "'");
  return path.string();
}

// 2 s of 640x360 H.264 with B-frames at 25 fps, with a sine in `audio_codec`.
std::string h264_with(const fs::path& path, const std::string& audio_codec) {
  return make(path,
              "-f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 -t 2 "
              "-c:v libx264 -preset veryfast -bf 2 -c:a " +
                  audio_codec + " -shortest");
}

struct Packet {
  std::string line;  // dts, pts, duration, size and hash, as framemd5 writes them
  std::string size_and_hash;
};
// (framemd5's side data is left out: MP4 tells a decoder to skip AAC's priming samples in a packet
// side data that Matroska carries in its own way.)

// The packets of one stream ("v" or "a") as ffmpeg demuxes them, with no decoding.
std::vector<Packet> packets(const std::string& path, const std::string& stream) {
  std::istringstream lines(command_output("ffmpeg -nostdin -v error -i '" + path +
                                          "' -map 0:" + stream + " -c copy -f framemd5 -"));
  std::vector<Packet> result;
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    // "0, -1024, 0, 512, 12345, 0123abcd..." and side data, if any ("S=1, 10, 4567ef...")
    std::vector<std::string> fields;
    std::istringstream split(line);
    for (std::string field; std::getline(split, field, ',');) {
      fields.push_back(field.substr(field.find_first_not_of(' ')));
    }
    REQUIRE(fields.size() >= 6);
    Packet packet;
    packet.line = fields[1] + "," + fields[2] + "," + fields[3] + "," + fields[4] + "," + fields[5];
    packet.size_and_hash = fields[4] + "," + fields[5];
    result.push_back(std::move(packet));
  }
  return result;
}

std::string codec_of(const std::string& path, const std::string& stream) {
  std::string name = command_output("ffprobe -v error -select_streams " + stream +
                                    " -show_entries stream=codec_name -of csv=p=0 '" + path + "'");
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  return name;
}

void check_same_data(const std::vector<Packet>& a, const std::vector<Packet>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("packet " << i);
    CHECK(a[i].size_and_hash == b[i].size_and_hash);
  }
}

void check_same_lines(const std::vector<Packet>& a, const std::vector<Packet>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("packet " << i);
    CHECK(a[i].line == b[i].line);
  }
}

}  // namespace

TEST_CASE("video copy: which formats hold which codecs as they are", "[remux][formats]") {
  constexpr std::string_view mp4 = "mov,mp4,m4a,3gp,3g2,mj2";
  CHECK_FALSE(video_copy_refusal(*find_output_format("mp4"), "h264", "matroska,webm"));
  CHECK_FALSE(video_copy_refusal(*find_output_format("mkv"), "hevc", mp4));
  CHECK_FALSE(video_copy_refusal(*find_output_format("mov"), "h264", "mpegts"));
  CHECK_FALSE(video_copy_refusal(*find_output_format("webm"), "vp9", "matroska,webm"));
  CHECK(video_copy_refusal(*find_output_format("webm"), "h264", mp4).value_or("").find("h264") !=
        std::string::npos);
  CHECK(video_copy_refusal(*find_output_format("mov"), "vp9", mp4));
  CHECK(video_copy_refusal(*find_output_format("avi"), "h264", mp4));  // no presentation times
  CHECK(video_copy_refusal(*find_output_format("mp3"), "h264", mp4));
  // Sources without presentation times: AVI, raw streams.
  CHECK(video_copy_refusal(*find_output_format("mp4"), "h264", "avi"));
  CHECK(video_copy_refusal(*find_output_format("mkv"), "h264", "h264")
            .value_or("")
            .find("no presentation times") != std::string::npos);
  CHECK(video_copy_refusal(*find_output_format("mkv"), "hevc", "hevc"));
}

TEST_CASE("remux H.264 + AAC from MP4 into MKV and MOV: every packet copied", "[remux][media]") {
  framepipe::testing::TemporaryDirectory directory;
  const std::string input = h264_with(directory.path() / "in.mp4", "aac");
  const auto video = packets(input, "v");
  const auto audio = packets(input, "a");
  REQUIRE(video.size() == 50);

  SECTION("mkv: packets identical, timestamps as ffmpeg's own -c copy gives them") {
    const std::string output = (directory.path() / "out.mkv").string();
    const auto outcome = remux(input, output, "mkv", Limits{});
    CHECK(outcome.video_packets == 50);
    CHECK(outcome.audio_mode == "copy aac");
    CHECK_FALSE(outcome.audio_encoded);
    const std::string reference =
        make(directory.path() / "reference.mkv", "-i '" + input + "' -map 0 -c copy");
    check_same_data(packets(output, "v"), video);
    check_same_lines(packets(output, "v"), packets(reference, "v"));
    check_same_data(packets(output, "a"), audio);
    check_same_lines(packets(output, "a"), packets(reference, "a"));
  }
  SECTION("mov: packets and timestamps identical to the input's, B-frame dts included") {
    const std::string output = (directory.path() / "out.mov").string();
    const auto outcome = remux(input, output, "mov", Limits{});
    CHECK(outcome.video_packets == 50);
    CHECK(outcome.audio_mode == "copy aac");
    check_same_lines(packets(output, "v"), video);
    check_same_lines(packets(output, "a"), audio);
    CHECK(command_output("ffprobe -v error -show_entries format_tags=major_brand -of csv=p=0 '" +
                         output + "'")
              .starts_with("qt"));
  }
}

TEST_CASE("remux H.264 + AC-3 into MP4: the video copied, the audio encoded to AAC",
          "[remux][media]") {
  framepipe::testing::TemporaryDirectory directory;
  const std::string input = h264_with(directory.path() / "in.mkv", "ac3");
  const std::string output = (directory.path() / "out.mp4").string();
  const auto outcome = remux(input, output, "mp4", Limits{});
  CHECK(outcome.video_packets == 50);
  CHECK(outcome.audio_mode == "aac from ac3");
  CHECK(outcome.audio_encoded);
  check_same_data(packets(output, "v"), packets(input, "v"));
  CHECK(codec_of(output, "a") == "aac");
  CHECK(codec_of(output, "v") == "h264");
}

TEST_CASE("remux refuses a video the format cannot hold, and stops when told", "[remux][media]") {
  framepipe::testing::TemporaryDirectory directory;
  const std::string input = h264_with(directory.path() / "in.mp4", "aac");
  const std::string output = (directory.path() / "out.webm").string();
  CHECK_THROWS_AS(remux(input, output, "webm", Limits{}), MediaError);
  CHECK_FALSE(fs::exists(output));

  const std::string stopped = (directory.path() / "stopped.mkv").string();
  CHECK_THROWS_WITH(
      remux(input, stopped, "mkv", Limits{}, [](int64_t packets) { return packets < 10; }),
      Catch::Contains("stopped"));
  CHECK_FALSE(fs::exists(stopped));
}

namespace {

// The samples ffmpeg decodes from `path`, as signed 16-bit little-endian.
std::string decoded_samples(const std::string& path) {
  return command_output("ffmpeg -nostdin -v error -i '" + path + "' -map 0:a -f s16le -");
}

}  // namespace

TEST_CASE("audio files: probe_audio_file tells them from videos", "[remux][media]") {
  framepipe::testing::TemporaryDirectory directory;
  const std::string mp3 =
      make(directory.path() / "in.mp3", "-f lavfi -i sine=frequency=440 -t 1 -c:a libmp3lame");
  const auto info = framepipe::media::probe_audio_file(mp3, Limits{});
  REQUIRE(info);
  CHECK(info->codec == "mp3");
  CHECK(info->duration_seconds == Approx(1.0).margin(0.1));
  const std::string video = h264_with(directory.path() / "in.mp4", "aac");
  CHECK_FALSE(framepipe::media::probe_audio_file(video, Limits{}));
}

TEST_CASE("lossless outputs are sample-exact against ffmpeg's own decoding of the input",
          "[remux][media]") {
  framepipe::testing::TemporaryDirectory directory;
  SECTION("FLAC to WAV") {
    const std::string input = make(directory.path() / "in.flac",
                                   "-f lavfi -i sine=frequency=440:sample_rate=44100 -t 3 -ac 2 "
                                   "-c:a flac");
    const std::string output = (directory.path() / "out.wav").string();
    const auto outcome = remux(input, output, "wav", Limits{});
    CHECK(outcome.audio_mode == "pcm_s16le from flac");
    const std::string expected = decoded_samples(input);
    CHECK(expected.size() == 3 * 44100 * 2 * 2);
    CHECK(decoded_samples(output) == expected);
  }
  SECTION("MP3 to FLAC: no priming samples left in, nothing cut") {
    const std::string input = make(directory.path() / "in.mp3",
                                   "-f lavfi -i sine=frequency=440:sample_rate=44100 -t 3 "
                                   "-c:a libmp3lame -b:a 128k");
    const std::string output = (directory.path() / "out.flac").string();
    const auto outcome = remux(input, output, "flac", Limits{});
    CHECK(outcome.audio_mode == "flac from mp3");
    const std::string expected = decoded_samples(input);
    CHECK(expected.size() == 3 * 44100 * 2);  // ffmpeg drops the encoder's delay and padding
    CHECK(decoded_samples(output) == expected);
  }
  SECTION("MP3 to MP3: copied packet for packet") {
    const std::string input =
        make(directory.path() / "in.mp3", "-f lavfi -i sine=frequency=440 -t 2 -c:a libmp3lame");
    const std::string output = (directory.path() / "out.mp3").string();
    const auto outcome = remux(input, output, "mp3", Limits{});
    CHECK(outcome.audio_mode == "copy mp3");
    check_same_data(packets(output, "a"), packets(input, "a"));
  }
}
