#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <vector>

#include "framepipe/protocol/planes.hpp"

using namespace framepipe::protocol;

namespace {
using Linesizes = std::vector<int32_t>;
using Sizes = std::vector<int64_t>;
using PartSizes = std::vector<std::size_t>;
}  // namespace

TEST_CASE("dimensions: positive, within kMaxDimension and kMaxPixels", "[protocol][planes]") {
  CHECK(check_dimensions(1, 1).empty());
  CHECK(check_dimensions(1920, 1080).empty());
  CHECK(check_dimensions(kMaxDimension, 16).empty());
  CHECK_FALSE(check_dimensions(0, 10).empty());
  CHECK_FALSE(check_dimensions(10, 0).empty());
  CHECK_FALSE(check_dimensions(-2, 10).empty());
  CHECK_FALSE(check_dimensions(kMaxDimension + 1, 16).empty());
  CHECK_FALSE(check_dimensions(16, kMaxDimension + 1).empty());
  CHECK_FALSE(check_dimensions(kMaxDimension, kMaxDimension).empty());  // > kMaxPixels
  CHECK_FALSE(check_dimensions(std::numeric_limits<int64_t>::max(), 2).empty());
}

TEST_CASE("yuv420p shape rounds chroma up for odd sizes", "[protocol][planes]") {
  const auto shape = yuv420p_shape(5, 3);
  REQUIRE(shape.count == 3);
  CHECK(shape.planes[0].row_bytes == 5);
  CHECK(shape.planes[0].rows == 3);
  CHECK(shape.planes[1].row_bytes == 3);
  CHECK(shape.planes[1].rows == 2);
  CHECK(shape.planes[2].rows == 2);
}

TEST_CASE("planes in their own parts", "[protocol][planes]") {
  const auto shape = yuv420p_shape(64, 64);
  CHECK(check_planes_in_parts(shape, Linesizes{64, 32, 32}, Sizes{}, PartSizes{4096, 1024, 1024})
            .empty());
  CHECK(check_planes_in_parts(shape, Linesizes{64, 32, 32}, Sizes{4096, 1024, 1024},
                              PartSizes{4096, 1024, 1024})
            .empty());
  // Padded strides.
  CHECK(check_planes_in_parts(shape, Linesizes{128, 64, 64}, Sizes{},
                              PartSizes{128 * 64, 64 * 32, 64 * 32})
            .empty());
  // Parts too small, a declared size that is not the part's, or too small for the rows.
  CHECK_FALSE(
      check_planes_in_parts(shape, Linesizes{64, 32, 32}, Sizes{}, PartSizes{4095, 1024, 1024})
          .empty());
  CHECK_FALSE(check_planes_in_parts(shape, Linesizes{64, 32, 32}, Sizes{4096, 1024, 1000},
                                    PartSizes{4096, 1024, 1024})
                  .empty());
  CHECK_FALSE(check_planes_in_parts(shape, Linesizes{64, 32, 32}, Sizes{4096, 1024, 100},
                                    PartSizes{4096, 1024, 100})
                  .empty());
  // Strides below the width, negative, or absurdly large.
  CHECK_FALSE(
      check_planes_in_parts(shape, Linesizes{63, 32, 32}, Sizes{}, PartSizes{4096, 1024, 1024})
          .empty());
  CHECK_FALSE(
      check_planes_in_parts(shape, Linesizes{-64, 32, 32}, Sizes{}, PartSizes{4096, 1024, 1024})
          .empty());
  CHECK_FALSE(check_planes_in_parts(shape, Linesizes{std::numeric_limits<int32_t>::max(), 32, 32},
                                    Sizes{}, PartSizes{SIZE_MAX, 1024, 1024})
                  .empty());
  // Wrong counts: linesizes, declared sizes, parts.
  CHECK_FALSE(
      check_planes_in_parts(shape, Linesizes{64, 32}, Sizes{}, PartSizes{4096, 1024}).empty());
  CHECK_FALSE(
      check_planes_in_parts(shape, Linesizes{64, 32, 32}, Sizes{4096}, PartSizes{4096, 1024, 1024})
          .empty());
  CHECK_FALSE(
      check_planes_in_parts(shape, Linesizes{64, 32, 32}, Sizes{}, PartSizes{4096, 1024}).empty());
  CHECK_FALSE(
      check_planes_in_parts(shape, Linesizes{64, 32, 32}, Sizes{}, PartSizes{4096, 1024, 1024, 1})
          .empty());
  // A shape with no planes or a zero-sized one.
  CHECK_FALSE(check_planes_in_parts(PictureShape{}, Linesizes{}, Sizes{}, PartSizes{}).empty());
  CHECK_FALSE(
      check_planes_in_parts(yuv420p_shape(0, 0), Linesizes{0, 0, 0}, Sizes{}, PartSizes{0, 0, 0})
          .empty());
}

TEST_CASE("planes at offsets of one object", "[protocol][planes]") {
  const auto shape = yuv420p_shape(64, 64);
  const Linesizes strides{64, 32, 32};
  CHECK(check_planes_in_object(shape, strides, Sizes{}, Sizes{0, 4096, 5120}, 6144).empty());
  // Without declared sizes the last row needs only its pixels, not the stride's padding.
  const Linesizes padded{80, 48, 48};
  const int64_t last = 80 * 63 + 64;
  CHECK(check_planes_in_object(shape, padded, Sizes{}, Sizes{0, 0, 0}, last).empty());
  CHECK_FALSE(check_planes_in_object(shape, padded, Sizes{}, Sizes{0, 0, 0}, last - 1).empty());
  // Declared sizes must cover whole rows and lie inside.
  CHECK(check_planes_in_object(shape, strides, Sizes{4096, 1024, 1024}, Sizes{0, 4096, 5120}, 6144)
            .empty());
  CHECK_FALSE(
      check_planes_in_object(shape, strides, Sizes{4096, 1024, 1024}, Sizes{0, 4096, 5121}, 6144)
          .empty());
  // Offsets outside the object: negative, past the end, wrapping around.
  CHECK_FALSE(check_planes_in_object(shape, strides, Sizes{}, Sizes{-1, 4096, 5120}, 6144).empty());
  CHECK_FALSE(check_planes_in_object(shape, strides, Sizes{}, Sizes{0, 4096, 7000}, 6144).empty());
  CHECK_FALSE(check_planes_in_object(shape, strides, Sizes{},
                                     Sizes{0, 4096, std::numeric_limits<int64_t>::max()}, 6144)
                  .empty());
  CHECK_FALSE(check_planes_in_object(shape, strides,
                                     Sizes{std::numeric_limits<int64_t>::max(), 1024, 1024},
                                     Sizes{1, 4096, 5120}, 6144)
                  .empty());
  // Wrong offset count; an empty object.
  CHECK_FALSE(check_planes_in_object(shape, strides, Sizes{}, Sizes{0, 4096}, 6144).empty());
  CHECK_FALSE(check_planes_in_object(shape, strides, Sizes{}, Sizes{0, 0, 0}, 0).empty());
}
