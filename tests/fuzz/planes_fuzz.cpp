// libFuzzer target for the plane-layout checks (planes.hpp): whatever a peer declares, the checks
// return without crashing or overflowing, and a layout they accept really lies inside its bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "framepipe/protocol/planes.hpp"

using namespace framepipe::protocol;

namespace {

// Reads the input as a stream of fixed-size numbers; zeros once it runs out.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <class T>
  T next() {
    T value{};
    const size_t n = std::min(sizeof value, size_ - std::min(size_, at_));
    if (n) std::memcpy(&value, data_ + at_, n);
    at_ += sizeof value;
    return value;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  const auto width = in.next<int32_t>();
  const auto height = in.next<int32_t>();
  const auto flags = in.next<uint8_t>();
  PictureShape shape = (flags & 1) ? yuv420p_shape(width, height) : PictureShape{};
  if (!(flags & 1)) {
    shape.count = in.next<int8_t>();
    for (auto& plane : shape.planes) plane = {in.next<int32_t>(), in.next<int32_t>()};
  }
  const std::size_t count = (flags >> 1) & 7;
  std::vector<int32_t> linesizes(count);
  std::vector<int64_t> declared((flags & 0x10) ? count + ((flags >> 6) & 1) : 0);
  std::vector<std::size_t> parts(count + ((flags >> 5) & 1));
  std::vector<int64_t> offsets(count);
  for (auto& value : linesizes) value = in.next<int32_t>();
  for (auto& value : declared) value = in.next<int64_t>();
  for (auto& value : parts) value = in.next<uint32_t>();
  for (auto& value : offsets) value = in.next<int64_t>();
  const auto object_size = in.next<uint64_t>();

  static_cast<void>(check_dimensions(width, height));
  if (check_planes_in_parts(shape, linesizes, declared, parts).empty()) {
    for (int i = 0; i < shape.count; ++i) {
      const __int128 extent = static_cast<__int128>(linesizes[i]) * shape.planes[i].rows;
      if (linesizes[i] < shape.planes[i].row_bytes || extent > parts[i]) std::abort();
    }
  }
  if (check_planes_in_object(shape, linesizes, declared, offsets, object_size).empty()) {
    for (int i = 0; i < shape.count; ++i) {
      const __int128 end = static_cast<__int128>(offsets[i]) +
                           static_cast<__int128>(linesizes[i]) * (shape.planes[i].rows - 1) +
                           shape.planes[i].row_bytes;
      if (offsets[i] < 0 || linesizes[i] < shape.planes[i].row_bytes || end > object_size) {
        std::abort();
      }
    }
  }
  return 0;
}
