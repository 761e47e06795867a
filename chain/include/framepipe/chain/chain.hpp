// The filter chain as text and data: its syntax (ffmpeg-like "name=key=value:key=value,name2"),
// the catalogue of filters with their parameters, and the canonical form that travels to the
// workers. Pure and cheap, with neither OpenCV nor libav: the http-frontend validates uploads
// with it. The pixels are filters/ (filters::Chain); the sizes a chain makes are geometry.hpp.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace framepipe::chain {

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

// The sides `scale` accepts, in pixels (0 or -1 keep the aspect ratio); a side it derives from
// the aspect ratio is clamped to kMaxScaleSide too.
inline constexpr double kMinScaleSide = 16;
inline constexpr double kMaxScaleSide = 8192;

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

// True when the chain leaves pixels untouched (only `copy` steps).
bool is_identity(const ChainSpec& chain);

// JSON array describing the catalogue, for GET /api/filters:
// [{"name","help","params":[{"name","type","default","min","max","choices","help"}]}]
std::string catalogue_json();

}  // namespace framepipe::chain
