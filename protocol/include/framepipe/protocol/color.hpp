// Colour description of a picture, carried from the decoder through the workers to the encoder.
// Values are the ISO/IEC 23091-4 (H.273) code points, which libav's AVColor* enums use as well.
#pragma once
#include <cstdint>
#include <msgpack.hpp>

namespace framepipe::protocol {

struct ColorInfo {
  int32_t space = 2;      // AVCOL_SPC_UNSPECIFIED
  int32_t range = 0;      // AVCOL_RANGE_UNSPECIFIED (treated as limited/"tv")
  int32_t primaries = 2;  // AVCOL_PRI_UNSPECIFIED
  int32_t transfer = 2;   // AVCOL_TRC_UNSPECIFIED
  MSGPACK_DEFINE(space, range, primaries, transfer)
  bool operator==(const ColorInfo&) const = default;
};

}  // namespace framepipe::protocol
