// Tests of the filter chain: the parser and its error messages, canonical text, output sizes, and
// every filter's pixels on colour, gray and odd-sized frames.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "framepipe/worker/filters.hpp"

namespace {

using framepipe::filters::Chain;
using framepipe::filters::ChainSpec;
using framepipe::filters::FilterStep;
using framepipe::filters::parse_chain;

const std::vector<std::string> kAllFilters = {"copy",     "grayscale", "blur",  "sharpen",
                                              "edges",    "invert",    "sepia", "pixelate",
                                              "faceblur", "scale",     "rotate"};

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

std::string error_of(const std::string& text) {
  const auto result = parse_chain(text);
  INFO(text);
  REQUIRE_FALSE(result.ok());
  CHECK(result.chain.empty());
  return result.error;
}

bool same_chain(const ChainSpec& a, const ChainSpec& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].params != b[i].params) return false;
  }
  return true;
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

TEST_CASE("the catalogue lists every filter once, in a stable order", "[filters]") {
  const auto& catalogue = framepipe::filters::catalogue();
  REQUIRE(catalogue.size() == kAllFilters.size());
  for (std::size_t i = 0; i < kAllFilters.size(); ++i) {
    CHECK(catalogue[i].name == kAllFilters[i]);
    CHECK_FALSE(catalogue[i].help.empty());
    REQUIRE(framepipe::filters::find_filter(kAllFilters[i]) == &catalogue[i]);
    for (const auto& param : catalogue[i].params) {
      CHECK_FALSE(param.help.empty());
      CHECK(param.min <= param.default_value);
      CHECK(param.default_value <= param.max);
    }
  }
  CHECK(framepipe::filters::find_filter("nosuchfilter") == nullptr);
  CHECK(framepipe::filters::find_filter("") == nullptr);
}

TEST_CASE("catalogue_json describes every filter and parameter", "[filters]") {
  const auto json = nlohmann::json::parse(framepipe::filters::catalogue_json());
  REQUIRE(json.is_array());
  REQUIRE(json.size() == kAllFilters.size());
  for (std::size_t i = 0; i < json.size(); ++i) {
    CHECK(json[i]["name"] == kAllFilters[i]);
    CHECK(json[i]["help"].is_string());
    REQUIRE(json[i]["params"].is_array());
    for (const auto& param : json[i]["params"]) {
      for (const char* key : {"name", "type", "default", "min", "max", "choices", "help"}) {
        CHECK(param.contains(key));
      }
      CHECK((param["type"] == "integer" || param["type"] == "number"));
      if (param["type"] == "integer") {
        CHECK(param["default"].is_number_integer());
        CHECK(param["min"].is_number_integer());
      }
    }
  }
  const auto& blur = json[2]["params"][0];
  CHECK(blur["name"] == "sigma");
  CHECK(blur["type"] == "number");
  CHECK(blur["default"] == 2.0);
  CHECK(blur["min"] == 0.1);
  CHECK(blur["max"] == 100.0);
  CHECK(blur["choices"].empty());
  const auto& angle = json[10]["params"][0];
  CHECK(angle["choices"] == nlohmann::json::array({90, 180, 270}));
  CHECK(json[7]["params"][0]["default"].dump() == "16");
}

