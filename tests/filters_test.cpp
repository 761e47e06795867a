// Tests of the filters: every filter's pixels on colour, gray and odd-sized frames, the sizes and
// types a compiled chain gives, its validation and determinism.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "framepipe/filters/filters.hpp"

namespace {

using framepipe::chain::ChainSpec;
using framepipe::chain::FilterStep;
using framepipe::chain::parse_chain;
using framepipe::filters::Chain;

// One chain per filter, with non-default parameters where a filter has them.
const std::vector<std::string> kOneOfEach = {"copy",
                                             "grayscale",
                                             "blur=3.5",
                                             "sharpen=amount=2:sigma=1.5",
                                             "edges=50:high=150",
                                             "invert",
                                             "sepia",
                                             "pixelate=block=7",
                                             "faceblur",
                                             "scale=width=320",
                                             "scale=height=90",
                                             "scale=width=100:height=50",
                                             "rotate=90",
                                             "rotate=180",
                                             "rotate=270"};

ChainSpec parsed(const std::string& text) {
  const auto result = parse_chain(text);
  INFO(text << " -> " << result.error);
  REQUIRE(result.ok());
  return result.chain;
}

// The size chain::output_size promises, as OpenCV's.
cv::Size promised_size(const ChainSpec& spec, cv::Size input) {
  using namespace framepipe;
  return filters::to_cv(chain::output_size(spec, filters::from_cv(input)));
}

// A colourful frame with smooth gradients, sharp edges and some texture.
cv::Mat test_frame(cv::Size size) {
  cv::Mat frame(size, CV_8UC3);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      frame.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<uchar>(x * 255 / std::max(1, size.width - 1)),
                    static_cast<uchar>(y * 255 / std::max(1, size.height - 1)),
                    static_cast<uchar>((x * 7 + y * 13) % 256));
    }
  }
  cv::rectangle(frame, cv::Rect(size.width / 4, size.height / 4, size.width / 2, size.height / 2),
                cv::Scalar(20, 200, 240), cv::FILLED);
  cv::circle(frame, cv::Point(size.width / 2, size.height / 2),
             std::min(size.width, size.height) / 5, cv::Scalar(240, 30, 60), cv::FILLED);
  return frame;
}

cv::Mat gray_of(const cv::Mat& bgr) {
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

bool identical(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return false;
  return cv::norm(a, b, cv::NORM_INF) == 0;
}

// A cartoon face the frontal-face cascade detects when `side` is roughly 160..340 px.
cv::Mat face_frame(cv::Size size, int side) {
  cv::Mat frame(size, CV_8UC3, cv::Scalar(60, 70, 80));
  const cv::Point centre(size.width / 2, size.height / 2);
  const auto at = [&](double x, double y) {
    return centre + cv::Point(static_cast<int>(x * side), static_cast<int>(y * side));
  };
  const auto extent = [&](double x, double y) {
    return cv::Size(static_cast<int>(x * side), static_cast<int>(y * side));
  };
  cv::ellipse(frame, at(0, 0.05), extent(0.45, 0.55), 0, 0, 360, cv::Scalar(150, 180, 220),
              cv::FILLED);
  cv::ellipse(frame, at(0, -0.45), extent(0.48, 0.25), 0, 180, 360, cv::Scalar(30, 40, 50),
              cv::FILLED);
  for (const int direction : {-1, 1}) {
    cv::ellipse(frame, at(direction * 0.15, -0.05), extent(0.11, 0.04), 0, 0, 360,
                cv::Scalar(40, 40, 40), cv::FILLED);
    cv::ellipse(frame, at(direction * 0.15, -0.17), extent(0.13, 0.03), 0, 0, 360,
                cv::Scalar(30, 30, 30), cv::FILLED);
  }
  cv::ellipse(frame, at(0, 0.17), extent(0.06, 0.12), 0, 0, 360, cv::Scalar(120, 150, 190),
              cv::FILLED);
  cv::ellipse(frame, at(0, 0.37), extent(0.15, 0.05), 0, 0, 360, cv::Scalar(60, 60, 120),
              cv::FILLED);
  cv::GaussianBlur(frame, frame, cv::Size(), side * 0.02);
  return frame;
}

// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("every filter gives frames of output_size, from colour and gray, odd or even",
          "[filters]") {
  const std::vector<cv::Size> sizes = {{64, 48}, {63, 47}, {17, 9}, {1, 1}, {2, 1}, {5, 2}};
  for (const std::string& text : kOneOfEach) {
    Chain chain(parsed(text));
    for (const cv::Size size : sizes) {
      for (const bool gray : {false, true}) {
        const cv::Mat input = gray ? gray_of(test_frame(size)) : test_frame(size);
        const cv::Mat copy_of_input = input.clone();
        INFO(text << " on " << size << (gray ? " gray" : " colour"));
        const cv::Mat output = chain.apply(input);
        CHECK(output.size() == promised_size(chain.spec(), size));
        CHECK((output.type() == CV_8UC3 || output.type() == CV_8UC1));
        CHECK(output.isContinuous());
        CHECK(identical(input, copy_of_input));      // the input is never modified
        CHECK(output.datastart != input.datastart);  // nor shared with the output
      }
    }
  }
}

