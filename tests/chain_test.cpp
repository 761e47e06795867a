// Tests of the chain grammar, without pixels: the catalogue, the parser and its error messages,
// canonical text, and the geometry (output size, sample aspect, pass-through, plan_output).
#include <cstddef>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "framepipe/chain/chain.hpp"
#include "framepipe/chain/geometry.hpp"

namespace framepipe::chain {

// For Catch's messages.
std::ostream& operator<<(std::ostream& out, const Size& size) {
  return out << size.width << "x" << size.height;
}
std::ostream& operator<<(std::ostream& out, const SampleAspect& aspect) {
  return out << aspect.num << ":" << aspect.den;
}

}  // namespace framepipe::chain

namespace {

using framepipe::chain::ChainSpec;
using framepipe::chain::FilterStep;
using framepipe::chain::parse_chain;
using framepipe::chain::Size;

const std::vector<std::string> kAllFilters = {"copy",     "grayscale", "blur",  "sharpen",
                                              "edges",    "invert",    "sepia", "pixelate",
                                              "faceblur", "scale",     "rotate"};

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

}  // namespace

TEST_CASE("the catalogue lists every filter once, in a stable order", "[chain]") {
  const auto& catalogue = framepipe::chain::catalogue();
  REQUIRE(catalogue.size() == kAllFilters.size());
  for (std::size_t i = 0; i < kAllFilters.size(); ++i) {
    CHECK(catalogue[i].name == kAllFilters[i]);
    CHECK_FALSE(catalogue[i].help.empty());
    REQUIRE(framepipe::chain::find_filter(kAllFilters[i]) == &catalogue[i]);
    for (const auto& param : catalogue[i].params) {
      CHECK_FALSE(param.help.empty());
      CHECK(param.min <= param.default_value);
      CHECK(param.default_value <= param.max);
    }
  }
  CHECK(framepipe::chain::find_filter("nosuchfilter") == nullptr);
  CHECK(framepipe::chain::find_filter("") == nullptr);
}

