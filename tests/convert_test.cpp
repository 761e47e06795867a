// Tests of FrameConverter: every decoder pixel format to BGR with the right matrix and range,
// BGR and gray back to yuv420p, round trips, and the copy fast path.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "framepipe/filters/convert.hpp"
#include "framepipe/protocol/color.hpp"

namespace {

using framepipe::filters::FrameConverter;
using framepipe::filters::PlanarImage;
using framepipe::filters::yuv420p_size;
using framepipe::protocol::ColorInfo;

// AVColorSpace and AVColorRange code points (H.273).
constexpr int kBt709 = 1;
constexpr int kUnspecified = 2;
constexpr int kSmpte170m = 6;  // BT.601
constexpr int kRangeUnspecified = 0;
constexpr int kLimited = 1;
constexpr int kFull = 2;

ColorInfo color(int space, int range) {
  ColorInfo info;
  info.space = space;
  info.range = range;
  return info;
}

// A picture that owns its planes. Lines are padded (with junk) past their width, as a decoder's
// are, so that line sizes are honoured rather than assumed.
struct Picture {
  std::vector<std::vector<uint8_t>> storage;
  PlanarImage image;

  Picture() = default;
  Picture(Picture&&) = default;
  Picture& operator=(Picture&&) = default;
  Picture(const Picture&) = delete;
  Picture& operator=(const Picture&) = delete;
};

Picture make_picture(const std::string& format, int width, int height,
                     const std::vector<cv::Mat>& planes, ColorInfo info = {}) {
  constexpr int kPadding = 24;
  Picture picture;
  picture.image.pixel_format = format;
  picture.image.width = width;
  picture.image.height = height;
  picture.image.color = info;
  picture.storage.reserve(planes.size());
  for (std::size_t i = 0; i < planes.size(); ++i) {
    const cv::Mat plane = planes[i].reshape(1);
    const int linesize = static_cast<int>(plane.cols + kPadding);
    std::vector<uint8_t> bytes(static_cast<std::size_t>(linesize) * plane.rows, 0xAB);
    for (int row = 0; row < plane.rows; ++row) {
      std::copy(plane.ptr<uint8_t>(row), plane.ptr<uint8_t>(row) + plane.cols,
                bytes.begin() + static_cast<std::ptrdiff_t>(row) * linesize);
    }
    picture.storage.push_back(std::move(bytes));
    picture.image.data[i] = picture.storage.back().data();
    picture.image.linesize[i] = linesize;
  }
  return picture;
}

// Views of the planes of a tightly packed yuv420p buffer.
struct Yuv420p {
  cv::Mat y, u, v;
};

Yuv420p planes_of(std::vector<uint8_t>& buffer, int width, int height) {
  uint8_t* data = buffer.data();
  const std::size_t luma = static_cast<std::size_t>(width) * height;
  return {cv::Mat(height, width, CV_8UC1, data),
          cv::Mat(height / 2, width / 2, CV_8UC1, data + luma),
          cv::Mat(height / 2, width / 2, CV_8UC1, data + luma + luma / 4)};
}

Picture yuv420p_picture(std::vector<uint8_t>& buffer, int width, int height, ColorInfo info,
                        const std::string& format = "yuv420p") {
  const Yuv420p planes = planes_of(buffer, width, height);
  return make_picture(format, width, height, {planes.y, planes.u, planes.v}, info);
}

// Smooth colours only (a few levels a pixel at most, whatever the size): chroma subsampling
// loses nothing that a round trip would miss.
cv::Mat smooth_frame(cv::Size size) {
  cv::Mat frame(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      frame.at<cv::Vec3b>(y, x) =
          cv::Vec3b(cv::saturate_cast<uchar>(128 + 90 * std::sin(x / 60.0)),
                    cv::saturate_cast<uchar>(128 + 80 * std::sin(y / 50.0 + 1)),
                    cv::saturate_cast<uchar>(128 + 90 * std::sin((x + y) / 80.0 + 2)));
    }
  }
  return frame;
}