TEST_CASE("chains of several filters keep their sizes and types consistent", "[filters]") {
  for (const char* text :
       {"grayscale,blur,sepia", "rotate=90,scale=width=100,rotate=270,edges",
        "grayscale,faceblur,pixelate=3,invert", "scale=height=33,sharpen,rotate=90",
        "edges,scale=width=640:height=480"}) {
    Chain chain(parsed(text));
    for (const cv::Size size : {cv::Size(91, 67), cv::Size(320, 240)}) {
      INFO(text << " on " << size);
      CHECK(chain.apply(test_frame(size)).size() == promised_size(chain.spec(), size));
    }
  }
}

TEST_CASE("filters produce the pixels they promise", "[filters]") {
  const cv::Mat frame = test_frame({64, 48});

  SECTION("copy is identical, odd sizes lose the last column and row") {
    CHECK(identical(Chain(parsed("copy")).apply(frame), frame));
    const cv::Mat odd = test_frame({65, 49});
    CHECK(identical(Chain(parsed("copy")).apply(odd), odd(cv::Rect(0, 0, 64, 48))));
  }
  SECTION("grayscale and edges give one channel") {
    const cv::Mat gray = Chain(parsed("grayscale")).apply(frame);
    CHECK(gray.type() == CV_8UC1);
    CHECK(identical(gray, gray_of(frame)));
    const cv::Mat edges = Chain(parsed("edges")).apply(frame);
    REQUIRE(edges.type() == CV_8UC1);
    CHECK(cv::countNonZero(edges) > 0);
    CHECK(cv::countNonZero(edges == 0) + cv::countNonZero(edges == 255) ==
          static_cast<int>(edges.total()));
  }
  SECTION("invert is 255 - x and keeps the channel count") {
    cv::Mat expected;
    cv::subtract(cv::Scalar::all(255), frame, expected);
    CHECK(identical(Chain(parsed("invert")).apply(frame), expected));
    const cv::Mat gray = gray_of(frame);
    const cv::Mat inverted_gray = Chain(parsed("invert")).apply(gray);
    CHECK(inverted_gray.type() == CV_8UC1);
    CHECK(identical(Chain(parsed("invert,invert")).apply(gray), gray));
  }
  SECTION("blur smooths, a larger sigma more") {
    const auto roughness = [](const cv::Mat& image) {
      cv::Mat laplacian;
      cv::Laplacian(image, laplacian, CV_32F);
      return cv::norm(laplacian, cv::NORM_L1);
    };
    const double original = roughness(frame);
    const double light = roughness(Chain(parsed("blur=1")).apply(frame));
    const double heavy = roughness(Chain(parsed("blur=8")).apply(frame));
    CHECK(light < original);
    CHECK(heavy < light);
    cv::Mat expected;
    cv::GaussianBlur(frame, expected, cv::Size(), 2.0);
    CHECK(identical(Chain(parsed("blur")).apply(frame), expected));
    cv::GaussianBlur(frame, expected, cv::Size(), 11.5);
    CHECK(identical(Chain(parsed("blur=11.5")).apply(frame), expected));
  }
  SECTION("wide blurs run on a reduced copy and stay close to the exact blur") {
    const cv::Mat large = test_frame({400, 300});
    for (const double sigma : {12.0, 30.0, 100.0}) {
      INFO("sigma " << sigma);
      cv::Mat exact;
      cv::GaussianBlur(large, exact, cv::Size(), sigma, sigma);
      const cv::Mat fast = Chain(ChainSpec{FilterStep{"blur", {{"sigma", sigma}}}}).apply(large);
      cv::Mat difference;
      cv::absdiff(fast, exact, difference);
      const int border = static_cast<int>(std::min(3 * sigma, 100.0));
      const cv::Rect inside(border, border, 400 - 2 * border, 300 - 2 * border);
      CHECK(cv::norm(difference(inside), cv::NORM_INF) <= 3);
      // At sigma 100 the whole 400x300 frame is near a border, where reflection differs.
      CHECK(cv::mean(difference.reshape(1))[0] < (sigma < 50 ? 1.0 : 2.5));
    }
  }
  SECTION("sharpen adds contrast at edges, amount 0 changes nothing") {
    CHECK(identical(Chain(parsed("sharpen=0")).apply(frame), frame));
    const cv::Mat sharpened = Chain(parsed("sharpen=3")).apply(frame);
    CHECK_FALSE(identical(sharpened, frame));
    cv::Scalar original_dev;
    cv::Scalar sharpened_dev;
    cv::Scalar unused;
    cv::meanStdDev(frame, unused, original_dev);
    cv::meanStdDev(sharpened, unused, sharpened_dev);
    CHECK(sharpened_dev[2] > original_dev[2]);
  }
  SECTION("sepia tones white and gray warmly, and takes gray input") {
    const cv::Mat white(4, 4, CV_8UC3, cv::Scalar::all(255));
    const cv::Vec3b toned = Chain(parsed("sepia")).apply(white).at<cv::Vec3b>(0, 0);
    CHECK(toned == cv::Vec3b(239, 255, 255));  // B = 0.937 * 255, G and R saturate
    const cv::Mat mid(4, 4, CV_8UC1, cv::Scalar(100));
    const cv::Mat toned_gray = Chain(parsed("sepia")).apply(mid);
    REQUIRE(toned_gray.type() == CV_8UC3);
    const cv::Vec3b pixel = toned_gray.at<cv::Vec3b>(1, 1);
    CHECK(pixel[2] > pixel[1]);
    CHECK(pixel[1] > pixel[0]);
  }
  SECTION("pixelate paints uniform blocks of the block's mean, edges included") {
    const cv::Mat odd = test_frame({70, 45});
    const int block = 16;
    const cv::Mat pixelated = Chain(parsed("pixelate=16")).apply(odd);
    REQUIRE(pixelated.size() == cv::Size(70, 44));
    for (int y = 0; y < 44; y += block) {
      for (int x = 0; x < 70; x += block) {
        const cv::Rect cell = cv::Rect(x, y, block, block) & cv::Rect(0, 0, 70, 44);
        const cv::Rect source_cell = cv::Rect(x, y, block, block) & cv::Rect(0, 0, 70, 45);
        INFO("block at " << x << "," << y);
        const cv::Vec3b first = pixelated.at<cv::Vec3b>(cell.y, cell.x);
        cv::Mat difference;
        cv::absdiff(pixelated(cell), cv::Scalar(first[0], first[1], first[2]), difference);
        CHECK(cv::countNonZero(difference.reshape(1)) == 0);
        const cv::Scalar mean = cv::mean(odd(source_cell));
        for (int c = 0; c < 3; ++c) CHECK(std::abs(first[c] - mean[c]) <= 1.0);
      }
    }
  }
  SECTION("rotate turns clockwise by the angle") {
    const cv::Mat rotated = Chain(parsed("rotate=90")).apply(frame);
    REQUIRE(rotated.size() == cv::Size(48, 64));
    // The top-left pixel goes to the top-right corner.
    CHECK(rotated.at<cv::Vec3b>(0, 47) == frame.at<cv::Vec3b>(0, 0));
    const cv::Mat upside_down = Chain(parsed("rotate=180")).apply(frame);
    CHECK(upside_down.at<cv::Vec3b>(47, 63) == frame.at<cv::Vec3b>(0, 0));
    CHECK(identical(Chain(parsed("rotate=90,rotate=270")).apply(frame), frame));
    CHECK(identical(Chain(parsed("rotate=90,rotate=90,rotate=180")).apply(frame), frame));
  }
  SECTION("scale keeps the aspect ratio with -1 and resamples the content") {
    const cv::Mat large = test_frame({640, 360});
    const cv::Mat half = Chain(parsed("scale=320")).apply(large);
    REQUIRE(half.size() == cv::Size(320, 180));
    cv::Mat expected;
    cv::resize(large, expected, cv::Size(320, 180), 0, 0, cv::INTER_AREA);
    CHECK(identical(half, expected));
    CHECK(Chain(parsed("scale=height=720")).apply(large).size() == cv::Size(1280, 720));
    CHECK(Chain(parsed("scale=width=100:height=300")).apply(large).size() == cv::Size(100, 300));
  }
}