TEST_CASE("parse_chain accepts the documented forms", "[filters]") {
  SECTION("empty or blank text means copy") {
    for (const char* text : {"", "   ", "\t\n "}) {
      const ChainSpec chain = parsed(text);
      REQUIRE(chain.size() == 1);
      CHECK(chain[0].name == "copy");
      CHECK(chain[0].params.empty());
    }
  }
  SECTION("defaults are filled in, in catalogue order") {
    const ChainSpec chain = parsed("edges");
    REQUIRE(chain.size() == 1);
    REQUIRE(chain[0].params.size() == 2);
    CHECK(chain[0].params[0] == std::pair<std::string, double>("low", 100));
    CHECK(chain[0].params[1] == std::pair<std::string, double>("high", 200));
    CHECK(parsed("blur")[0].param("sigma") == 2);
  }
  SECTION("the first value may omit its key") {
    CHECK(parsed("blur=3")[0].param("sigma") == 3);
    CHECK(parsed("blur=sigma=3")[0].param("sigma") == 3);
    const FilterStep sharpen = parsed("sharpen=2.5:sigma=0.5")[0];
    CHECK(sharpen.param("amount") == 2.5);
    CHECK(sharpen.param("sigma") == 0.5);
    const FilterStep reordered = parsed("sharpen=sigma=0.5:amount=2.5")[0];
    CHECK(reordered.params == sharpen.params);
  }
  SECTION("whitespace around tokens is tolerated") {
    const ChainSpec chain = parsed("  blur = sigma = 3 ,  edges= low =10 : high= 20 , invert ");
    REQUIRE(chain.size() == 3);
    CHECK(chain[0].param("sigma") == 3);
    CHECK(chain[1].param("low") == 10);
    CHECK(chain[1].param("high") == 20);
    CHECK(chain[2].name == "invert");
  }
  SECTION("numbers in several spellings") {
    CHECK(parsed("blur=1e1")[0].param("sigma") == 10);
    CHECK(parsed("blur=.5")[0].param("sigma") == 0.5);
    CHECK(parsed("blur=+4")[0].param("sigma") == 4);
    CHECK(parsed("pixelate=16.0")[0].param("block") == 16);
    CHECK(parsed("scale=-1:height=480")[0].param("width") == -1);
    CHECK(parsed("scale=width=640:height=0")[0].param("height") == 0);
  }
  SECTION("a long chain of every filter") {
    const ChainSpec chain =
        parsed("copy,grayscale,blur,sharpen,edges,invert,sepia,pixelate,faceblur,scale=320,rotate");
    REQUIRE(chain.size() == kAllFilters.size());
    for (std::size_t i = 0; i < chain.size(); ++i) CHECK(chain[i].name == kAllFilters[i]);
  }
  SECTION("limits are inclusive") {
    CHECK(parsed("blur=0.1")[0].param("sigma") == 0.1);
    CHECK(parsed("blur=100")[0].param("sigma") == 100);
    CHECK(parsed("pixelate=2")[0].param("block") == 2);
    CHECK(parsed("pixelate=512")[0].param("block") == 512);
    CHECK(parsed("scale=16:height=8192")[0].param("height") == 8192);
    CHECK(parsed("edges=low=150:high=150")[0].param("low") == 150);
    std::string many = "copy";
    for (int i = 1; i < 32; ++i) many += ",copy";
    CHECK(parsed(many).size() == 32);
  }
}