TEST_CASE("catalogue_json describes every filter and parameter", "[chain]") {
  const auto json = nlohmann::json::parse(framepipe::chain::catalogue_json());
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

TEST_CASE("parse_chain accepts the documented forms", "[chain]") {
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

TEST_CASE("parse_chain explains every error and never throws", "[chain]") {
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

TEST_CASE("canonical writes every parameter and parses back to the same chain", "[chain]") {
  CHECK(framepipe::chain::canonical(parsed("blur,edges")) == "blur=sigma=2,edges=low=100:high=200");
  CHECK(framepipe::chain::canonical(parsed("")) == "copy");
  CHECK(framepipe::chain::canonical({}) == "copy");
  CHECK(framepipe::chain::canonical(parsed("scale=640")) == "scale=width=640:height=-1");
  CHECK(framepipe::chain::canonical(parsed(" rotate = 270 ")) == "rotate=angle=270");

  for (const std::string& text :
       {std::string("copy,grayscale,blur=0.1,sharpen=3.25:sigma=7,edges=0.5:high=999.5,invert,"
                    "sepia,pixelate=511,faceblur=strength=0.3:min_size=40,scale=height=1080,"
                    "rotate=180"),
        std::string("blur=0.30000000000000004,blur=99.99999999999999,sharpen=amount=1e-300"),
        std::string("scale=width=0:height=720")}) {
    const ChainSpec chain = parsed(text);
    const std::string canonical = framepipe::chain::canonical(chain);
    INFO(canonical);
    CHECK(same_chain(parsed(canonical), chain));
    CHECK(framepipe::chain::canonical(parsed(canonical)) == canonical);
  }

  // Awkward doubles survive the trip bit for bit.
  FilterStep step{"blur", {{"sigma", 1.0 / 3.0}}};
  const ChainSpec reparsed = parsed(framepipe::chain::canonical({step}));
  CHECK(reparsed[0].param("sigma") == 1.0 / 3.0);
}

TEST_CASE("FilterStep::param falls back to the catalogue default", "[chain]") {
  const FilterStep partial{"sharpen", {{"amount", 3}}};
  CHECK(partial.param("amount") == 3);
  CHECK(partial.param("sigma") == 1);
  CHECK_THROWS_AS(partial.param("nosuchparam"), std::out_of_range);
}

TEST_CASE("is_identity is true only for chains of copy", "[chain]") {
  CHECK(framepipe::chain::is_identity(parsed("")));
  CHECK(framepipe::chain::is_identity(parsed("copy")));
  CHECK(framepipe::chain::is_identity(parsed("copy, copy")));
  CHECK(framepipe::chain::is_identity({}));
  CHECK_FALSE(framepipe::chain::is_identity(parsed("copy,invert")));
  CHECK_FALSE(framepipe::chain::is_identity(parsed("rotate=180")));
  CHECK_FALSE(framepipe::chain::is_identity(parsed("blur")));
}

TEST_CASE("output_size follows scale and rotate and is always even", "[chain]") {
  using framepipe::chain::output_size;
  CHECK(output_size(parsed("copy"), {1920, 1080}) == Size{1920, 1080});
  CHECK(output_size(parsed("copy"), {641, 481}) == Size{640, 480});
  CHECK(output_size(parsed("copy"), {1, 1}) == Size{2, 2});
  CHECK(output_size(parsed("copy"), {0, 0}) == Size{2, 2});
  CHECK(output_size(parsed("blur,edges,invert"), {33, 17}) == Size{32, 16});
  CHECK(output_size(parsed("rotate=90"), {1920, 1080}) == Size{1080, 1920});
  CHECK(output_size(parsed("rotate=270"), {641, 360}) == Size{360, 640});
  CHECK(output_size(parsed("rotate=180"), {640, 360}) == Size{640, 360});
  CHECK(output_size(parsed("rotate,rotate"), {640, 360}) == Size{640, 360});
  // Aspect ratio kept with -1 or 0; the derived side is rounded to the nearest even value.
  CHECK(output_size(parsed("scale=1280"), {1920, 1080}) == Size{1280, 720});
  CHECK(output_size(parsed("scale=width=-1:height=720"), {1920, 1080}) == Size{1280, 720});
  CHECK(output_size(parsed("scale=width=0:height=480"), {1920, 1080}) == Size{854, 480});
  CHECK(output_size(parsed("scale=640"), {1000, 333}) == Size{640, 214});
  CHECK(output_size(parsed("scale=width=101:height=51"), {640, 480}) == Size{100, 50});
  CHECK(output_size(parsed("scale=width=640:height=480"), {3, 3}) == Size{640, 480});
  // Scaling after a rotation uses the rotated size.
  CHECK(output_size(parsed("rotate=90,scale=width=540"), {1920, 1080}) == Size{540, 960});
  // Extreme aspect ratios are clamped, never unbounded.
  CHECK(output_size(parsed("scale=8192"), {16, 8192}) == Size{8192, 8192});
  CHECK(output_size(parsed("scale=16"), {8192, 16}) == Size{16, 2});
}

TEST_CASE("the output's pixel shape keeps the picture's display shape", "[chain]") {
  using framepipe::chain::SampleAspect;
  const auto aspect = [](const char* chain, Size input, SampleAspect in) {
    auto parsed = framepipe::chain::parse_chain(chain);
    REQUIRE(parsed.ok());
    return framepipe::chain::output_sample_aspect(parsed.chain, input, in);
  };
  const Size sd{720, 576};
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

TEST_CASE("only chains that leave yuv420p frames as they are skip the workers", "[chain]") {
  const auto passes = [](const char* chain, const char* format, Size input) {
    auto parsed = framepipe::chain::parse_chain(chain);
    REQUIRE(parsed.ok());
    return framepipe::chain::passes_through(parsed.chain, format, input);
  };
  CHECK(passes("copy", "yuv420p", {1280, 720}));
  CHECK(passes("copy,copy", "yuv420p", {1280, 720}));
  CHECK_FALSE(passes("copy", "yuv422p", {1280, 720}));  // workers convert it
  CHECK_FALSE(passes("copy", "yuv420p", {1281, 720}));  // the output is cropped to even
  CHECK_FALSE(passes("invert", "yuv420p", {1280, 720}));
}

TEST_CASE("plan_output gives the size, sample aspect and pass-through of a job", "[chain]") {
  using framepipe::chain::OutputPlan;
  using framepipe::chain::SampleAspect;
  const auto plan = [](const char* chain, Size input, SampleAspect aspect, const char* format) {
    auto parsed = parse_chain(chain);
    REQUIRE(parsed.ok());
    return framepipe::chain::plan_output(parsed.chain, {input, aspect, format});
  };
  const OutputPlan copy = plan("copy", {1280, 720}, {1, 1}, "yuv420p");
  CHECK(copy.size == Size{1280, 720});
  CHECK(copy.sample_aspect == SampleAspect{1, 1});
  CHECK(copy.passes_through);
  // A quarter turn swaps the sides and inverts the pixel shape; the frames need a worker.
  const OutputPlan turned = plan("rotate=90", {720, 576}, {16, 15}, "yuv420p");
  CHECK(turned.size == Size{576, 720});
  CHECK(turned.sample_aspect == SampleAspect{15, 16});
  CHECK_FALSE(turned.passes_through);
  // Odd sides are cropped to even, unknown pixel shapes stay unknown, other formats need a worker.
  const OutputPlan odd = plan("copy", {641, 481}, {0, 1}, "yuv420p");
  CHECK(odd.size == Size{640, 480});
  CHECK(odd.sample_aspect == SampleAspect{0, 1});
  CHECK_FALSE(odd.passes_through);
  CHECK_FALSE(plan("copy", {1280, 720}, {1, 1}, "rgb24").passes_through);
  const OutputPlan scaled = plan("scale=width=360:height=576", {720, 576}, {16, 15}, "yuv420p");
  CHECK(scaled.size == Size{360, 576});
  CHECK(scaled.sample_aspect == SampleAspect{32, 15});
}
