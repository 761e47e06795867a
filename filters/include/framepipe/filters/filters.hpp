// The pixel side of the filter chain: the OpenCV implementation of every filter in the catalogue
// (chain/chain.hpp), and Chain, the compiled filters of one job, which a worker applies to each
// frame. A Chain is used by one thread at a time.
#pragma once
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "framepipe/chain/chain.hpp"
#include "framepipe/chain/geometry.hpp"

namespace framepipe::filters {

// chain::Size and cv::Size, either way.
inline cv::Size to_cv(chain::Size size) {
  return {size.width, size.height};
}
inline chain::Size from_cv(cv::Size size) {
  return {size.width, size.height};
}

class Filter {
 public:
  virtual ~Filter() = default;
  // Applies the filter. `frame` is CV_8UC3 (BGR) or CV_8UC1 (gray); the result is either.
  virtual cv::Mat apply(const cv::Mat& frame) = 0;
};

// A compiled chain. Throws std::invalid_argument if a step is unknown (the spec must come from
// chain::parse_chain), std::runtime_error if a resource (Haar cascade) cannot be loaded.
class Chain {
 public:
  explicit Chain(const chain::ChainSpec& spec);
  ~Chain();
  Chain(Chain&&) noexcept;
  Chain& operator=(Chain&&) noexcept;

  // Runs every step. Input CV_8UC3 BGR; output CV_8UC3 or CV_8UC1, of chain::output_size(spec,
  // input).
  cv::Mat apply(const cv::Mat& bgr);
  const chain::ChainSpec& spec() const { return spec_; }

 private:
  chain::ChainSpec spec_;
  std::vector<std::unique_ptr<Filter>> filters_;
};

}  // namespace framepipe::filters