TEST_CASE("faceblur blurs a face and leaves a frame without one alone", "[filters]") {
  Chain chain(parsed("faceblur"));

  for (const auto& [size, side] :
       {std::pair(cv::Size(640, 480), 240), std::pair(cv::Size(1280, 720), 480)}) {
    INFO(size);
    const cv::Mat face = face_frame(size, side);
    const cv::Mat blurred = chain.apply(face);
    REQUIRE(blurred.size() == size);
    cv::Mat difference;
    cv::absdiff(blurred, face, difference);
    const cv::Rect changed = cv::boundingRect(gray_of(difference) > 0);
    // The eyes and mouth are inside the changed area, the frame's corners are not.
    const cv::Point centre(size.width / 2, size.height / 2);
    CHECK(changed.contains(centre + cv::Point(side * 15 / 100, -side * 5 / 100)));
    CHECK(changed.contains(centre + cv::Point(0, side * 37 / 100)));
    CHECK_FALSE(changed.contains(cv::Point(0, 0)));
    CHECK_FALSE(changed.contains(cv::Point(size.width - 1, size.height - 1)));
    // The eye is gone: the darkest pixel near it is much lighter than the drawn eye.
    double darkest = 0;
    const cv::Rect eye(centre + cv::Point(side * 4 / 100, -side * 9 / 100),
                       cv::Size(side * 22 / 100, side * 8 / 100));
    cv::minMaxLoc(gray_of(blurred)(eye), &darkest);
    CHECK(darkest > 80);

    // Gray frames are blurred in gray, and the result is the same every time.
    const cv::Mat gray_blurred = chain.apply(gray_of(face));
    CHECK(gray_blurred.type() == CV_8UC1);
    CHECK_FALSE(identical(gray_blurred, gray_of(face)));
    CHECK(identical(chain.apply(face), blurred));
  }

  const cv::Mat no_face = test_frame({320, 240});
  CHECK(identical(chain.apply(no_face), no_face));
}

