// Media layer: open_input, Decoder and Writer against files made by the ffmpeg CLI at test time,
// checked with ffprobe.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "command_output.hpp"
#include "framepipe/media/decoder.hpp"
#include "framepipe/media/writer.hpp"
#include "framepipe/protocol/shared_memory.hpp"

extern "C" {
#include <libswscale/swscale.h>
}

namespace {

namespace fs = std::filesystem;
using framepipe::media::Decoder;
using framepipe::media::FramePtr;
using framepipe::media::Limits;
using framepipe::media::MediaError;
using framepipe::media::OutputSpec;
using framepipe::media::Writer;
using framepipe::testing::command_output;

// A directory for one test run, removed at exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "framepipe-media-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

const TempDir& temp_dir() {
  static const TempDir dir;
  return dir;
}

// Makes `name` in the temporary directory with `ffmpeg -v error -y <arguments> <file>`, once.
std::string generated(const std::string& name, const std::string& arguments) {
  const std::string path = temp_dir().file(name);
  if (!fs::exists(path))
    command_output("ffmpeg -nostdin -v error -y " + arguments + " '" + path + "'");
  return path;
}

std::string h264_aac_mp4() {
  return generated("h264_aac.mp4",
                   "-f lavfi -i testsrc2=size=640x360:rate=25 -f lavfi -i sine=frequency=440 "
                   "-t 2 -c:v libx264 -preset veryfast -c:a aac -shortest");
}

std::string vfr_vorbis_mkv() {
  return generated("vfr_vorbis.mkv",
                   "-f lavfi -i \"testsrc2=size=320x240:rate=30,"
                   "select='not(eq(mod(n\\,5)\\,3))*not(eq(mod(n\\,7)\\,2))'\" "
                   "-f lavfi -i sine=frequency=300 -t 2 -fps_mode vfr -c:v libx264 "
                   "-preset veryfast -c:a libvorbis -shortest");
}

// Audio starts 0.4 s before the first picture.
std::string early_audio_ts() {
  return generated("early_audio.ts",
                   "-itsoffset 0.4 -f lavfi -t 2 -i testsrc2=size=320x240:rate=25 "
                   "-f lavfi -t 2.4 -i sine=frequency=500 -c:v libx264 -preset veryfast "
                   "-c:a aac -f mpegts");
}

std::vector<double> probe_times(const std::string& path, const std::string& stream) {
  std::istringstream lines(
      command_output("ffprobe -v error -select_streams " + stream +
                     " -show_entries frame=best_effort_timestamp_time -of csv=p=0 '" + path + "'"));
  std::vector<double> times;
  std::string line;
  while (std::getline(lines, line)) {
    line.erase(std::remove(line.begin(), line.end(), ','), line.end());
    if (!line.empty() && line != "N/A") times.push_back(std::stod(line));
  }
  return times;
}

std::string probe_value(const std::string& path, const std::string& arguments) {
  std::string value =
      command_output("ffprobe -v error " + arguments + " -of csv=p=0 '" + path + "'");
  while (!value.empty() && (value.back() == '\n' || value.back() == ',')) value.pop_back();
  return value;
}

double format_duration(const std::string& path) {
  return std::stod(probe_value(path, "-show_entries format=duration"));
}

// Decodes `input` with Decoder and writes every frame with Writer, audio from the input, the way
// the sink does after the workers (here any frame that is not yuv420p is converted on the spot).
std::string round_trip(const std::string& input, const std::string& output_name,
                       std::string* audio_mode = nullptr, const std::string& format = "mp4") {
  const Limits limits;
  Decoder decoder(input, limits, 2);
  const auto& info = decoder.info();
  OutputSpec spec;
  spec.path = temp_dir().file(output_name);
  spec.width = info.width;
  spec.height = info.height;
  spec.time_base = info.time_base;
  spec.frame_rate = info.frame_rate;
  spec.color = info.color;
  if (info.has_audio) spec.audio_source = input;
  spec.format = format;
  Writer writer(spec, limits);
  if (audio_mode != nullptr) *audio_mode = writer.audio_mode();

  SwsContext* scaler = nullptr;
  FramePtr converted = framepipe::media::make_frame();
  while (FramePtr frame = decoder.next()) {
    AVFrame* to_write = frame.get();
    if (frame->format != AV_PIX_FMT_YUV420P) {
      scaler = sws_getCachedContext(
          scaler, frame->width, frame->height, static_cast<AVPixelFormat>(frame->format),
          spec.width, spec.height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr, nullptr);
      av_frame_unref(converted.get());
      converted->format = AV_PIX_FMT_YUV420P;
      converted->width = spec.width;
      converted->height = spec.height;
      REQUIRE(av_frame_get_buffer(converted.get(), 0) == 0);
      REQUIRE(av_frame_copy_props(converted.get(), frame.get()) == 0);
      sws_scale(scaler, frame->data, frame->linesize, 0, frame->height, converted->data,
                converted->linesize);
      to_write = converted.get();
    }
    writer.write(to_write);
  }
  sws_freeContext(scaler);
  writer.finish();
  CHECK(writer.frames_written() == decoder.frames_decoded());
  return spec.path;
}

// A mid-grey yuv420p frame of its own buffers.
FramePtr grey_frame(int width, int height, int64_t pts) {
  FramePtr frame = framepipe::media::make_frame();
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = width;
  frame->height = height;
  REQUIRE(av_frame_get_buffer(frame.get(), 0) == 0);
  for (int plane = 0; plane < 3; ++plane) {
    const int rows = plane == 0 ? height : height / 2;
    for (int row = 0; row < rows; ++row) {
      std::fill_n(frame->data[plane] + row * frame->linesize[plane], frame->linesize[plane], 128);
    }
  }
  frame->pts = pts;
  return frame;
}

}  // namespace

