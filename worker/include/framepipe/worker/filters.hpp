// The filter chain: its text syntax (ffmpeg-like "name=key=value:key=value,name2"), the catalogue
// of filters with their parameters, and the OpenCV implementation that a worker applies to each
// frame. Parsing is pure and cheap (the http-frontend validates uploads with it); Chain holds the
// compiled filters of one job and is used by one thread at a time.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

namespace framepipe::filters {

enum class ParamType { integer, number };

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::number;
  double default_value = 0;
  double min = 0;
  double max = 0;
  std::vector<double> choices;  // when not empty, the only accepted values (e.g. rotate's angle)
  std::string help;
};

struct FilterSpec {
  std::string name;
  std::string help;
  std::vector<ParamSpec> params;
  // The first parameter may also be given without its key ("blur=3" is "blur=sigma=3").
};

// Every filter framepipe knows, in a stable order.
const std::vector<FilterSpec>& catalogue();
const FilterSpec* find_filter(std::string_view name);

// One parsed step, with every parameter of the filter present (defaults filled in), in the order of
// its FilterSpec.
struct FilterStep {
  std::string name;
  std::vector<std::pair<std::string, double>> params;
  double param(std::string_view key) const;
};
using ChainSpec = std::vector<FilterStep>;

struct ParseResult {
  ChainSpec chain;
  std::string error;  // empty on success; otherwise names the problem and the valid choices
  bool ok() const { return error.empty(); }
};

// Parses a chain. Empty or blank text means "copy". Never throws.
ParseResult parse_chain(std::string_view text);

// The canonical text of a chain: every parameter written out, so that parse_chain(canonical(c))
// gives back c. This is what travels to the workers.
std::string canonical(const ChainSpec& chain);

// The size of the frames the chain produces from frames of `input` size. Always even in both
// dimensions (4:2:0 output), at least 2x2.
cv::Size output_size(const ChainSpec& chain, cv::Size input);

// A sample (pixel) aspect ratio; 0:1 when unknown (then taken as square, and left unwritten).
struct SampleAspect {
  int num = 0;
  int den = 1;
  bool operator==(const SampleAspect&) const = default;
};

// The sample aspect ratio of the chain's output for input frames of `input` size and ratio
// `input_aspect`: a step that resizes keeps the picture's display shape (as ffmpeg's scale
// does), a quarter turn inverts the ratio, the others keep it. Unknown stays unknown.
SampleAspect output_sample_aspect(const ChainSpec& chain, cv::Size input,
                                  SampleAspect input_aspect);

// True when the chain leaves pixels untouched (only `copy` steps).
bool is_identity(const ChainSpec& chain);

// True when frames of `pixel_format` (libav's name) and `input` size come out of the chain as
// they went in, so they need no worker: the ventilator sends them straight to the sink.
bool passes_through(const ChainSpec& chain, std::string_view pixel_format, cv::Size input);

// JSON array describing the catalogue, for GET /api/filters:
// [{"name","help","params":[{"name","type","default","min","max","choices","help"}]}]
std::string catalogue_json();

class Filter {
 public:
  virtual ~Filter() = default;
  // Applies the filter. `frame` is CV_8UC3 (BGR) or CV_8UC1 (gray); the result is either.
  virtual cv::Mat apply(const cv::Mat& frame) = 0;
};

// A compiled chain. Throws std::invalid_argument if a step is unknown (the spec must come from
// parse_chain), std::runtime_error if a resource (Haar cascade) cannot be loaded.
class Chain {
 public:
  explicit Chain(const ChainSpec& spec);
  ~Chain();
  Chain(Chain&&) noexcept;
  Chain& operator=(Chain&&) noexcept;

  // Runs every step. Input CV_8UC3 BGR; output CV_8UC3 or CV_8UC1, of output_size(spec, input).
  cv::Mat apply(const cv::Mat& bgr);
  const ChainSpec& spec() const { return spec_; }

 private:
  ChainSpec spec_;
  std::vector<std::unique_ptr<Filter>> filters_;
};

}  // namespace framepipe::filters