double max_difference(const cv::Mat& a, const cv::Mat& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(a.type() == b.type());
  return cv::norm(a, b, cv::NORM_INF);
}

// The BGR colour of one YUV triple, straight from the matrix definition.
cv::Vec3d expected_bgr(double y, double u, double v, double kr, double kb, bool full) {
  const double luma = full ? y / 255.0 : (y - 16) / 219.0;
  const double pb = (u - 128) / (full ? 255.0 : 224.0);
  const double pr = (v - 128) / (full ? 255.0 : 224.0);
  const double r = luma + 2 * (1 - kr) * pr;
  const double b = luma + 2 * (1 - kb) * pb;
  const double g = (luma - kr * r - kb * b) / (1 - kr - kb);
  const auto to_byte = [](double value) { return std::clamp(value * 255.0, 0.0, 255.0); };
  return {to_byte(b), to_byte(g), to_byte(r)};
}

// Planes of a uniformly coloured picture of `format`.
std::vector<cv::Mat> uniform_planes(const std::string& format, int width, int height, uint8_t y,
                                    uint8_t u, uint8_t v) {
  const int half_width = (width + 1) / 2;
  const int half_height = (height + 1) / 2;
  const cv::Mat luma(height, width, CV_8UC1, cv::Scalar(y));
  const auto chroma = [&](int w, int h) {
    return std::vector<cv::Mat>{luma, cv::Mat(h, w, CV_8UC1, cv::Scalar(u)),
                                cv::Mat(h, w, CV_8UC1, cv::Scalar(v))};
  };
  if (format == "yuv420p" || format == "yuvj420p") return chroma(half_width, half_height);
  if (format == "yuv422p" || format == "yuvj422p") return chroma(half_width, height);
  if (format == "yuv444p" || format == "yuvj444p") return chroma(width, height);
  if (format == "nv12" || format == "nv21") {
    cv::Mat interleaved(half_height, half_width, CV_8UC2,
                        format == "nv12" ? cv::Scalar(u, v) : cv::Scalar(v, u));
    return {luma, interleaved.reshape(1)};
  }
  FAIL("no planes for " << format);
  return {};
}

// Packs a BGR image into one of the 3- or 4-byte RGB layouts; `order` names the byte order
// with 'r', 'g', 'b' and 'x' for an alpha or unused byte.
cv::Mat packed_rgb(const cv::Mat& bgr, const std::string& order) {
  std::vector<cv::Mat> channels;
  cv::split(bgr, channels);
  const cv::Mat filler(bgr.size(), CV_8UC1, cv::Scalar(255));
  std::vector<cv::Mat> packed;
  for (const char c : order) {
    packed.push_back(c == 'b'   ? channels[0]
                     : c == 'g' ? channels[1]
                     : c == 'r' ? channels[2]
                                : filler);
  }
  cv::Mat result;
  cv::merge(packed, result);
  return result.reshape(1, bgr.rows);
}

}  // namespace

TEST_CASE("yuv420p_size is 1.5 bytes a pixel", "[convert]") {
  STATIC_REQUIRE(yuv420p_size(2, 2) == 6);
  STATIC_REQUIRE(yuv420p_size(1920, 1080) == 1920 * 1080 * 3 / 2);
}