TEST_CASE("faceblur needs its cascade and says where it looked", "[filters]") {
  {
    ScopedEnv env("FRAMEPIPE_CASCADE_DIR", "/nonexistent/cascades");
    CHECK_THROWS_WITH(Chain(parsed("faceblur")),
                      Catch::Matchers::Contains("/nonexistent/cascades/"
                                                "haarcascade_frontalface_default.xml") &&
                          Catch::Matchers::Contains("FRAMEPIPE_CASCADE_DIR"));
    CHECK_THROWS_AS(Chain(parsed("faceblur")), std::runtime_error);
    CHECK_NOTHROW(Chain(parsed("blur,edges")));  // only faceblur needs the file
  }
  CHECK_NOTHROW(Chain(parsed("faceblur,faceblur")));
}

TEST_CASE("Chain validates hand-built specs and input frames", "[filters]") {
  CHECK_THROWS_AS(Chain(ChainSpec{FilterStep{"nosuchfilter", {}}}), std::invalid_argument);
  CHECK_THROWS_AS(Chain(ChainSpec{FilterStep{"pixelate", {{"block", 0}}}}), std::invalid_argument);
  CHECK_THROWS_AS(Chain(ChainSpec{FilterStep{"rotate", {{"angle", 45}}}}), std::invalid_argument);

  // Missing parameters take their defaults; an empty spec is a copy.
  const Chain partial(ChainSpec{FilterStep{"sharpen", {{"sigma", 2}}}});
  REQUIRE(partial.spec().size() == 1);
  CHECK(partial.spec()[0].param("amount") == 1);
  CHECK(partial.spec()[0].param("sigma") == 2);
  CHECK(Chain(ChainSpec{}).spec()[0].name == "copy");

  Chain chain(parsed("blur"));
  CHECK_THROWS_AS(chain.apply(cv::Mat()), std::invalid_argument);
  CHECK_THROWS_AS(chain.apply(cv::Mat(4, 4, CV_32FC3)), std::invalid_argument);
  CHECK_THROWS_AS(chain.apply(cv::Mat(4, 4, CV_8UC4)), std::invalid_argument);

  // A moved-from chain's replacement works.
  Chain moved = std::move(chain);
  CHECK(moved.apply(test_frame({8, 8})).size() == cv::Size(8, 8));
}

TEST_CASE("the same frame and chain give the same bytes", "[filters]") {
  const cv::Mat frame = test_frame({200, 150});
  const char* text =
      "sharpen=2,blur=1.5,pixelate=5,sepia,faceblur,scale=width=123,rotate=270,edges=20:high=60";
  Chain first(parsed(text));
  Chain second(parsed(framepipe::chain::canonical(parsed(text))));
  const cv::Mat reference = first.apply(frame);
  for (int i = 0; i < 3; ++i) {
    CHECK(identical(first.apply(frame), reference));
    CHECK(identical(second.apply(frame), reference));
  }
}