TEST_CASE("parse_chain explains every error and never throws", "[filters]") {
  using Catch::Matchers::Contains;
  using Catch::Matchers::Equals;

  CHECK_THAT(error_of("nosuchfilter"),
             Equals("unknown filter 'nosuchfilter'; valid filters: copy, grayscale, blur, "
                    "sharpen, edges, invert, sepia, pixelate, faceblur, scale, rotate"));
  CHECK_THAT(error_of("blur,Blur"), Contains("unknown filter 'Blur'"));
  CHECK_THAT(error_of("blur=abc"), Equals("blur: parameter 'sigma' must be a number, got 'abc'"));
  CHECK_THAT(error_of("blur=3x"), Contains("must be a number, got '3x'"));
  CHECK_THAT(error_of("blur=inf"), Contains("must be a number"));
  CHECK_THAT(error_of("blur=nan"), Contains("must be a number"));
  CHECK_THAT(error_of("blur=0x10"), Contains("must be a number"));
  CHECK_THAT(error_of("blur=nosuchparam=3"),
             Equals("blur: unknown parameter 'nosuchparam'; valid parameters: sigma"));
  CHECK_THAT(error_of("sharpen=radius=3"), Contains("valid parameters: amount, sigma"));
  CHECK_THAT(error_of("blur=200"),
             Equals("blur: parameter 'sigma' must be between 0.1 and 100, got '200'"));
  CHECK_THAT(error_of("blur=0"), Contains("between 0.1 and 100"));
  CHECK_THAT(error_of("edges=low=-1"), Contains("between 0 and 1000"));
  CHECK_THAT(error_of("pixelate=2.5"),
             Equals("pixelate: parameter 'block' must be an integer, got '2.5'"));
  CHECK_THAT(error_of("pixelate=1"), Contains("between 2 and 512"));
  CHECK_THAT(error_of("scale=width=abc"), Contains("must be an integer, got 'abc'"));
  CHECK_THAT(error_of("rotate=45"),
             Equals("rotate: parameter 'angle' must be one of 90, 180, 270, got '45'"));
  CHECK_THAT(error_of("rotate=90.5"), Contains("must be an integer"));
  CHECK_THAT(error_of("blur=sigma=2:sigma=3"),
             Equals("blur: parameter 'sigma' is given more than once"));
  CHECK_THAT(error_of("blur=2:sigma=3"), Contains("more than once"));
  CHECK_THAT(error_of("sharpen=amount=2:3"),
             Contains("value '3' has no key; only the first value may omit it"));
  CHECK_THAT(error_of("copy=3"), Equals("copy: takes no parameters, got '3'"));
  CHECK_THAT(error_of("invert=x=1"), Contains("takes no parameters"));
  CHECK_THAT(error_of("blur="), Contains("'=' must be followed by a value"));
  CHECK_THAT(error_of("blur=sigma="), Equals("blur: parameter 'sigma' has no value"));
  CHECK_THAT(error_of("blur=sigma=3:"), Contains("empty parameter"));
  CHECK_THAT(error_of("blur==3"), Contains("parameter name missing"));
  CHECK_THAT(error_of("=3"), Contains("step 1 has no filter name; valid filters: copy"));
  CHECK_THAT(error_of("blur,,invert"), Contains("step 2 is empty"));
  CHECK_THAT(error_of("blur,"), Contains("step 2 is empty"));
  CHECK_THAT(error_of(","), Contains("step 1 is empty"));
  CHECK_THAT(error_of("edges=low=300"), Equals("edges: 'low' (300) must not exceed 'high' (200)"));
  CHECK_THAT(error_of("scale"), Contains("scale: give 'width' or 'height'"));
  CHECK_THAT(error_of("scale=0:height=-1"), Contains("not for both"));
  CHECK_THAT(error_of("scale=8"),
             Equals("scale: parameter 'width' must be between 16 and 8192, or 0 or -1 to keep "
                    "the aspect ratio, got '8'"));
  CHECK_THAT(error_of("scale=width=640:height=9000"), Contains("between 16 and 8192"));
  CHECK_THAT(error_of("scale=-2"), Contains("between 16 and 8192"));

  SECTION("limits on size") {
    std::string steps = "copy";
    for (int i = 1; i < 33; ++i) steps += ",copy";
    CHECK_THAT(error_of(steps), Equals("filter chain has too many steps (33); the limit is 32"));
    CHECK_THAT(error_of(std::string(1025, ' ')),
               Equals("filter chain is too long (1025 characters); the limit is 1024"));
    CHECK(parse_chain(std::string(1024, ' ')).ok());
  }
  SECTION("quoted user text is short and printable") {
    const std::string error = error_of("bl\x01ur\xff" + std::string(100, 'x'));
    CHECK_THAT(error, Contains("unknown filter 'bl?ur?xxx"));
    CHECK_THAT(error, Contains("...'"));
    CHECK(error.size() < 200);
    CHECK_NOTHROW(nlohmann::json(error).dump());
  }
  SECTION("hostile input never throws") {
    for (const char* text :
         {"=", ":", "==", "=:=", ",,,", "blur=::", "blur=:3", "a=b=c=d", "blur=1e999", "blur=-",
          "blur=+", "blur=1e", "scale=1e10", "pixelate=9223372036854775808", "rotate=-0", "\0"}) {
      CHECK_NOTHROW(parse_chain(text));
    }
  }
}