TEST_CASE("to_bgr decodes every YUV layout with its matrix and range", "[convert]") {
  FrameConverter converter;
  struct Matrix {
    int space;
    int width;
    int height;
    double kr;
    double kb;
  };
  // Unspecified matrices are guessed from the size: BT.601 below HD, BT.709 from 1280 wide.
  const std::vector<Matrix> matrices = {{kSmpte170m, 64, 48, 0.299, 0.114},
                                        {kBt709, 64, 48, 0.2126, 0.0722},
                                        {kUnspecified, 64, 48, 0.299, 0.114},
                                        {kUnspecified, 1280, 720, 0.2126, 0.0722},
                                        {kUnspecified, 33, 17, 0.299, 0.114}};
  const std::vector<cv::Vec3b> colours = {{120, 100, 160}, {60, 150, 110}, {200, 128, 128}};
  for (const std::string format :
       {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}) {
    const bool jpeg = format.find('j') != std::string::npos;
    for (const Matrix& matrix : matrices) {
      for (const int range : {kRangeUnspecified, kLimited, kFull}) {
        for (const cv::Vec3b& yuv : colours) {
          const Picture picture = make_picture(
              format, matrix.width, matrix.height,
              uniform_planes(format, matrix.width, matrix.height, yuv[0], yuv[1], yuv[2]),
              color(matrix.space, range));
          const cv::Mat bgr = converter.to_bgr(picture.image);
          REQUIRE(bgr.type() == CV_8UC3);
          REQUIRE(bgr.size() == cv::Size(matrix.width, matrix.height));
          const cv::Vec3d expected =
              expected_bgr(yuv[0], yuv[1], yuv[2], matrix.kr, matrix.kb, jpeg || range == kFull);
          INFO(format << " space " << matrix.space << " " << matrix.width << "x" << matrix.height
                      << " range " << range << " yuv " << yuv << " expected " << expected);
          for (const cv::Point at :
               {cv::Point(0, 0), cv::Point(matrix.width / 2, matrix.height / 2),
                cv::Point(matrix.width - 1, matrix.height - 1)}) {
            const cv::Vec3b got = bgr.at<cv::Vec3b>(at);
            INFO("at " << at << " got " << got);
            for (int c = 0; c < 3; ++c) CHECK(std::abs(got[c] - expected[c]) <= 1.5);
          }
        }
      }
    }
  }
}

TEST_CASE("to_bgr unpacks every RGB layout exactly", "[convert]") {
  FrameConverter converter;
  const cv::Mat bgr = smooth_frame({37, 21});
  for (const auto& [format, order] :
       std::vector<std::pair<std::string, std::string>>{{"rgb24", "rgb"},
                                                        {"bgr24", "bgr"},
                                                        {"rgba", "rgbx"},
                                                        {"bgra", "bgrx"},
                                                        {"argb", "xrgb"},
                                                        {"abgr", "xbgr"},
                                                        {"0rgb", "xrgb"},
                                                        {"rgb0", "rgbx"},
                                                        {"0bgr", "xbgr"},
                                                        {"bgr0", "bgrx"}}) {
    INFO(format);
    const Picture picture = make_picture(format, bgr.cols, bgr.rows, {packed_rgb(bgr, order)});
    CHECK(max_difference(converter.to_bgr(picture.image), bgr) == 0);
  }
}

TEST_CASE("to_bgr looks up palette pictures", "[convert]") {
  FrameConverter converter;
  // libav palettes are 256 native-endian 0xAARRGGBB words.
  cv::Mat palette(1, 256, CV_32SC1);
  for (int i = 0; i < 256; ++i) {
    const uint32_t word = 0xFF000000u | static_cast<uint32_t>(i) << 16 |
                          static_cast<uint32_t>(255 - i) << 8 | static_cast<uint32_t>(i / 2);
    palette.at<int32_t>(0, i) = static_cast<int32_t>(word);
  }
  cv::Mat indices(5, 7, CV_8UC1);
  for (int i = 0; i < 35; ++i) indices.data[i] = static_cast<uint8_t>(i * 7);
  const Picture picture =
      make_picture("pal8", 7, 5, {indices, cv::Mat(1, 1024, CV_8UC1, palette.data)});
  const cv::Mat bgr = converter.to_bgr(picture.image);
  for (int i = 0; i < 35; ++i) {
    const int index = i * 7;
    CHECK(bgr.at<cv::Vec3b>(i / 7, i % 7) == cv::Vec3b(static_cast<uchar>(index / 2),
                                                       static_cast<uchar>(255 - index),
                                                       static_cast<uchar>(index)));
  }
}

