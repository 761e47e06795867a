// The one check of a picture's plane layout as a peer describes it (Frame, Result), before any
// pixel is read: dimensions within the cluster's limits, one stride per plane and no narrower than
// the plane, and every plane inside the bytes that carry it (its own message part, or one object
// at an offset: shared memory, or one tightly packed part). Never throws: "" means valid,
// anything else says why not.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace framepipe::protocol {

// The largest width or height, and the largest picture, any node accepts. The media Limits'
// max_pixels (decoder and encoder) must not exceed kMaxPixels; kMaxMessageBytes is sized for it.
inline constexpr int64_t kMaxDimension = 16384;
inline constexpr int64_t kMaxPixels = 8192LL * 8192;
// Padding a stride may have beyond its plane's width (decoders align to 64 bytes or so).
inline constexpr int64_t kMaxStridePadding = 4096;

// One plane of a pixel format at a given size: the bytes of one row's pixels and the number of
// rows. A picture has 1 to 4 planes.
struct PlaneShape {
  int64_t row_bytes = 0;
  int64_t rows = 0;
};
struct PictureShape {
  std::array<PlaneShape, 4> planes{};
  int count = 0;
};

// yuv420p of width x height (chroma rounded up, as libav does).
PictureShape yuv420p_shape(int64_t width, int64_t height);

// Returns "" when 0 < width, height <= kMaxDimension and width x height <= kMaxPixels.
std::string check_dimensions(int64_t width, int64_t height);

// The stride of each plane is given by `linesizes` (one per plane) and, where the message
// declares it, its size by `declared_sizes` (one per plane, or empty when the message has none).
// A plane occupies linesize x rows bytes; declared sizes must cover that.

// Each plane in its own buffer (message part) of part_sizes[i] bytes: a declared size must be the
// part's size. Returns "" when valid, otherwise why not.
std::string check_planes_in_parts(const PictureShape& shape, std::span<const int32_t> linesizes,
                                  std::span<const int64_t> declared_sizes,
                                  std::span<const std::size_t> part_sizes);

// Every plane at offsets[i] of one object of object_size bytes: [offset, offset + declared size)
// inside it, or, without declared sizes, every row of the plane (the last one only as far as its
// pixels reach). Returns "" when valid, otherwise why not.
std::string check_planes_in_object(const PictureShape& shape, std::span<const int32_t> linesizes,
                                   std::span<const int64_t> declared_sizes,
                                   std::span<const int64_t> offsets, uint64_t object_size);

}  // namespace framepipe::protocol
