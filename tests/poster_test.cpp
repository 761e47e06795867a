// media::write_poster against clips made by the ffmpeg CLI at test time; the JPEGs it writes are
// read back by ffprobe (size) and ffmpeg (the colour at their centre).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "command_output.hpp"
#include "framepipe/media/poster.hpp"
#include "temporary_directory.hpp"

namespace {

namespace fs = std::filesystem;
using framepipe::media::NoPoster;
using framepipe::media::NoPosterReason;
using framepipe::media::Poster;
using framepipe::media::poster_size;
using framepipe::media::PosterOptions;
using framepipe::media::PosterResult;
using framepipe::media::PosterSize;
using framepipe::media::write_poster;
using framepipe::testing::command_output;
using framepipe::testing::TemporaryDirectory;

// Clips shared by the tests, made once; removed at exit.
const TemporaryDirectory& clips() {
  static const TemporaryDirectory directory;
  return directory;
}

// Makes `name` among the clips with `ffmpeg -v error -y <arguments> <file>`, once.
fs::path clip(const std::string& name, const std::string& arguments) {
  const fs::path path = clips().path() / name;
  if (!fs::exists(path)) {
    command_output("ffmpeg -nostdin -v error -y " + arguments + " '" + path.string() + "'");
  }
  return path;
}

fs::path testsrc2_mp4(const std::string& name, const std::string& size, double seconds,
                      const std::string& filter = "null") {
  return clip(name, "-f lavfi -i testsrc2=size=" + size + ":rate=25 -t " + std::to_string(seconds) +
                        " -vf " + filter + " -c:v libx264 -preset ultrafast -pix_fmt yuv420p");
}

// A solid colour for each span of seconds, one after the other, as H.264 with a keyframe every
// `keyframe_interval` pictures, in the container `name` calls for: the colour of a picture tells
// its time.
fs::path colours_clip(const std::string& name, const std::string& size, int rate,
                      const std::vector<std::pair<std::string, double>>& spans,
                      int keyframe_interval) {
  std::string graph;
  std::string labels;
  for (std::size_t index = 0; index < spans.size(); ++index) {
    const std::string label = "[s" + std::to_string(index) + "]";
    graph += "color=c=" + spans[index].first + ":s=" + size + ":r=" + std::to_string(rate) +
             ":d=" + std::to_string(spans[index].second) + label + ";";
    labels += label;
  }
  graph += labels + "concat=n=" + std::to_string(spans.size()) + ":v=1:a=0";
  return clip(name, "-filter_complex \"" + graph +
                        "\" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -g " +
                        std::to_string(keyframe_interval));
}

fs::path blue_cover_png() {
  return clip("cover.png", "-f lavfi -i color=c=blue:s=200x100 -frames:v 1");
}

fs::path mp3_with_cover() {
  return clip("cover.mp3", "-f lavfi -i sine=d=1 -i '" + blue_cover_png().string() +
                               "' -map 0 -map 1 -c:a libmp3lame -c:v mjpeg "
                               "-disposition:v attached_pic");
}

fs::path m4a_with_cover() {
  return clip("cover.m4a", "-f lavfi -i sine=d=1 -i '" + blue_cover_png().string() +
                               "' -map 0 -map 1 -c:a aac -c:v png -disposition:v attached_pic");
}

fs::path mp3_without_cover() {
  return clip("plain.mp3", "-f lavfi -i sine=d=1 -c:a libmp3lame");
}

fs::path garbage_mp4() {
  const fs::path path = clips().path() / "garbage.mp4";
  if (!fs::exists(path)) {
    std::mt19937 generator(7);
    std::ofstream out(path, std::ios::binary);
    for (int index = 0; index < 100'000; ++index) out.put(static_cast<char>(generator()));
  }
  return path;
}

// A fresh output path for one test.
fs::path output(const std::string& name) {
  return clips().path() / "out" / name;
}

struct Written {
  int width = 0;
  int height = 0;
  std::string codec;
};

Written probe_jpeg(const fs::path& path) {
  std::istringstream fields(
      command_output("ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 '" +
                     path.string() + "'"));
  Written written;
  std::getline(fields, written.codec, ',');
  char comma = 0;
  fields >> written.width >> comma >> written.height;
  return written;
}

struct Rgb {
  int red = 0;
  int green = 0;
  int blue = 0;
};

// The colour of the JPEG's centre, decoded by the ffmpeg CLI.
Rgb centre_colour(const fs::path& path) {
  const std::string pixels =
      command_output("ffmpeg -nostdin -v error -i '" + path.string() +
                     "' -vf crop=2:2:iw/2-1:ih/2-1 -f rawvideo -pix_fmt rgb24 -");
  REQUIRE(pixels.size() == 12);
  const auto byte = [&](int index) {
    return static_cast<int>(static_cast<uint8_t>(pixels[index]));
  };
  return {byte(0), byte(1), byte(2)};
}

bool is_red(const Rgb& colour) {
  return colour.red > 200 && colour.green < 60 && colour.blue < 60;
}
bool is_lime(const Rgb& colour) {
  return colour.red < 60 && colour.green > 200 && colour.blue < 60;
}
bool is_blue(const Rgb& colour) {
  return colour.red < 60 && colour.green < 60 && colour.blue > 200;
}

Poster written(const PosterResult& result) {
  if (const auto* none = std::get_if<NoPoster>(&result)) FAIL("no poster: " << none->message);
  return std::get<Poster>(result);
}

NoPoster refused(const PosterResult& result) {
  REQUIRE(std::holds_alternative<NoPoster>(result));
  return std::get<NoPoster>(result);
}

// Temporary files (".<name>.<...>.part") left in `directory`.
int stray_files(const fs::path& directory) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(directory)) {
    if (entry.path().extension() == ".part") ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("poster_size fits the display aspect ratio in the box, even, never enlarged",
          "[poster]") {
  const auto size = [](int width, int height, AVRational sample_aspect, int box_width,
                       int box_height) {
    const PosterSize fitted = poster_size(width, height, sample_aspect, box_width, box_height);
    return std::make_pair(fitted.width, fitted.height);
  };
  using Size = std::pair<int, int>;
  CHECK(size(1920, 1080, {1, 1}, 320, 180) == Size{320, 180});
  CHECK(size(320, 240, {0, 1}, 320, 180) == Size{240, 180});
  CHECK(size(320, 240, {4, 3}, 320, 180) == Size{320, 180});    // anamorphic 16:9
  CHECK(size(720, 576, {16, 15}, 320, 180) == Size{240, 180});  // PAL 4:3 (768x576 shown)
  CHECK(size(1080, 1920, {1, 1}, 320, 180) == Size{102, 180});  // portrait
  CHECK(size(100, 60, {1, 1}, 320, 180) == Size{100, 60});      // small: as it is
  CHECK(size(101, 61, {1, 1}, 320, 180) == Size{100, 60});      // odd: even, not enlarged
  CHECK(size(1, 1, {1, 1}, 320, 180) == Size{2, 2});            // the smallest JPEG
  CHECK(size(1920, 1080, {1, 1}, 321, 181) == Size{320, 180});  // an odd box loses a pixel
  // Hostile pixel shapes give a sliver inside the box, never a large picture.
  CHECK(size(16384, 16384, {1'000'000, 1}, 320, 180) == Size{320, 2});
  CHECK(size(16384, 16384, {1, 1'000'000}, 320, 180) == Size{2, 180});
  CHECK_THROWS_AS(size(0, 10, {1, 1}, 320, 180), std::invalid_argument);
  CHECK_THROWS_AS(size(10, 10, {1, 1}, 1, 180), std::invalid_argument);
}

TEST_CASE("A poster of a 320x240 clip is a 240x180 JPEG of its picture", "[poster]") {
  const fs::path input = testsrc2_mp4("testsrc2.mp4", "320x240", 5);
  const fs::path jpeg = output("testsrc2.jpg");
  fs::create_directories(jpeg.parent_path());
  const Poster poster = written(write_poster(input, jpeg));
  CHECK(poster.width == 240);
  CHECK(poster.height == 180);
  CHECK_FALSE(poster.from_cover);
  CHECK(poster.time_seconds == Approx(0.5).margin(0.04));
  const Written file = probe_jpeg(jpeg);
  CHECK(file.codec == "mjpeg");
  CHECK(file.width == 240);
  CHECK(file.height == 180);
  CHECK(fs::file_size(jpeg) > 1000);
  CHECK(fs::file_size(jpeg) < 60'000);
  CHECK(stray_files(jpeg.parent_path()) == 0);

  SECTION("a second poster replaces the first") {
    PosterOptions small;
    small.max_width = 64;
    small.max_height = 64;
    const Poster again = written(write_poster(input, jpeg, small));
    CHECK(again.width == 64);
    CHECK(again.height == 48);
    CHECK(probe_jpeg(jpeg).width == 64);
    CHECK(stray_files(jpeg.parent_path()) == 0);
  }
}

TEST_CASE("A poster of a 1920x1080 clip is 320x180", "[poster]") {
  const fs::path jpeg = output("big.jpg");
  fs::create_directories(jpeg.parent_path());
  const Poster poster = written(write_poster(testsrc2_mp4("big.mp4", "1920x1080", 0.4), jpeg));
  CHECK(poster.width == 320);
  CHECK(poster.height == 180);
  const Written file = probe_jpeg(jpeg);
  CHECK(file.width == 320);
  CHECK(file.height == 180);
}

TEST_CASE("A poster keeps the display aspect ratio of anamorphic pixels", "[poster]") {
  // 320x240 pixels 4:3 wide: shown 16:9.
  const fs::path input = testsrc2_mp4("anamorphic.mp4", "320x240", 0.4, "setsar=4/3");
  const fs::path jpeg = output("anamorphic.jpg");
  fs::create_directories(jpeg.parent_path());
  const Poster poster = written(write_poster(input, jpeg));
  CHECK(poster.width == 320);
  CHECK(poster.height == 180);
  const Written file = probe_jpeg(jpeg);
  CHECK(file.width == 320);
  CHECK(file.height == 180);
}

TEST_CASE("A poster shows the picture a tenth of the way in, at most 10 s in", "[poster]") {
  fs::create_directories(output("").parent_path());

  SECTION("5 s with one keyframe: decoded forward from it to 0.5 s") {
    const fs::path input =
        colours_clip("colours.mp4", "320x240", 25, {{"red", 0.3}, {"lime", 0.7}, {"blue", 4}}, 250);
    const fs::path jpeg = output("colours.jpg");
    const Poster poster = written(write_poster(input, jpeg));
    CHECK(poster.time_seconds == Approx(0.5).margin(0.04));
    const Rgb colour = centre_colour(jpeg);
    INFO("rgb " << colour.red << " " << colour.green << " " << colour.blue);
    CHECK(is_lime(colour));
  }

  SECTION("120 s with a keyframe every 10 s: seeks to 10 s") {
    const fs::path input =
        colours_clip("long.mp4", "64x48", 5, {{"red", 9}, {"lime", 2}, {"blue", 109}}, 50);
    const fs::path jpeg = output("long.jpg");
    const Poster poster = written(write_poster(input, jpeg));
    CHECK(poster.time_seconds == Approx(10).margin(0.21));
    CHECK(poster.width == 64);
    CHECK(poster.height == 48);
    const Rgb colour = centre_colour(jpeg);
    INFO("rgb " << colour.red << " " << colour.green << " " << colour.blue);
    CHECK(is_lime(colour));
  }

  SECTION("MPEG-TS, whose seek lands past the target here: decoded from the start instead") {
    const fs::path input =
        colours_clip("colours.ts", "320x240", 25, {{"red", 0.3}, {"lime", 0.7}, {"blue", 4}}, 6);
    const fs::path jpeg = output("colours-ts.jpg");
    const Poster poster = written(write_poster(input, jpeg));
    CHECK(poster.time_seconds == Approx(0.5).margin(0.04));
    const Rgb colour = centre_colour(jpeg);
    INFO("rgb " << colour.red << " " << colour.green << " " << colour.blue);
    CHECK(is_lime(colour));
  }

  SECTION("a clip under a second: its first picture") {
    const fs::path input =
        colours_clip("short.mp4", "320x240", 25, {{"red", 0.4}, {"blue", 0.4}}, 250);
    const fs::path jpeg = output("short.jpg");
    const Poster poster = written(write_poster(input, jpeg));
    CHECK(poster.time_seconds == 0);
    CHECK(is_red(centre_colour(jpeg)));
  }
}

TEST_CASE("A poster of an audio file is its cover picture", "[poster]") {
  const fs::path input = GENERATE(mp3_with_cover(), m4a_with_cover());
  INFO(input.filename().string());
  const fs::path jpeg = output(input.filename().string() + ".jpg");
  fs::create_directories(jpeg.parent_path());
  const Poster poster = written(write_poster(input, jpeg));
  CHECK(poster.from_cover);
  CHECK(poster.width == 200);  // 200x100 fits in 320x180 as it is
  CHECK(poster.height == 100);
  CHECK(probe_jpeg(jpeg).width == 200);
  CHECK(is_blue(centre_colour(jpeg)));
}

TEST_CASE("An audio file without a cover has no picture, and nothing is written", "[poster]") {
  const fs::path jpeg = output("plain.jpg");
  fs::create_directories(jpeg.parent_path());
  const NoPoster none = refused(write_poster(mp3_without_cover(), jpeg));
  CHECK(none.reason == NoPosterReason::no_picture);
  CHECK(none.message == "the file has no picture: no video stream and no cover");
  CHECK_FALSE(fs::exists(jpeg));
  CHECK(stray_files(jpeg.parent_path()) == 0);
}

TEST_CASE("Files that are not media, or beyond the limits, give a reason and no file", "[poster]") {
  const fs::path jpeg = output("refused.jpg");
  fs::create_directories(jpeg.parent_path());

  SECTION("random bytes") {
    const NoPoster none = refused(write_poster(garbage_mp4(), jpeg));
    CHECK(none.reason == NoPosterReason::bad_input);
    CHECK_THAT(none.message, Catch::StartsWith("not a video file we can read"));
  }
  SECTION("a missing file") {
    const NoPoster none = refused(write_poster(clips().path() / "missing.mp4", jpeg));
    CHECK(none.reason == NoPosterReason::bad_input);
    CHECK_THAT(none.message, Catch::StartsWith("cannot open the file"));
  }
  SECTION("a video beyond the pixel limit") {
    PosterOptions options;
    options.limits.max_pixels = 320 * 240 - 1;
    const NoPoster none =
        refused(write_poster(testsrc2_mp4("testsrc2.mp4", "320x240", 5), jpeg, options));
    CHECK(none.reason == NoPosterReason::bad_input);
    CHECK_THAT(none.message, Catch::StartsWith("frame size 320x240 exceeds the limit"));
  }
  SECTION("a cover beyond the pixel limit") {
    PosterOptions options;
    options.limits.max_pixels = 200 * 100 - 1;
    const NoPoster none = refused(write_poster(mp3_with_cover(), jpeg, options));
    CHECK(none.reason == NoPosterReason::bad_input);
    CHECK_THAT(none.message, Catch::Contains("cover picture"));
  }
  SECTION("no time to decode anything") {
    PosterOptions options;
    options.max_seconds = 1e-9;
    const NoPoster none =
        refused(write_poster(testsrc2_mp4("testsrc2.mp4", "320x240", 5), jpeg, options));
    CHECK(none.reason == NoPosterReason::bad_input);
    CHECK_THAT(none.message, Catch::Contains("within the poster's budget"));
  }
  CHECK_FALSE(fs::exists(jpeg));
  CHECK(stray_files(jpeg.parent_path()) == 0);
}

TEST_CASE("A poster's budget ends decoding early with the last picture before the target",
          "[poster]") {
  const fs::path input =
      colours_clip("colours.mp4", "320x240", 25, {{"red", 0.3}, {"lime", 0.7}, {"blue", 4}}, 250);
  const fs::path jpeg = output("budget.jpg");
  fs::create_directories(jpeg.parent_path());
  PosterOptions options;
  options.max_packets = 3;  // the target is 12 pictures after the keyframe
  const Poster poster = written(write_poster(input, jpeg, options));
  CHECK(poster.time_seconds < 0.3);
  CHECK(is_red(centre_colour(jpeg)));
}

TEST_CASE("A poster that cannot be written gives a reason and leaves nothing behind", "[poster]") {
  const fs::path input = testsrc2_mp4("testsrc2.mp4", "320x240", 5);
  const fs::path directory = output("unwritable");
  fs::create_directories(directory);

  SECTION("a directory that does not exist") {
    const NoPoster none = refused(write_poster(input, directory / "missing" / "poster.jpg"));
    CHECK(none.reason == NoPosterReason::output_failed);
    CHECK_THAT(none.message, Catch::Contains("No such file or directory"));
  }
  SECTION("a file where the directory should be") {
    std::ofstream(directory / "file") << "x";
    const NoPoster none = refused(write_poster(input, directory / "file" / "poster.jpg"));
    CHECK(none.reason == NoPosterReason::output_failed);
    CHECK_THAT(none.message, Catch::Contains("Not a directory"));
  }
  SECTION("a directory where the poster should be") {
    fs::create_directories(directory / "poster.jpg");
    const NoPoster none = refused(write_poster(input, directory / "poster.jpg"));
    CHECK(none.reason == NoPosterReason::output_failed);
    CHECK_THAT(none.message, Catch::StartsWith("cannot put the poster at"));
    CHECK(stray_files(directory) == 0);
  }
  SECTION("a read-only directory") {
    if (::geteuid() == 0) return;  // root writes anywhere: the sections above stand for it
    const fs::path read_only = directory / "read-only";
    fs::create_directories(read_only);
    fs::permissions(read_only, fs::perms::owner_read | fs::perms::owner_exec);
    const NoPoster none = refused(write_poster(input, read_only / "poster.jpg"));
    fs::permissions(read_only, fs::perms::owner_all);
    CHECK(none.reason == NoPosterReason::output_failed);
    CHECK_THAT(none.message, Catch::Contains("Permission denied"));
    CHECK(fs::is_empty(read_only));
  }
}

TEST_CASE("write_poster refuses options out of range as programming errors", "[poster]") {
  const fs::path input = testsrc2_mp4("testsrc2.mp4", "320x240", 5);
  PosterOptions options;
  options.max_width = 1;
  CHECK_THROWS_AS(write_poster(input, output("x.jpg"), options), std::invalid_argument);
  options = {};
  options.jpeg_qscale = 1;
  CHECK_THROWS_AS(write_poster(input, output("x.jpg"), options), std::invalid_argument);
  options = {};
  options.position = 1.5;
  CHECK_THROWS_AS(write_poster(input, output("x.jpg"), options), std::invalid_argument);
  options = {};
  options.max_packets = 0;
  CHECK_THROWS_AS(write_poster(input, output("x.jpg"), options), std::invalid_argument);
  CHECK_THROWS_AS(write_poster(input, clips().path() / ""), std::invalid_argument);
}