TEST_CASE("to_bgr expands gray to the full range exactly", "[convert]") {
  FrameConverter converter;
  cv::Mat luma(2, 256, CV_8UC1);
  for (int i = 0; i < 256; ++i) luma.at<uint8_t>(0, i) = luma.at<uint8_t>(1, i) = uint8_t(i);

  const Picture full = make_picture("gray", 256, 2, {luma}, color(kUnspecified, kFull));
  cv::Mat gray;
  cv::cvtColor(converter.to_bgr(full.image), gray, cv::COLOR_BGR2GRAY);
  CHECK(max_difference(gray, luma) == 0);

  const Picture limited = make_picture("gray", 256, 2, {luma}, color(kUnspecified, kLimited));
  const cv::Mat expanded = converter.to_bgr(limited.image);
  CHECK(expanded.at<cv::Vec3b>(0, 16) == cv::Vec3b(0, 0, 0));
  CHECK(expanded.at<cv::Vec3b>(0, 235) == cv::Vec3b(255, 255, 255));
  CHECK(expanded.at<cv::Vec3b>(0, 5) == cv::Vec3b(0, 0, 0));
  CHECK(expanded.at<cv::Vec3b>(1, 250) == cv::Vec3b(255, 255, 255));
  CHECK(expanded.at<cv::Vec3b>(0, 126) == cv::Vec3b(128, 128, 128));
}

TEST_CASE("yuvj formats are full range whatever the colour info says", "[convert]") {
  FrameConverter converter;
  std::vector<uint8_t> buffer(yuv420p_size(32, 16));
  converter.to_yuv420p(smooth_frame({32, 16}), color(kSmpte170m, kFull), buffer.data());
  const Picture tagged = yuv420p_picture(buffer, 32, 16, color(kSmpte170m, kFull));
  const Picture jpeg =
      yuv420p_picture(buffer, 32, 16, color(kSmpte170m, kRangeUnspecified), "yuvj420p");
  const Picture limited = yuv420p_picture(buffer, 32, 16, color(kSmpte170m, kLimited));
  const cv::Mat reference = converter.to_bgr(tagged.image);
  CHECK(max_difference(converter.to_bgr(jpeg.image), reference) == 0);
  CHECK(max_difference(converter.to_bgr(limited.image), reference) > 5);
}

TEST_CASE("to_yuv420p writes the matrix and range asked for", "[convert]") {
  FrameConverter converter;
  std::vector<uint8_t> buffer(yuv420p_size(16, 16));
  const auto convert = [&](cv::Scalar bgr, ColorInfo info) {
    converter.to_yuv420p(cv::Mat(16, 16, CV_8UC3, bgr), info, buffer.data());
    const std::size_t luma = 16 * 16;
    return cv::Vec3i(buffer[0], buffer[luma], buffer[luma + luma / 4]);
  };
  const cv::Scalar red(0, 0, 255);
  // Y = 16 + 219 * Kr, V = 240 for pure red in the limited range.
  CHECK(convert(red, color(kBt709, kLimited)) == cv::Vec3i(63, 102, 240));
  CHECK(convert(red, color(kSmpte170m, kLimited)) == cv::Vec3i(81, 90, 240));
  CHECK(convert(red, color(kBt709, kFull))[0] == 54);
  CHECK(convert(red, color(kSmpte170m, kFull))[0] == 76);
  CHECK(convert(red, color(kUnspecified, kRangeUnspecified)) ==
        convert(red, color(kSmpte170m, kLimited)));
  for (const int space : {kBt709, kSmpte170m}) {
    CHECK(convert(cv::Scalar::all(255), color(space, kLimited)) == cv::Vec3i(235, 128, 128));
    CHECK(convert(cv::Scalar::all(0), color(space, kLimited)) == cv::Vec3i(16, 128, 128));
    CHECK(convert(cv::Scalar::all(255), color(space, kFull)) == cv::Vec3i(255, 128, 128));
    CHECK(convert(cv::Scalar::all(0), color(space, kFull)) == cv::Vec3i(0, 128, 128));
  }
}