TEST_CASE("open_input refuses files that are not plain video files", "[media]") {
  const Limits limits;

  SECTION("random bytes named .mp4") {
    const std::string path = temp_dir().file("random.mp4");
    std::mt19937 generator(42);
    std::ofstream out(path, std::ios::binary);
    for (int index = 0; index < 100'000; ++index) out.put(static_cast<char>(generator()));
    out.close();
    CHECK_THROWS_WITH(Decoder(path, limits), Catch::StartsWith("not a video file we can read"));
  }

  SECTION("an HLS playlist named .mp4 that names a local file") {
    const std::string target = early_audio_ts();
    const std::string path = temp_dir().file("playlist.mp4");
    std::ofstream(path) << "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\n"
                        << target << "\n#EXT-X-ENDLIST\n";
    CHECK_THROWS_WITH(framepipe::media::open_input(path, limits),
                      Catch::StartsWith("not a video file we can read"));
  }

  SECTION("a missing file") {
    CHECK_THROWS_WITH(framepipe::media::open_input(temp_dir().file("missing.mp4"), limits),
                      Catch::StartsWith("cannot open the file"));
  }

  SECTION("more streams than allowed") {
    Limits one_stream;
    one_stream.max_streams = 1;
    CHECK_THROWS_WITH(framepipe::media::open_input(h264_aac_mp4(), one_stream),
                      Catch::Contains("2 streams"));
  }

  SECTION("an audio-only file has no video stream") {
    const std::string path = generated("audio.m4a", "-f lavfi -i sine -t 1 -c:a aac");
    CHECK_THROWS_WITH(Decoder(path, limits), Catch::Equals("the file has no video stream"));
  }
}

TEST_CASE("Decoder describes the file and decodes every frame in order", "[media]") {
  const std::string path = h264_aac_mp4();
  Decoder decoder(path, Limits{}, 2);
  const auto& info = decoder.info();
  CHECK(info.width == 640);
  CHECK(info.height == 360);
  CHECK(info.container.find("mp4") != std::string::npos);
  CHECK(info.codec == "h264");
  CHECK(info.pixel_format == "yuv420p");
  CHECK(av_cmp_q(info.frame_rate, AVRational{25, 1}) == 0);
  CHECK(info.frames_estimate == 50);
  CHECK(info.duration_seconds == Approx(2.0).margin(0.05));
  CHECK(info.has_audio);
  CHECK(info.audio_codec == "aac");

  const std::vector<double> expected = probe_times(path, "v:0");
  std::vector<double> times;
  while (FramePtr frame = decoder.next()) {
    CHECK(frame->format == AV_PIX_FMT_YUV420P);
    CHECK(frame->width == 640);
    times.push_back(static_cast<double>(frame->pts) * av_q2d(info.time_base));
  }
  CHECK(decoder.next() == nullptr);  // stays at the end
  CHECK(decoder.damaged_packets() == 0);
  REQUIRE(times.size() == expected.size());
  for (size_t index = 0; index < times.size(); ++index) {
    CHECK(times[index] == Approx(expected[index]).margin(1e-4));
  }
}

TEST_CASE("Decoder refuses inputs beyond the limits before decoding", "[media]") {
  const std::string path = h264_aac_mp4();  // 640x360, 25 fps, 2 s, 50 frames

  Limits small_frames;
  small_frames.max_pixels = 640 * 360 - 1;
  CHECK_THROWS_WITH(Decoder(path, small_frames),
                    Catch::StartsWith("frame size 640x360 exceeds the limit"));

  Limits short_videos;
  short_videos.max_duration_seconds = 1;
  CHECK_THROWS_WITH(Decoder(path, short_videos), Catch::Contains("long; the limit is 0:00:01"));

  Limits few_frames;
  few_frames.max_frames = 10;
  CHECK_THROWS_WITH(Decoder(path, few_frames), Catch::Contains("about 50 frames"));

  Limits slow_rates;
  slow_rates.max_frame_rate = 24;
  CHECK_THROWS_WITH(Decoder(path, slow_rates), Catch::StartsWith("frame rate 25 exceeds"));
}

TEST_CASE("Decoder keeps the formats workers take and converts the others", "[media]") {
  SECTION("qtrle stays rgb24") {
    const std::string path =
        generated("qtrle.mov", "-f lavfi -i testsrc2=size=160x120:rate=25 -t 0.4 -c:v qtrle");
    Decoder decoder(path, Limits{});
    FramePtr frame = decoder.next();
    REQUIRE(frame);
    CHECK(frame->format == AV_PIX_FMT_RGB24);
  }
  SECTION("mjpeg stays yuvj422p, full range") {
    const std::string path =
        generated("mjpeg.avi",
                  "-f lavfi -i testsrc2=size=160x120:rate=25 -t 0.4 -pix_fmt yuvj422p -c:v mjpeg");
    Decoder decoder(path, Limits{});
    CHECK(decoder.info().color.range == AVCOL_RANGE_JPEG);
    FramePtr frame = decoder.next();
    REQUIRE(frame);
    CHECK(frame->format == AV_PIX_FMT_YUVJ422P);
  }
  SECTION("10-bit becomes yuv420p with the same range") {
    const std::string path = generated("ffv1_10bit.mkv",
                                       "-f lavfi -i testsrc2=size=160x120:rate=25 -t 0.4 "
                                       "-pix_fmt yuv422p10le -color_range tv -c:v ffv1");
    Decoder decoder(path, Limits{});
    CHECK(decoder.info().pixel_format == "yuv422p10le");
    int frames = 0;
    while (FramePtr frame = decoder.next()) {
      CHECK(frame->format == AV_PIX_FMT_YUV420P);
      CHECK(frame->width == 160);
      CHECK(frame->color_range == AVCOL_RANGE_MPEG);
      ++frames;
    }
    CHECK(frames == 10);
  }
}

TEST_CASE("Decoder skips damaged packets and goes on", "[media]") {
  const std::string clean = generated("clean.ts",
                                      "-f lavfi -i testsrc2=size=320x240:rate=25 -t 2 "
                                      "-c:v libx264 -preset veryfast -g 10 -f mpegts");
  const std::string damaged = temp_dir().file("damaged.ts");
  {
    std::string bytes(fs::file_size(clean), '\0');
    std::ifstream(clean, std::ios::binary)
        .read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::mt19937 generator(7);
    for (int hole = 0; hole < 20; ++hole) {
      const size_t offset = 10'000 + generator() % (bytes.size() - 11'000);
      for (size_t index = 0; index < 200; ++index) {
        bytes[offset + index] = static_cast<char>(generator());
      }
    }
    std::ofstream(damaged, std::ios::binary) << bytes;
  }
  Decoder decoder(damaged, Limits{});
  long long frames = 0;
  while (decoder.next()) ++frames;
  CHECK(frames > 25);  // most of the 50 pictures survive
  CHECK(frames == decoder.frames_decoded());
}

