// Compressed packets carried as one block of bytes, back to back, with their sizes, timestamps and
// flags in parallel lists (the Segment and SegmentResult messages): packing, and unpacking bytes
// from the network, checked before anything is allocated.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "framepipe/media/av.hpp"

namespace framepipe::media {

struct PacketLists {
  std::vector<int64_t> sizes;
  std::vector<int64_t> pts;
  std::vector<int64_t> dts;
  std::vector<int64_t> durations;  // may be left empty (unknown)
  std::vector<uint8_t> flags;      // AV_PKT_FLAG_KEY only
};

// The packets' bytes together.
std::size_t packed_size(const std::vector<PacketPtr>& packets);

// Copies the packets back to back into `out` (packed_size() bytes) and describes them in `lists`.
void pack_packets(const std::vector<PacketPtr>& packets, uint8_t* out, PacketLists& lists);

// The packets `lists` describes in `bytes`, or nothing with the reason in `why`: lists of different
// lengths, no packet, a size that is not positive or runs past the bytes, bytes after the last.
// Never throws for what a peer sends (only std::bad_alloc).
std::optional<std::vector<PacketPtr>> unpack_packets(std::span<const uint8_t> bytes,
                                                     const PacketLists& lists, std::string& why);

}  // namespace framepipe::media