TEST_CASE("canonical writes every parameter and parses back to the same chain", "[filters]") {
  CHECK(framepipe::filters::canonical(parsed("blur,edges")) ==
        "blur=sigma=2,edges=low=100:high=200");
  CHECK(framepipe::filters::canonical(parsed("")) == "copy");
  CHECK(framepipe::filters::canonical({}) == "copy");
  CHECK(framepipe::filters::canonical(parsed("scale=640")) == "scale=width=640:height=-1");
  CHECK(framepipe::filters::canonical(parsed(" rotate = 270 ")) == "rotate=angle=270");

  for (const std::string& text :
       {std::string("copy,grayscale,blur=0.1,sharpen=3.25:sigma=7,edges=0.5:high=999.5,invert,"
                    "sepia,pixelate=511,faceblur=strength=0.3:min_size=40,scale=height=1080,"
                    "rotate=180"),
        std::string("blur=0.30000000000000004,blur=99.99999999999999,sharpen=amount=1e-300"),
        std::string("scale=width=0:height=720")}) {
    const ChainSpec chain = parsed(text);
    const std::string canonical = framepipe::filters::canonical(chain);
    INFO(canonical);
    CHECK(same_chain(parsed(canonical), chain));
    CHECK(framepipe::filters::canonical(parsed(canonical)) == canonical);
  }

  // Awkward doubles survive the trip bit for bit.
  FilterStep step{"blur", {{"sigma", 1.0 / 3.0}}};
  const ChainSpec reparsed = parsed(framepipe::filters::canonical({step}));
  CHECK(reparsed[0].param("sigma") == 1.0 / 3.0);
}

TEST_CASE("FilterStep::param falls back to the catalogue default", "[filters]") {
  const FilterStep partial{"sharpen", {{"amount", 3}}};
  CHECK(partial.param("amount") == 3);
  CHECK(partial.param("sigma") == 1);
  CHECK_THROWS_AS(partial.param("nosuchparam"), std::out_of_range);
}

TEST_CASE("is_identity is true only for chains of copy", "[filters]") {
  CHECK(framepipe::filters::is_identity(parsed("")));
  CHECK(framepipe::filters::is_identity(parsed("copy")));
  CHECK(framepipe::filters::is_identity(parsed("copy, copy")));
  CHECK(framepipe::filters::is_identity({}));
  CHECK_FALSE(framepipe::filters::is_identity(parsed("copy,invert")));
  CHECK_FALSE(framepipe::filters::is_identity(parsed("rotate=180")));
  CHECK_FALSE(framepipe::filters::is_identity(parsed("blur")));
}

