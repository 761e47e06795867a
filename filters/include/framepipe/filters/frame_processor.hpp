// One frame through a filter chain: planes in, tightly packed yuv420p out. The cluster's workers
// and the single-process loop both use this, so that they produce the same pixels.
#pragma once
#include <cstdint>

#include "framepipe/filters/convert.hpp"
#include "framepipe/filters/filters.hpp"

struct AVFrame;

namespace framepipe::filters {

// A decoded frame's planes as the processor takes them (no copy: the view borrows the frame).
PlanarImage planar_view(const AVFrame& frame, const protocol::ColorInfo& color);

class FrameProcessor {
 public:
  // Writes yuv420p_size(out_width, out_height) bytes to `out`. Throws std::runtime_error when the
  // chain does not produce frames of the announced size, std::invalid_argument on an unknown
  // pixel format.
  void process(const PlanarImage& image, Chain& chain, int out_width, int out_height, uint8_t* out);

 private:
  FrameConverter converter_;
};

}  // namespace framepipe::filters