TEST_CASE("BGR to yuv420p and back loses only rounding", "[convert]") {
  FrameConverter converter;
  for (const cv::Size size : {cv::Size(64, 48), cv::Size(1280, 720), cv::Size(34, 18)}) {
    const cv::Mat frame = smooth_frame(size);
    for (const int space : {kBt709, kSmpte170m, kUnspecified}) {
      for (const int range : {kLimited, kFull}) {
        INFO(size << " space " << space << " range " << range);
        std::vector<uint8_t> buffer(yuv420p_size(size.width, size.height));
        converter.to_yuv420p(frame, color(space, range), buffer.data());
        const Picture picture =
            yuv420p_picture(buffer, size.width, size.height, color(space, range));
        const cv::Mat back = converter.to_bgr(picture.image);
        cv::Mat difference;
        cv::absdiff(back, frame, difference);
        // 8-bit chroma between the two steps: a code of rounding either way (limited-range
        // chroma codes are 1.8 BGR steps apart) and a luma one.
        CHECK(cv::norm(difference, cv::NORM_INF) <= 4);
        CHECK(cv::mean(difference.reshape(1))[0] < 1.0);
      }
    }
  }
}

// How much a trip through yuv420p costs a picture (chroma resampled down and up): 4:2:0 loses
// chroma detail whatever the filters, so this measures the two resamplers and the rounding.
TEST_CASE("a round trip through yuv420p keeps detailed pictures", "[convert]") {
  FrameConverter converter;
  const cv::Size size(1280, 720);
  cv::Mat noise(size, CV_8UC3);
  cv::RNG random(12345);
  random.fill(noise, cv::RNG::UNIFORM, 0, 256);
  cv::Mat detailed;  // chroma detail down to a few pixels
  cv::GaussianBlur(noise, detailed, cv::Size(0, 0), 2.0);
  for (const int range : {kLimited, kFull}) {
    for (const auto& [picture, minimum_db] :
         {std::pair{smooth_frame(size), 49.0}, std::pair{detailed, 47.0}}) {
      INFO("range " << range << ", at least " << minimum_db << " dB");
      std::vector<uint8_t> buffer(yuv420p_size(size.width, size.height));
      converter.to_yuv420p(picture, color(kBt709, range), buffer.data());
      const cv::Mat back = converter.to_bgr(
          yuv420p_picture(buffer, size.width, size.height, color(kBt709, range)).image);
      CHECK(cv::PSNR(back, picture) >= minimum_db);
    }
  }
}

TEST_CASE("gray images keep their luma through to_yuv420p", "[convert]") {
  FrameConverter converter;
  const cv::Size size(64, 32);

  SECTION("gray maps to the target range with neutral chroma") {
    cv::Mat gray(size, CV_8UC1);
    for (int i = 0; i < gray.cols * gray.rows; ++i) gray.data[i] = uint8_t(i % 256);
    std::vector<uint8_t> buffer(yuv420p_size(size.width, size.height));
    converter.to_yuv420p(gray, color(kBt709, kFull), buffer.data());
    Yuv420p planes = planes_of(buffer, size.width, size.height);
    CHECK(max_difference(planes.y, gray) == 0);
    CHECK(cv::countNonZero(planes.u != 128) == 0);
    CHECK(cv::countNonZero(planes.v != 128) == 0);

    converter.to_yuv420p(gray, color(kBt709, kLimited), buffer.data());
    CHECK(planes.y.at<uint8_t>(0, 0) == 16);
    CHECK(planes.y.at<uint8_t>(0, 255) == 235);
    CHECK(planes.y.at<uint8_t>(0, 128) == 126);
  }

  SECTION("decoded, turned gray and written back, luma stays within 1") {
    // BT.601 colour (the matrix cv::COLOR_BGR2GRAY uses) and neutral-chroma BT.709.
    cv::Mat neutral;
    cv::cvtColor(smooth_frame(size), neutral, cv::COLOR_BGR2GRAY);
    cv::cvtColor(neutral, neutral, cv::COLOR_GRAY2BGR);
    for (const auto& [source, info] :
         {std::pair(smooth_frame(size), color(kSmpte170m, kLimited)),
          std::pair(smooth_frame(size), color(kSmpte170m, kFull)),
          std::pair(neutral, color(kBt709, kLimited)), std::pair(neutral, color(kBt709, kFull))}) {
      INFO("space " << info.space << " range " << info.range);
      std::vector<uint8_t> original(yuv420p_size(size.width, size.height));
      converter.to_yuv420p(source, info, original.data());
      const Picture picture = yuv420p_picture(original, size.width, size.height, info);
      cv::Mat gray;
      cv::cvtColor(converter.to_bgr(picture.image), gray, cv::COLOR_BGR2GRAY);
      std::vector<uint8_t> written(yuv420p_size(size.width, size.height));
      converter.to_yuv420p(gray, info, written.data());
      CHECK(max_difference(planes_of(written, size.width, size.height).y,
                           planes_of(original, size.width, size.height).y) <= 1);
    }
  }
}

