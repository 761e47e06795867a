// The filter catalogue, the chain parser and the canonical text. Nothing here touches pixels; see
// filters/ for that, and geometry.cpp for the sizes a chain makes.
#include "framepipe/chain/chain.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <system_error>

#include <nlohmann/json.hpp>

namespace framepipe::chain {
namespace {

// Limits on untrusted chain text: the http-frontend parses uploads with this code.
constexpr std::size_t kMaxTextLength = 1024;
constexpr std::size_t kMaxSteps = 32;
// How much of a user's token an error message quotes.
constexpr std::size_t kMaxQuotedLength = 40;

ParamSpec number_param(std::string name, double default_value, double min, double max,
                       std::string help) {
  return ParamSpec{std::move(name), ParamType::number, default_value, min, max, {},
                   std::move(help)};
}

ParamSpec integer_param(std::string name, double default_value, double min, double max,
                        std::string help) {
  return ParamSpec{std::move(name), ParamType::integer, default_value, min, max, {},
                   std::move(help)};
}

std::vector<FilterSpec> build_catalogue() {
  std::vector<FilterSpec> filters;
  filters.push_back({"copy", "Passes frames through unchanged.", {}});
  filters.push_back({"grayscale", "Converts to a single-channel gray image (BT.601 luma).", {}});
  filters.push_back({"blur",
                     "Gaussian blur.",
                     {number_param("sigma", 2, 0.1, 100,
                                   "Standard deviation of the Gaussian in pixels; the kernel "
                                   "size follows from it.")}});
  filters.push_back(
      {"sharpen",
       "Unsharp mask: adds back the difference between the frame and a blurred copy.",
       {number_param("amount", 1, 0, 10, "Strength of the sharpening; 0 leaves the frame as is."),
        number_param("sigma", 1, 0.1, 100,
                     "Standard deviation in pixels of the blur that defines the detail.")}});
  filters.push_back(
      {"edges",
       "Canny edge detection on the gray image; white edges on black.",
       {number_param("low", 100, 0, 1000, "Lower hysteresis threshold; must not exceed 'high'."),
        number_param("high", 200, 0, 1000, "Upper hysteresis threshold.")}});
  filters.push_back({"invert", "Photographic negative (255 - value).", {}});
  filters.push_back({"sepia", "Classic sepia tone.", {}});
  filters.push_back({"pixelate",
                     "Replaces each block of pixels by its mean colour.",
                     {integer_param("block", 16, 2, 512, "Side of the square blocks in pixels.")}});
  filters.push_back(
      {"faceblur",
       "Detects frontal faces (Haar cascade) and blurs them.",
       {number_param("strength", 1, 0.1, 10,
                     "Blur strength; 1 blurs with a sigma of one eighth of the face size."),
        integer_param("min_size", 32, 8, 4096,
                      "Smallest face side to look for, in pixels of the frame. Wide frames are "
                      "searched at 640 pixels wide, so faces smaller than about 24 pixels there "
                      "are missed regardless.")}});
  filters.push_back(
      {"scale",
       "Resizes the frame; results are rounded to even sizes.",
       {integer_param("width", -1, -1, kMaxScaleSide,
                      "Width in pixels, 16 to 8192; 0 or -1 keeps the aspect ratio (from "
                      "height)."),
        integer_param("height", -1, -1, kMaxScaleSide,
                      "Height in pixels, 16 to 8192; 0 or -1 keeps the aspect ratio (from "
                      "width).")}});
  ParamSpec angle = integer_param("angle", 90, 90, 270, "Clockwise rotation in degrees.");
  angle.choices = {90, 180, 270};
  filters.push_back({"rotate", "Rotates by a multiple of 90 degrees.", {std::move(angle)}});
  return filters;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

// Error messages quote user text; they end up in logs and JSON, so keep them short and printable
// (invalid UTF-8 would make a JSON encoder throw).
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < kMaxQuotedLength; ++i) {
    const char c = text[i];
    out += (c >= 0x20 && c <= 0x7e) ? c : '?';
  }
  if (text.size() > kMaxQuotedLength) out += "...";
  out += "'";
  return out;
}

// Shortest text that parses back to exactly `value`.
std::string format_number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

template <typename Range, typename Name>
std::string join(const Range& items, Name name) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += name(item);
  }
  return out;
}

std::string valid_filters() {
  return "valid filters: " +
         join(catalogue(), [](const FilterSpec& filter) { return filter.name; });
}

std::string valid_params(const FilterSpec& filter) {
  return "valid parameters: " +
         join(filter.params, [](const ParamSpec& param) { return param.name; });
}