TEST_CASE("output_size follows scale and rotate and is always even", "[filters]") {
  using framepipe::filters::output_size;
  CHECK(output_size(parsed("copy"), {1920, 1080}) == cv::Size(1920, 1080));
  CHECK(output_size(parsed("copy"), {641, 481}) == cv::Size(640, 480));
  CHECK(output_size(parsed("copy"), {1, 1}) == cv::Size(2, 2));
  CHECK(output_size(parsed("copy"), {0, 0}) == cv::Size(2, 2));
  CHECK(output_size(parsed("blur,edges,invert"), {33, 17}) == cv::Size(32, 16));
  CHECK(output_size(parsed("rotate=90"), {1920, 1080}) == cv::Size(1080, 1920));
  CHECK(output_size(parsed("rotate=270"), {641, 360}) == cv::Size(360, 640));
  CHECK(output_size(parsed("rotate=180"), {640, 360}) == cv::Size(640, 360));
  CHECK(output_size(parsed("rotate,rotate"), {640, 360}) == cv::Size(640, 360));
  // Aspect ratio kept with -1 or 0; the derived side is rounded to the nearest even value.
  CHECK(output_size(parsed("scale=1280"), {1920, 1080}) == cv::Size(1280, 720));
  CHECK(output_size(parsed("scale=width=-1:height=720"), {1920, 1080}) == cv::Size(1280, 720));
  CHECK(output_size(parsed("scale=width=0:height=480"), {1920, 1080}) == cv::Size(854, 480));
  CHECK(output_size(parsed("scale=640"), {1000, 333}) == cv::Size(640, 214));
  CHECK(output_size(parsed("scale=width=101:height=51"), {640, 480}) == cv::Size(100, 50));
  CHECK(output_size(parsed("scale=width=640:height=480"), {3, 3}) == cv::Size(640, 480));
  // Scaling after a rotation uses the rotated size.
  CHECK(output_size(parsed("rotate=90,scale=width=540"), {1920, 1080}) == cv::Size(540, 960));
  // Extreme aspect ratios are clamped, never unbounded.
  CHECK(output_size(parsed("scale=8192"), {16, 8192}) == cv::Size(8192, 8192));
  CHECK(output_size(parsed("scale=16"), {8192, 16}) == cv::Size(16, 2));
}

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
        CHECK(output.size() == framepipe::filters::output_size(chain.spec(), size));
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
      CHECK(chain.apply(test_frame(size)).size() ==
            framepipe::filters::output_size(chain.spec(), size));
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
  Chain second(parsed(framepipe::filters::canonical(parsed(text))));
  const cv::Mat reference = first.apply(frame);
  for (int i = 0; i < 3; ++i) {
    CHECK(identical(first.apply(frame), reference));
    CHECK(identical(second.apply(frame), reference));
  }
}

TEST_CASE("the output's pixel shape keeps the picture's display shape", "[filters]") {
  using framepipe::filters::SampleAspect;
  const auto aspect = [](const char* chain, cv::Size input, SampleAspect in) {
    auto parsed = framepipe::filters::parse_chain(chain);
    REQUIRE(parsed.ok());
    return framepipe::filters::output_sample_aspect(parsed.chain, input, in);
  };
  const cv::Size sd{720, 576};
  CHECK(aspect("copy", sd, {16, 15}) == SampleAspect{16, 15});
  CHECK(aspect("blur,edges", sd, {64, 45}) == SampleAspect{64, 45});
  CHECK(aspect("rotate=angle=90", sd, {16, 15}) == SampleAspect{15, 16});
  CHECK(aspect("rotate=angle=180", sd, {16, 15}) == SampleAspect{16, 15});
  CHECK(aspect("rotate=angle=90", {480, 480}, {4, 3}) == SampleAspect{3, 4});  // square frame
  // 720x576 at 16:15 is shown 4:3; at 360x576 each pixel must be twice as wide.
  CHECK(aspect("scale=width=360:height=576", sd, {16, 15}) == SampleAspect{32, 15});
  // Keeping the pixel proportions keeps the pixel shape.
  CHECK(aspect("scale=width=360:height=-1", sd, {16, 15}) == SampleAspect{16, 15});
  CHECK(aspect("copy", sd, {0, 1}) == SampleAspect{0, 1});      // unknown stays unknown
  CHECK(aspect("copy", sd, {32, 30}) == SampleAspect{16, 15});  // reduced
}

TEST_CASE("only chains that leave yuv420p frames as they are skip the workers", "[filters]") {
  const auto passes = [](const char* chain, const char* format, cv::Size input) {
    auto parsed = framepipe::filters::parse_chain(chain);
    REQUIRE(parsed.ok());
    return framepipe::filters::passes_through(parsed.chain, format, input);
  };
  CHECK(passes("copy", "yuv420p", {1280, 720}));
  CHECK(passes("copy,copy", "yuv420p", {1280, 720}));
  CHECK_FALSE(passes("copy", "yuv422p", {1280, 720}));  // workers convert it
  CHECK_FALSE(passes("copy", "yuv420p", {1281, 720}));  // the output is cropped to even
  CHECK_FALSE(passes("invert", "yuv420p", {1280, 720}));
}