TEST_CASE("copy_to_yuv420p copies yuv420p and crops odd sizes", "[convert]") {
  FrameConverter converter;
  const cv::Mat frame = smooth_frame({66, 50});
  std::vector<uint8_t> source(yuv420p_size(66, 50));
  converter.to_yuv420p(frame, color(kSmpte170m, kLimited), source.data());
  const Yuv420p source_planes = planes_of(source, 66, 50);

  SECTION("even sizes are byte for byte") {
    const Picture picture = yuv420p_picture(source, 66, 50, color(kSmpte170m, kLimited));
    std::vector<uint8_t> out(yuv420p_size(66, 50));
    converter.copy_to_yuv420p(picture.image, out.data());
    CHECK(out == source);
  }
  SECTION("odd sizes lose the last column and row") {
    // A 65x49 picture is the top-left of the 66x50 one (chroma 33x25 either way).
    const Picture picture =
        make_picture("yuv420p", 65, 49,
                     {source_planes.y(cv::Rect(0, 0, 65, 49)), source_planes.u, source_planes.v});
    std::vector<uint8_t> out(yuv420p_size(64, 48));
    converter.copy_to_yuv420p(picture.image, out.data());
    const Yuv420p out_planes = planes_of(out, 64, 48);
    CHECK(max_difference(out_planes.y, source_planes.y(cv::Rect(0, 0, 64, 48))) == 0);
    CHECK(max_difference(out_planes.u, source_planes.u(cv::Rect(0, 0, 32, 24))) == 0);
    CHECK(max_difference(out_planes.v, source_planes.v(cv::Rect(0, 0, 32, 24))) == 0);
  }
  SECTION("nv12 and nv21 de-interleave exactly") {
    for (const std::string format : {"nv12", "nv21"}) {
      cv::Mat interleaved;
      cv::merge(format == "nv12" ? std::vector<cv::Mat>{source_planes.u, source_planes.v}
                                 : std::vector<cv::Mat>{source_planes.v, source_planes.u},
                interleaved);
      const Picture picture =
          make_picture(format, 66, 50, {source_planes.y, interleaved.reshape(1)});
      std::vector<uint8_t> out(yuv420p_size(66, 50));
      converter.copy_to_yuv420p(picture.image, out.data());
      INFO(format);
      CHECK(out == source);
    }
  }
  SECTION("yuvj420p is copied when tagged full range, else brought to the limited range") {
    std::vector<uint8_t> extremes(yuv420p_size(4, 2));
    const std::vector<uint8_t> pattern = {0, 255, 128, 64, 1, 254, 127, 200, 0, 255, 128, 30};
    std::copy(pattern.begin(), pattern.end(), extremes.begin());
    std::vector<uint8_t> out(yuv420p_size(4, 2));

    const Picture tagged = yuv420p_picture(extremes, 4, 2, color(kBt709, kFull), "yuvj420p");
    converter.copy_to_yuv420p(tagged.image, out.data());
    CHECK(out == extremes);

    const Picture untagged =
        yuv420p_picture(extremes, 4, 2, color(kBt709, kRangeUnspecified), "yuvj420p");
    converter.copy_to_yuv420p(untagged.image, out.data());
    CHECK(out == std::vector<uint8_t>{16, 235, 126, 71, 17, 234, 125, 188, 16, 240, 128, 42});
  }
  SECTION("other formats are converted") {
    // Luma is resampled by nothing, so it is exact; uniform chroma stays uniform.
    for (const std::string format : {"yuv422p", "yuv444p", "yuvj444p", "gray"}) {
      INFO(format);
      const bool gray = format == "gray";
      std::vector<cv::Mat> planes = {source_planes.y};
      if (!gray) {
        const std::vector<cv::Mat> uniform = uniform_planes(format, 66, 50, 0, 90, 170);
        planes.push_back(uniform[1]);
        planes.push_back(uniform[2]);
      }
      const ColorInfo info = color(kSmpte170m, format == "yuvj444p" ? kFull : kLimited);
      const Picture picture = make_picture(format, 65, 49, planes, info);
      std::vector<uint8_t> out(yuv420p_size(64, 48));
      converter.copy_to_yuv420p(picture.image, out.data());
      const Yuv420p out_planes = planes_of(out, 64, 48);
      CHECK(max_difference(out_planes.y, source_planes.y(cv::Rect(0, 0, 64, 48))) == 0);
      CHECK(cv::countNonZero(out_planes.u != (gray ? 128 : 90)) == 0);
      CHECK(cv::countNonZero(out_planes.v != (gray ? 128 : 170)) == 0);
    }
    // RGB goes through the same matrix as to_yuv420p.
    const Picture rgb =
        make_picture("rgb24", 66, 50, {packed_rgb(frame, "rgb")}, color(kBt709, kLimited));
    std::vector<uint8_t> from_rgb(yuv420p_size(66, 50));
    converter.copy_to_yuv420p(rgb.image, from_rgb.data());
    std::vector<uint8_t> from_bgr(yuv420p_size(66, 50));
    converter.to_yuv420p(frame, color(kBt709, kLimited), from_bgr.data());
    const cv::Mat a(1, static_cast<int>(from_rgb.size()), CV_8UC1, from_rgb.data());
    const cv::Mat b(1, static_cast<int>(from_bgr.size()), CV_8UC1, from_bgr.data());
    CHECK(max_difference(a, b) <= 1);
  }
  SECTION("a one-pixel side is doubled") {
    for (const cv::Size size : {cv::Size(1, 1), cv::Size(3, 1), cv::Size(1, 5)}) {
      INFO(size);
      const Picture picture =
          make_picture("yuv420p", size.width, size.height,
                       uniform_planes("yuv420p", size.width, size.height, 100, 110, 120));
      const cv::Size even(std::max(2, size.width / 2 * 2), std::max(2, size.height / 2 * 2));
      std::vector<uint8_t> out(yuv420p_size(even.width, even.height) + 16, 0xEE);
      converter.copy_to_yuv420p(picture.image, out.data());
      const std::size_t luma = static_cast<std::size_t>(even.width) * even.height;
      for (std::size_t i = 0; i < luma; ++i) CHECK(int(out[i]) == 100);
      CHECK(std::count(out.end() - 16, out.end(), 0xEE) == 16);
    }
  }
}