TEST_CASE("Writer keeps frame count, variable timing and audio", "[media]") {
  const std::string input = vfr_vorbis_mkv();
  std::string audio_mode;
  const std::string output = round_trip(input, "vfr_out.mp4", &audio_mode);
  CHECK(audio_mode == "aac from vorbis");

  const std::vector<double> expected = probe_times(input, "v:0");
  const std::vector<double> actual = probe_times(output, "v:0");
  REQUIRE(actual.size() == expected.size());
  for (size_t index = 0; index < actual.size(); ++index) {
    CHECK(actual[index] - actual[0] == Approx(expected[index] - expected[0]).margin(0.001));
  }
  CHECK(probe_value(output, "-select_streams v:0 -show_entries stream=codec_name") == "h264");
  CHECK(probe_value(output, "-select_streams a:0 -show_entries stream=codec_name") == "aac");
  CHECK(format_duration(output) == Approx(format_duration(input)).margin(0.05));
}

TEST_CASE("Writer copies AAC and keeps audio that starts before the picture in sync", "[media]") {
  const std::string input = early_audio_ts();
  std::string audio_mode;
  const std::string output = round_trip(input, "early_audio_out.mp4", &audio_mode);
  CHECK(audio_mode == "copy aac");

  const double input_offset = probe_times(input, "a:0").at(0) - probe_times(input, "v:0").at(0);
  const double output_offset = probe_times(output, "a:0").at(0) - probe_times(output, "v:0").at(0);
  CHECK(input_offset == Approx(-0.4).margin(0.05));
  CHECK(output_offset == Approx(input_offset).margin(0.005));
  CHECK(probe_times(output, "v:0").size() == probe_times(input, "v:0").size());
  CHECK(format_duration(output) == Approx(format_duration(input)).margin(0.05));
}