std::optional<double> parse_number(std::string_view text) {
  if (text.size() > 1 && text.front() == '+' && text[1] != '-') text.remove_prefix(1);
  double value = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size() ||
      !std::isfinite(value)) {
    return std::nullopt;
  }
  return value + 0.0;  // -0 becomes 0, so canonical text never shows "-0"
}

// Checks one value against its ParamSpec; returns an error sentence or "".
std::string check_value(const FilterSpec& filter, const ParamSpec& param, double value,
                        std::string_view text) {
  const std::string prefix = filter.name + ": parameter '" + param.name + "' ";
  if (param.type == ParamType::integer && value != std::trunc(value)) {
    return prefix + "must be an integer, got " + quoted(text);
  }
  if (!param.choices.empty()) {
    if (std::find(param.choices.begin(), param.choices.end(), value) == param.choices.end()) {
      return prefix + "must be one of " + join(param.choices, format_number) + ", got " +
             quoted(text);
    }
    return {};
  }
  if (filter.name == "scale") {
    const bool keeps_aspect = value == 0 || value == -1;
    if (!keeps_aspect && (value < kMinScaleSide || value > kMaxScaleSide)) {
      return prefix + "must be between " + format_number(kMinScaleSide) + " and " +
             format_number(kMaxScaleSide) + ", or 0 or -1 to keep the aspect ratio, got " +
             quoted(text);
    }
    return {};
  }
  if (value < param.min || value > param.max) {
    return prefix + "must be between " + format_number(param.min) + " and " +
           format_number(param.max) + ", got " + quoted(text);
  }
  return {};
}

// Rules that involve more than one parameter of a step.
std::string check_step(const FilterStep& step) {
  if (step.name == "edges" && step.param("low") > step.param("high")) {
    return "edges: 'low' (" + format_number(step.param("low")) + ") must not exceed 'high' (" +
           format_number(step.param("high")) + ")";
  }
  if (step.name == "scale" && step.param("width") <= 0 && step.param("height") <= 0) {
    return "scale: give 'width' or 'height' (or both); 0 or -1 keeps the aspect ratio for one "
           "of them, not for both";
  }
  return {};
}

// Parses "name", "name=value" or "name=key=value:key=value" into `step`; returns an error or "".
std::string parse_step(std::string_view text, std::size_t position, FilterStep& step) {
  const std::size_t equals = text.find('=');
  const std::string_view name = trim(text.substr(0, equals));
  if (name.empty()) {
    return "step " + std::to_string(position) + " has no filter name; " + valid_filters();
  }
  const FilterSpec* filter = find_filter(name);
  if (filter == nullptr) return "unknown filter " + quoted(name) + "; " + valid_filters();

  step.name = filter->name;
  std::vector<std::optional<double>> values(filter->params.size());
  if (equals != std::string_view::npos) {
    const std::string_view arguments = trim(text.substr(equals + 1));
    if (filter->params.empty()) {
      return filter->name + ": takes no parameters, got " + quoted(arguments);
    }
    if (arguments.empty()) {
      return filter->name + ": '=' must be followed by a value or key=value pairs; " +
             valid_params(*filter);
    }
    const std::vector<std::string_view> items = split(arguments, ':');
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string_view item = trim(items[i]);
      if (item.empty()) {
        return filter->name + ": empty parameter (a stray ':'); " + valid_params(*filter);
      }
      const std::size_t item_equals = item.find('=');
      std::size_t index = 0;
      std::string_view value_text;
      if (item_equals == std::string_view::npos) {
        if (i != 0) {
          return filter->name + ": value " + quoted(item) +
                 " has no key; only the first value may omit it; " + valid_params(*filter);
        }
        value_text = item;
      } else {
        const std::string_view key = trim(item.substr(0, item_equals));
        value_text = trim(item.substr(item_equals + 1));
        if (key.empty()) {
          return filter->name + ": parameter name missing in " + quoted(item) + "; " +
                 valid_params(*filter);
        }
        const auto found = std::find_if(filter->params.begin(), filter->params.end(),
                                        [&](const ParamSpec& param) { return param.name == key; });
        if (found == filter->params.end()) {
          return filter->name + ": unknown parameter " + quoted(key) + "; " + valid_params(*filter);
        }
        index = static_cast<std::size_t>(found - filter->params.begin());
      }
      const ParamSpec& param = filter->params[index];
      if (values[index]) {
        return filter->name + ": parameter '" + param.name + "' is given more than once";
      }
      if (value_text.empty()) {
        return filter->name + ": parameter '" + param.name + "' has no value";
      }
      const std::optional<double> value = parse_number(value_text);
      if (!value) {
        return filter->name + ": parameter '" + param.name + "' must be " +
               (param.type == ParamType::integer ? "an integer" : "a number") + ", got " +
               quoted(value_text);
      }
      if (std::string error = check_value(*filter, param, *value, value_text); !error.empty()) {
        return error;
      }
      values[index] = value;
    }
  }
  for (std::size_t i = 0; i < filter->params.size(); ++i) {
    step.params.emplace_back(filter->params[i].name,
                             values[i].value_or(filter->params[i].default_value));
  }
  return check_step(step);
}

}  // namespace

