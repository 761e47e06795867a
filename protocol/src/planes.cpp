#include "framepipe/protocol/planes.hpp"

namespace framepipe::protocol {

namespace {

// Strides: one per plane, each from the plane's row up to kMaxStridePadding more. With the
// dimension limits, linesize x rows then fits an int64_t with room to spare.
std::string check_strides(const PictureShape& shape, std::span<const int32_t> linesizes,
                          std::span<const int64_t> declared_sizes) {
  if (shape.count < 1 || shape.count > 4) return "unsupported number of planes";
  const auto planes = static_cast<std::size_t>(shape.count);
  if (linesizes.size() != planes) return "plane count does not match the pixel format";
  if (!declared_sizes.empty() && declared_sizes.size() != planes) {
    return "plane size count does not match the pixel format";
  }
  for (std::size_t i = 0; i < planes; ++i) {
    const PlaneShape& plane = shape.planes[i];
    if (plane.row_bytes <= 0 || plane.rows <= 0 || plane.row_bytes > 4 * 2 * kMaxDimension ||
        plane.rows > kMaxDimension) {
      return "bad plane shape";
    }
    if (linesizes[i] < plane.row_bytes) return "linesize too small";
    if (linesizes[i] > plane.row_bytes + kMaxStridePadding) return "linesize too large";
    const int64_t extent = int64_t{linesizes[i]} * plane.rows;
    if (!declared_sizes.empty() && declared_sizes[i] < extent) {
      return "plane " + std::to_string(i) + " is declared smaller than its rows";
    }
  }
  return {};
}

}  // namespace

PictureShape yuv420p_shape(int64_t width, int64_t height) {
  PictureShape shape;
  shape.count = 3;
  shape.planes[0] = {width, height};
  shape.planes[1] = shape.planes[2] = {(width + 1) / 2, (height + 1) / 2};
  return shape;
}

std::string check_dimensions(int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) return "dimensions not positive";
  if (width > kMaxDimension || height > kMaxDimension) return "dimensions too large";
  if (width * height > kMaxPixels) return "too many pixels";
  return {};
}

std::string check_planes_in_parts(const PictureShape& shape, std::span<const int32_t> linesizes,
                                  std::span<const int64_t> declared_sizes,
                                  std::span<const std::size_t> part_sizes) {
  if (auto why = check_strides(shape, linesizes, declared_sizes); !why.empty()) return why;
  if (part_sizes.size() != linesizes.size()) return "part count does not match the plane count";
  for (std::size_t i = 0; i < part_sizes.size(); ++i) {
    const int64_t extent = int64_t{linesizes[i]} * shape.planes[i].rows;
    const bool declared_matches =
        declared_sizes.empty() || static_cast<uint64_t>(declared_sizes[i]) == part_sizes[i];
    if (!declared_matches || part_sizes[i] < static_cast<uint64_t>(extent)) {
      return "plane " + std::to_string(i) + " has " + std::to_string(part_sizes[i]) +
             " bytes, its description needs " + std::to_string(extent);
    }
  }
  return {};
}

std::string check_planes_in_object(const PictureShape& shape, std::span<const int32_t> linesizes,
                                   std::span<const int64_t> declared_sizes,
                                   std::span<const int64_t> offsets, uint64_t object_size) {
  if (auto why = check_strides(shape, linesizes, declared_sizes); !why.empty()) return why;
  if (offsets.size() != linesizes.size()) return "offset count does not match the plane count";
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    const PlaneShape& plane = shape.planes[i];
    const uint64_t bytes =
        declared_sizes.empty()
            ? static_cast<uint64_t>(int64_t{linesizes[i]} * (plane.rows - 1) + plane.row_bytes)
            : static_cast<uint64_t>(declared_sizes[i]);
    if (offsets[i] < 0 || static_cast<uint64_t>(offsets[i]) > object_size ||
        object_size - static_cast<uint64_t>(offsets[i]) < bytes) {
      return "plane " + std::to_string(i) + " does not lie inside its object";
    }
  }
  return {};
}

}  // namespace framepipe::protocol