TEST_CASE("Writer writes WebM (VP9 + Opus) and AVI (H.264 + MP3) with every frame",
          "[media][formats]") {
  const std::string input = vfr_vorbis_mkv();
  std::string audio_mode;
  const std::string webm = round_trip(input, "vfr_out.webm", &audio_mode, "webm");
  CHECK(audio_mode == "copy vorbis");  // WebM holds Vorbis as it is
  CHECK(probe_value(webm, "-show_entries format=format_name") == "\"matroska,webm\"");
  CHECK(probe_value(webm, "-select_streams v:0 -show_entries stream=codec_name") == "vp9");
  const std::vector<double> expected = probe_times(input, "v:0");
  const std::vector<double> actual = probe_times(webm, "v:0");
  REQUIRE(actual.size() == expected.size());
  for (size_t index = 0; index < actual.size(); ++index) {
    CHECK(actual[index] - actual[0] == Approx(expected[index] - expected[0]).margin(0.002));
  }

  const std::string avi = round_trip(h264_aac_mp4(), "out.avi", &audio_mode, "avi");
  CHECK(audio_mode == "mp3 from aac");
  CHECK(probe_value(avi, "-show_entries format=format_name") == "avi");
  CHECK(probe_value(avi, "-select_streams v:0 -show_entries stream=codec_name") == "h264");
  CHECK(probe_value(avi, "-select_streams a:0 -show_entries stream=codec_name") == "mp3");
  // Every frame, each with a time (AVI's H.264 has no B-frames to reorder: with them, FFmpeg
  // reads the last two frames of an AVI without a time). FFmpeg 5.1 reads any AVI's second frame
  // one frame late (its own `ffmpeg -i x.mp4 x.avi` too), so times are checked from there on.
  const std::vector<double> source_times = probe_times(h264_aac_mp4(), "v:0");
  const std::vector<double> avi_times = probe_times(avi, "v:0");
  REQUIRE(avi_times.size() == source_times.size());
  for (size_t index = 2; index < avi_times.size(); ++index) {
    CHECK(avi_times[index] - avi_times[1] ==
          Approx(source_times[index] - source_times[1]).margin(0.001));
  }
}

