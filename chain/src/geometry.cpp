#include "framepipe/chain/geometry.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

namespace framepipe::chain {
namespace {

Size scaled_size(const FilterStep& step, Size input) {
  const double width = step.param("width");
  const double height = step.param("height");
  if (width <= 0 && height <= 0) return input;
  const double input_width = std::max(1, input.width);
  const double input_height = std::max(1, input.height);
  // Explicit sides are rounded down to even, derived ones to the nearest even value.
  const auto even_down = [](double side) { return static_cast<int>(side) / 2 * 2; };
  const auto even_nearest = [](double side) { return 2 * static_cast<int>(std::lround(side / 2)); };
  int out_width = 0;
  int out_height = 0;
  if (width > 0 && height > 0) {
    out_width = even_down(width);
    out_height = even_down(height);
  } else if (width > 0) {
    out_width = even_down(width);
    out_height = even_nearest(input_height * width / input_width);
  } else {
    out_height = even_down(height);
    out_width = even_nearest(input_width * height / input_height);
  }
  // A derived side of an extreme aspect ratio is clamped rather than allowed to explode.
  const int max_side = static_cast<int>(kMaxScaleSide);
  return {std::clamp(out_width, 2, max_side), std::clamp(out_height, 2, max_side)};
}

Size step_output_size(const FilterStep& step, Size input) {
  if (step.name == "scale") return scaled_size(step, input);
  if (step.name == "rotate") {
    const double angle = step.param("angle");
    if (angle == 90 || angle == 270) return {input.height, input.width};
  }
  return input;
}

// num/den reduced, kept within int by dropping precision only when it would not fit.
SampleAspect reduced(int64_t num, int64_t den) {
  if (num <= 0 || den <= 0) return {};
  const int64_t divisor = std::gcd(num, den);
  num /= divisor;
  den /= divisor;
  while (num > std::numeric_limits<int>::max() || den > std::numeric_limits<int>::max()) {
    num = std::max<int64_t>(1, num / 2);
    den = std::max<int64_t>(1, den / 2);
  }
  return {static_cast<int>(num), static_cast<int>(den)};
}

// The ratio that shows `to` pixels with the display shape `from` pixels had with `aspect`.
SampleAspect keep_display_shape(SampleAspect aspect, Size from, Size to) {
  if (aspect.num <= 0 || from == to) return aspect;
  return reduced(int64_t{aspect.num} * from.width * to.height,
                 int64_t{aspect.den} * from.height * to.width);
}

}  // namespace

Size output_size(const ChainSpec& chain, Size input) {
  Size size{std::max(0, input.width), std::max(0, input.height)};
  for (const FilterStep& step : chain) size = step_output_size(step, size);
  return {std::max(2, size.width / 2 * 2), std::max(2, size.height / 2 * 2)};
}

SampleAspect output_sample_aspect(const ChainSpec& chain, Size input, SampleAspect input_aspect) {
  if (input_aspect.num <= 0 || input_aspect.den <= 0 || input.width <= 0 || input.height <= 0) {
    return {};
  }
  SampleAspect aspect = reduced(input_aspect.num, input_aspect.den);
  Size size = input;
  for (const FilterStep& step : chain) {
    const Size next = step_output_size(step, size);
    const bool quarter_turn =
        step.name == "rotate" && (step.param("angle") == 90 || step.param("angle") == 270);
    if (quarter_turn) {
      aspect = {aspect.den, aspect.num};
    } else {
      aspect = keep_display_shape(aspect, size, next);
    }
    size = next;
  }
  return keep_display_shape(aspect, size, output_size(chain, input));
}

bool passes_through(const ChainSpec& chain, std::string_view pixel_format, Size input) {
  return is_identity(chain) && pixel_format == "yuv420p" && output_size(chain, input) == input;
}

OutputPlan plan_output(const ChainSpec& chain, const InputGeometry& input) {
  OutputPlan plan;
  plan.size = output_size(chain, input.size);
  plan.sample_aspect = output_sample_aspect(chain, input.size, input.sample_aspect);
  plan.passes_through = passes_through(chain, input.pixel_format, input.size);
  return plan;
}

}  // namespace framepipe::chain