TEST_CASE("conversions stay inside their output buffers", "[convert]") {
  FrameConverter converter;
  for (int width = 2; width <= 40; width += 2) {
    for (const int height : {2, 6, 18}) {
      INFO(width << "x" << height);
      const cv::Mat frame = smooth_frame({width, height});
      std::vector<uint8_t> out(yuv420p_size(width, height) + 64, 0xEE);
      converter.to_yuv420p(frame, color(kBt709, kLimited), out.data());
      CHECK(std::count(out.end() - 64, out.end(), 0xEE) == 64);
      const Picture rgb = make_picture("rgb24", width + 1, height + 1,
                                       {packed_rgb(smooth_frame({width + 1, height + 1}), "rgb")});
      converter.copy_to_yuv420p(rgb.image, out.data());
      CHECK(std::count(out.end() - 64, out.end(), 0xEE) == 64);
    }
  }
}

TEST_CASE("conversions are deterministic and honour colour changes on a cached context",
          "[convert]") {
  const cv::Mat frame = smooth_frame({96, 64});
  std::vector<uint8_t> source(yuv420p_size(96, 64));
  FrameConverter first;
  first.to_yuv420p(frame, color(kBt709, kLimited), source.data());
  const Picture bt709 = yuv420p_picture(source, 96, 64, color(kBt709, kLimited));
  const Picture bt601 = yuv420p_picture(source, 96, 64, color(kSmpte170m, kLimited));
  const Picture full = yuv420p_picture(source, 96, 64, color(kBt709, kFull));

  const cv::Mat reference = first.to_bgr(bt709.image);
  CHECK(max_difference(first.to_bgr(bt601.image), reference) > 5);
  CHECK(max_difference(first.to_bgr(full.image), reference) > 5);
  CHECK(max_difference(first.to_bgr(bt709.image), reference) == 0);

  FrameConverter second;
  CHECK(max_difference(second.to_bgr(bt709.image), reference) == 0);
  std::vector<uint8_t> again(yuv420p_size(96, 64));
  second.to_yuv420p(frame, color(kSmpte170m, kFull), again.data());
  second.to_yuv420p(frame, color(kBt709, kLimited), again.data());
  CHECK(again == source);
}