TEST_CASE("Writer writes the sound track alone for audio formats, from time zero",
          "[media][formats]") {
  std::string audio_mode;
  // Audio 0.4 s before the picture: the whole track, starting at zero.
  const std::string input = early_audio_ts();
  const std::string flac = round_trip(input, "early_audio.flac", &audio_mode, "flac");
  CHECK(audio_mode == "flac from aac");
  CHECK(probe_value(flac, "-show_entries stream=codec_type,codec_name") == "flac,audio");
  CHECK(format_duration(flac) == Approx(2.4).margin(0.05));
  const std::string wav = round_trip(vfr_vorbis_mkv(), "vorbis.wav", &audio_mode, "wav");
  CHECK(audio_mode == "pcm_s16le from vorbis");
  CHECK(probe_value(wav, "-show_entries stream=codec_type,codec_name") == "pcm_s16le,audio");
  CHECK(format_duration(wav) == Approx(2.0).margin(0.05));
  // Without audio an audio format cannot be written (the upload is refused before this).
  OutputSpec spec;
  spec.path = temp_dir().file("none.mp3");
  spec.width = 64;
  spec.height = 64;
  spec.format = "mp3";
  CHECK_THROWS_WITH(Writer(spec, Limits{}), Catch::Contains("audio only"));
  spec.format = "mpeg2";
  CHECK_THROWS_WITH(Writer(spec, Limits{}), Catch::Contains("unknown output format"));
}

TEST_CASE("Writer moves timestamps that do not increase instead of dropping frames", "[media]") {
  OutputSpec spec;
  spec.path = temp_dir().file("non_increasing.mp4");
  spec.width = 64;
  spec.height = 48;
  spec.time_base = AVRational{1, 25};
  spec.frame_rate = AVRational{25, 1};
  Writer writer(spec, Limits{});
  for (const int64_t pts : {10, 11, 11, 13, 12, 14}) {
    FramePtr frame = grey_frame(64, 48, pts);
    frame->pict_type = AV_PICTURE_TYPE_I;
    writer.write(frame.get());
    CHECK(frame->pts == pts);  // the caller's frame is left as it was
    CHECK(frame->pict_type == AV_PICTURE_TYPE_I);
  }
  writer.finish();
  CHECK(writer.frames_written() == 6);
  CHECK(writer.audio_mode() == "none");

  const std::vector<double> times = probe_times(spec.path, "v:0");
  REQUIRE(times.size() == 6);
  for (size_t index = 1; index < times.size(); ++index) CHECK(times[index] > times[index - 1]);
  CHECK(times[1] - times[0] == Approx(0.04));
  CHECK(times[3] - times[0] == Approx(0.12));  // 13 is kept
}