const std::vector<FilterSpec>& catalogue() {
  static const std::vector<FilterSpec> filters = build_catalogue();
  return filters;
}

const FilterSpec* find_filter(std::string_view name) {
  for (const FilterSpec& filter : catalogue()) {
    if (filter.name == name) return &filter;
  }
  return nullptr;
}

double FilterStep::param(std::string_view key) const {
  for (const auto& [param_name, value] : params) {
    if (param_name == key) return value;
  }
  // A hand-built step may leave parameters out: they take their defaults.
  if (const FilterSpec* filter = find_filter(name)) {
    for (const ParamSpec& spec : filter->params) {
      if (spec.name == key) return spec.default_value;
    }
  }
  throw std::out_of_range("filter '" + name + "' has no parameter '" + std::string(key) + "'");
}

ParseResult parse_chain(std::string_view text) {
  ParseResult result;
  if (text.size() > kMaxTextLength) {
    result.error = "filter chain is too long (" + std::to_string(text.size()) +
                   " characters); the limit is " + std::to_string(kMaxTextLength);
    return result;
  }
  if (trim(text).empty()) {
    result.chain.push_back(FilterStep{"copy", {}});
    return result;
  }
  const std::vector<std::string_view> steps = split(text, ',');
  if (steps.size() > kMaxSteps) {
    result.error = "filter chain has too many steps (" + std::to_string(steps.size()) +
                   "); the limit is " + std::to_string(kMaxSteps);
    return result;
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::string_view step_text = trim(steps[i]);
    if (step_text.empty()) {
      result.error =
          "step " + std::to_string(i + 1) + " is empty; steps are separated by single commas";
      result.chain.clear();
      return result;
    }
    FilterStep step;
    if (std::string error = parse_step(step_text, i + 1, step); !error.empty()) {
      result.error = std::move(error);
      result.chain.clear();
      return result;
    }
    result.chain.push_back(std::move(step));
  }
  return result;
}

std::string canonical(const ChainSpec& chain) {
  // parse_chain never yields an empty chain; "copy" is what an empty one means.
  if (chain.empty()) return "copy";
  std::string text;
  for (const FilterStep& step : chain) {
    if (!text.empty()) text += ',';
    text += step.name;
    std::vector<std::pair<std::string, double>> params;
    if (const FilterSpec* filter = find_filter(step.name)) {
      for (const ParamSpec& spec : filter->params) {
        params.emplace_back(spec.name, step.param(spec.name));
      }
    } else {
      params = step.params;  // unknown: written as given, so that parsing reports it
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      text += i == 0 ? '=' : ':';
      text += params[i].first + '=' + format_number(params[i].second);
    }
  }
  return text;
}

bool is_identity(const ChainSpec& chain) {
  return std::all_of(chain.begin(), chain.end(),
                     [](const FilterStep& step) { return step.name == "copy"; });
}

std::string catalogue_json() {
  nlohmann::json filters = nlohmann::json::array();
  for (const FilterSpec& filter : catalogue()) {
    nlohmann::json params = nlohmann::json::array();
    for (const ParamSpec& param : filter.params) {
      const bool integer = param.type == ParamType::integer;
      // Integer parameters are written as JSON integers ("16", not "16.0").
      const auto number = [integer](double value) {
        return integer ? nlohmann::json(static_cast<long long>(value)) : nlohmann::json(value);
      };
      nlohmann::json choices = nlohmann::json::array();
      for (double choice : param.choices) choices.push_back(number(choice));
      params.push_back({{"name", param.name},
                        {"type", integer ? "integer" : "number"},
                        {"default", number(param.default_value)},
                        {"min", number(param.min)},
                        {"max", number(param.max)},
                        {"choices", std::move(choices)},
                        {"help", param.help}});
    }
    filters.push_back(
        {{"name", filter.name}, {"help", filter.help}, {"params", std::move(params)}});
  }
  return filters.dump();
}

}  // namespace framepipe::chain
