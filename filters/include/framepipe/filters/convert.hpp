// Pixel conversion between the planes that travel on the wire and OpenCV images, in the worker
// (the parallel stage), so that the ventilator and the sink never touch pixels.
// Input: any planar or packed libav pixel format described by planes + linesizes.
// Output: YUV 4:2:0 (yuv420p), tightly packed: Y (w*h), then U, then V ((w/2)*(h/2) each).
// A FrameConverter caches its SwsContexts; one per thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "framepipe/protocol/color.hpp"

struct SwsContext;

namespace framepipe::filters {

struct PlanarImage {
  std::string pixel_format;  // libav name, e.g. "yuv420p", "rgb24", "gray"
  int width = 0;
  int height = 0;
  const uint8_t* data[4] = {nullptr, nullptr, nullptr, nullptr};
  int linesize[4] = {0, 0, 0, 0};
  protocol::ColorInfo color;
};

// Size in bytes of a tightly packed yuv420p picture (width and height must be even).
constexpr std::size_t yuv420p_size(int width, int height) {
  return static_cast<std::size_t>(width) * height * 3 / 2;
}

class FrameConverter {
 public:
  FrameConverter();
  ~FrameConverter();
  FrameConverter(const FrameConverter&) = delete;
  FrameConverter& operator=(const FrameConverter&) = delete;

  // Converts to an 8-bit BGR image, honouring the colour matrix and range of `image`.
  // Throws std::invalid_argument on an unknown pixel format.
  cv::Mat to_bgr(const PlanarImage& image);

  // Writes `image` (CV_8UC3 BGR or CV_8UC1 gray, even dimensions) as tightly packed yuv420p into
  // `out` (which must hold yuv420p_size bytes), with the colour matrix and range of `color`, the
  // inverse of to_bgr, so that BGR -> yuv420p -> BGR loses nothing but rounding. A gray image keeps
  // its luma and gets neutral chroma.
  void to_yuv420p(const cv::Mat& image, const protocol::ColorInfo& color, uint8_t* out);

  // Copies (or converts, when it is not yuv420p/yuvj420p of the same size) `image` to tightly
  // packed yuv420p in `out`: the fast path for chains that leave pixels untouched.
  void copy_to_yuv420p(const PlanarImage& image, uint8_t* out);

 private:
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

}  // namespace framepipe::filters