TEST_CASE("Writer moves a repeated timestamp by a fraction of a millisecond, not by a tick",
          "[media]") {
  // In a 1/fps time base one tick is a whole frame: moving the repeat by one of those put the
  // last frame 33 ms late, where ffmpeg -fps_mode passthrough keeps it at its own time.
  OutputSpec spec;
  spec.path = temp_dir().file("repeated_coarse.mp4");
  spec.width = 64;
  spec.height = 48;
  spec.time_base = AVRational{1, 30};
  spec.frame_rate = AVRational{30, 1};
  Writer writer(spec, Limits{});
  for (const int64_t pts : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9}) {
    FramePtr frame = grey_frame(64, 48, pts);
    writer.write(frame.get());
  }
  writer.finish();

  const std::vector<double> times = probe_times(spec.path, "v:0");
  REQUIRE(times.size() == 11);
  for (size_t index = 1; index < times.size(); ++index) CHECK(times[index] > times[index - 1]);
  CHECK(times[9] - times[0] == Approx(9.0 / 30).margin(0.0001));
  CHECK(times[10] - times[0] == Approx(9.0 / 30).margin(0.001));
}

TEST_CASE("A damaged clip's repeated timestamp at the end keeps the last frame in place",
          "[media]") {
  // 30 frames/s in MP4 with a timescale of 30 (a 1/30 time base) and B-frames; the last shown
  // frame's container timestamp is damaged to repeat the one before, so the decoder's
  // best_effort_timestamp does not increase at the end.
  const std::string clean = generated("timescale30.mp4",
                                      "-f lavfi -i testsrc2=size=160x120:rate=30 "
                                      "-f lavfi -i sine=frequency=440 -t 2 -c:v libx264 "
                                      "-preset veryfast -bf 2 -c:a aac -shortest "
                                      "-video_track_timescale 30");
  const std::string damaged =
      generated("repeated_end.mp4", "-i '" + clean +
                                        "' -c copy -bsf:v 'setts=pts=if(eq(PTS\\,59)\\,58\\,PTS)' "
                                        "-video_track_timescale 30");
  const std::vector<double> expected = probe_times(damaged, "v:0");
  REQUIRE(expected.size() == 60);
  REQUIRE(expected[59] == expected[58]);  // the damage is there

  const std::string output = round_trip(damaged, "repeated_end_out.mp4");
  const std::vector<double> actual = probe_times(output, "v:0");
  REQUIRE(actual.size() == expected.size());
  for (size_t index = 1; index < actual.size(); ++index) {
    CHECK(actual[index] > actual[index - 1]);
    CHECK(actual[index] - actual[0] == Approx(expected[index] - expected[0]).margin(0.001));
  }
  CHECK(format_duration(output) == Approx(format_duration(damaged)).margin(0.05));
}

TEST_CASE("Writer refuses bad specs and frames, and leaves no unfinished file", "[media]") {
  OutputSpec spec;
  spec.path = temp_dir().file("refused.mp4");
  spec.width = 65;
  spec.height = 48;
  CHECK_THROWS_AS(Writer(spec, Limits{}), MediaError);
  CHECK_FALSE(fs::exists(spec.path));

  spec.width = 64;
  {
    Writer writer(spec, Limits{});
    FramePtr wrong_size = grey_frame(32, 48, 0);
    CHECK_THROWS_AS(writer.write(wrong_size.get()), MediaError);
    FramePtr frame = grey_frame(64, 48, 0);
    writer.write(frame.get());
    CHECK(fs::exists(spec.path));
  }  // destroyed without finish()
  CHECK_FALSE(fs::exists(spec.path));
}