TEST_CASE("bad pictures are refused with std::invalid_argument", "[convert]") {
  FrameConverter converter;
  std::vector<uint8_t> buffer(yuv420p_size(8, 8));
  Picture picture = yuv420p_picture(buffer, 8, 8, {});

  SECTION("unknown or unconvertible pixel formats") {
    picture.image.pixel_format = "nosuchformat";
    CHECK_THROWS_WITH(converter.to_bgr(picture.image),
                      Catch::Matchers::Contains("unknown pixel format 'nosuchformat'"));
    CHECK_THROWS_AS(converter.copy_to_yuv420p(picture.image, buffer.data()), std::invalid_argument);
    picture.image.pixel_format = "vaapi";
    CHECK_THROWS_AS(converter.to_bgr(picture.image), std::invalid_argument);
  }
  SECTION("missing planes and impossible sizes") {
    picture.image.data[2] = nullptr;
    CHECK_THROWS_AS(converter.to_bgr(picture.image), std::invalid_argument);
    CHECK_THROWS_AS(converter.copy_to_yuv420p(picture.image, buffer.data()), std::invalid_argument);
    picture = yuv420p_picture(buffer, 8, 8, {});
    picture.image.width = 0;
    CHECK_THROWS_AS(converter.to_bgr(picture.image), std::invalid_argument);
    picture.image.width = 100000;
    CHECK_THROWS_AS(converter.to_bgr(picture.image), std::invalid_argument);
  }
  SECTION("to_yuv420p needs even 8-bit BGR or gray") {
    CHECK_THROWS_AS(converter.to_yuv420p(cv::Mat(7, 8, CV_8UC3), {}, buffer.data()),
                    std::invalid_argument);
    CHECK_THROWS_AS(converter.to_yuv420p(cv::Mat(8, 8, CV_32FC3), {}, buffer.data()),
                    std::invalid_argument);
    CHECK_THROWS_AS(converter.to_yuv420p(cv::Mat(), {}, buffer.data()), std::invalid_argument);
  }
}