namespace {

// A decoder's shared-memory prefix of this process ("/framepipe-<pid>-9<n>-"), a new one per call
// so that no test sees another's objects.
std::string new_shared_prefix() {
  static int count = 0;
  return framepipe::protocol::shared_memory_prefix() + "9" + std::to_string(count++) + "-";
}

// The objects in /dev/shm whose names start with `prefix`.
std::vector<std::string> shared_objects(const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator("/dev/shm")) {
    const std::string name = "/" + entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  return names;
}

// Width and rows of a yuv420p plane of `frame`.
int plane_width(const AVFrame& frame, int plane) {
  return plane == 0 ? frame.width : (frame.width + 1) / 2;
}
int plane_rows(const AVFrame& frame, int plane) {
  return plane == 0 ? frame.height : (frame.height + 1) / 2;
}

// True when the visible pixels of the yuv420p frames `a` and `b` are the same.
bool same_pixels(const AVFrame& a, const AVFrame& b) {
  if (a.width != b.width || a.height != b.height) return false;
  for (int plane = 0; plane < 3; ++plane) {
    for (int row = 0; row < plane_rows(a, plane); ++row) {
      if (!std::equal(a.data[plane] + row * a.linesize[plane],
                      a.data[plane] + row * a.linesize[plane] + plane_width(a, plane),
                      b.data[plane] + row * b.linesize[plane])) {
        return false;
      }
    }
  }
  return true;
}

// True when the object `location` names, mapped anew, holds exactly `frame`'s visible pixels at
// the location's offsets, with the frame's line sizes.
bool object_holds_frame(const framepipe::media::SharedFrames::Location& location,
                        const AVFrame& frame) {
  const auto memory = framepipe::protocol::SharedMemory::open(location.name);
  for (int plane = 0; plane < 3; ++plane) {
    const int64_t last_row_end = location.offsets[plane] +
                                 int64_t{frame.linesize[plane]} * (plane_rows(frame, plane) - 1) +
                                 plane_width(frame, plane);
    if (location.offsets[plane] < 0 || last_row_end > static_cast<int64_t>(memory.size())) {
      return false;
    }
    for (int row = 0; row < plane_rows(frame, plane); ++row) {
      const uint8_t* in_object =
          memory.data() + location.offsets[plane] + int64_t{row} * frame.linesize[plane];
      const uint8_t* in_frame = frame.data[plane] + row * frame.linesize[plane];
      if (!std::equal(in_frame, in_frame + plane_width(frame, plane), in_object)) return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("Decoder puts yuv420p pictures in shared memory, the same as without",
          "[media][shared_memory]") {
  // 120 rows is not a whole number of macroblocks (cropped), B-frames reorder the output.
  const std::string path = generated("shared_h264.mp4",
                                     "-f lavfi -i testsrc2=size=160x120:rate=25 -t 1 "
                                     "-pix_fmt yuv420p -c:v libx264 -preset veryfast -g 10");
  const int threads = GENERATE(2, 0);
  CAPTURE(threads);

  std::vector<FramePtr> expected;
  {
    Decoder plain(path, Limits{}, threads);
    CHECK(plain.shared_frames() == nullptr);
    while (FramePtr frame = plain.next()) expected.push_back(std::move(frame));
  }
  REQUIRE(expected.size() == 25);

  const std::string prefix = new_shared_prefix();
  REQUIRE(framepipe::protocol::is_shared_job_prefix(prefix));
  REQUIRE(shared_objects(prefix).empty());
  auto decoder = std::make_unique<Decoder>(path, Limits{}, threads, prefix);
  REQUIRE(decoder->shared_frames() != nullptr);
  CHECK(decoder->shared_frames()->prefix() == prefix);

  std::vector<FramePtr> frames;  // all held at once
  std::vector<framepipe::media::SharedFrames::Location> locations;
  while (FramePtr frame = decoder->next()) {
    const std::size_t index = frames.size();
    CAPTURE(index);
    REQUIRE(index < expected.size());
    CHECK(frame->format == AV_PIX_FMT_YUV420P);
    CHECK(frame->width == 160);
    CHECK(frame->height == 120);
    CHECK(frame->pts == expected[index]->pts);
    CHECK(same_pixels(*frame, *expected[index]));

    const auto location = decoder->shared_frames()->locate(*frame);
    REQUIRE(location);
    CHECK(framepipe::protocol::is_shared_frame_name(location->name, prefix));
    CHECK(object_holds_frame(*location, *frame));
    locations.push_back(*location);
    frames.push_back(std::move(frame));
  }
  CHECK(frames.size() == expected.size());
  CHECK(decoder->damaged_packets() == 0);
  CHECK(decoder->shared_frames()->fallbacks() == 0);

  // Frames held at the same time never share an object, and each object is in /dev/shm.
  std::set<std::string> names;
  for (const auto& location : locations) names.insert(location.name);
  CHECK(names.size() == frames.size());
  const std::vector<std::string> present = shared_objects(prefix);
  for (const std::string& name : names) {
    CHECK(std::find(present.begin(), present.end(), name) != present.end());
  }

  // The frames outlive the decoder (the ventilator may still be sending them): their objects
  // stay, and still hold their pictures.
  decoder.reset();
  for (std::size_t index = 0; index < frames.size(); ++index) {
    CAPTURE(index);
    CHECK(fs::exists("/dev/shm" + locations[index].name));
    CHECK(object_holds_frame(locations[index], *frames[index]));
    CHECK(same_pixels(*frames[index], *expected[index]));
  }
  frames.clear();
  CHECK(shared_objects(prefix).empty());
}

TEST_CASE("Decoder with a shared-memory prefix releases buffers it no longer needs",
          "[media][shared_memory]") {
  const std::string path = generated("shared_h264.mp4",
                                     "-f lavfi -i testsrc2=size=160x120:rate=25 -t 1 "
                                     "-pix_fmt yuv420p -c:v libx264 -preset veryfast -g 10");
  const std::string prefix = new_shared_prefix();
  {
    Decoder decoder(path, Limits{}, 2, prefix);
    int frames = 0;
    while (FramePtr frame = decoder.next()) {
      const auto location = decoder.shared_frames()->locate(*frame);
      REQUIRE(location);
      CHECK(object_holds_frame(*location, *frame));
      ++frames;
    }
    CHECK(frames == 25);
    // Frames released one by one go back to a pool: far fewer objects than frames.
    const std::size_t objects = shared_objects(prefix).size();
    CHECK(objects > 0);
    CHECK(objects < 25);
  }
  CHECK(shared_objects(prefix).empty());
}

TEST_CASE("Decoder with a shared-memory prefix keeps other formats in ordinary memory",
          "[media][shared_memory]") {
  const auto [name, arguments, format] = GENERATE(table<std::string, std::string, AVPixelFormat>({
      {"shared_yuv444p.mkv",
       "-f lavfi -i testsrc2=size=160x120:rate=25 -t 0.4 -pix_fmt yuv444p -c:v libx264 "
       "-preset veryfast",
       AV_PIX_FMT_YUV444P},
      {"shared_yuvj420p.avi",
       "-f lavfi -i testsrc2=size=160x120:rate=25 -t 0.4 -pix_fmt yuvj420p -c:v mjpeg",
       AV_PIX_FMT_YUVJ420P},
  }));
  CAPTURE(name);
  const std::string path = generated(name, arguments);
  const std::string prefix = new_shared_prefix();
  {
    Decoder decoder(path, Limits{}, 2, prefix);
    REQUIRE(decoder.shared_frames() != nullptr);
    std::vector<FramePtr> frames;
    while (FramePtr frame = decoder.next()) {
      CHECK(frame->format == format);
      CHECK(frame->width == 160);
      CHECK_FALSE(decoder.shared_frames()->locate(*frame));
      frames.push_back(std::move(frame));
    }
    CHECK(frames.size() == 10);
    CHECK(decoder.shared_frames()->fallbacks() == 0);
    CHECK(shared_objects(prefix).empty());
  }
  CHECK(shared_objects(prefix).empty());
}
