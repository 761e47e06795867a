#include "framepipe/media/packet_list.hpp"

#include <cstring>
#include <limits>
#include <new>

namespace framepipe::media {

std::size_t packed_size(const std::vector<PacketPtr>& packets) {
  std::size_t bytes = 0;
  for (const auto& packet : packets) bytes += static_cast<std::size_t>(packet->size);
  return bytes;
}

void pack_packets(const std::vector<PacketPtr>& packets, uint8_t* out, PacketLists& lists) {
  for (const auto& packet : packets) {
    std::memcpy(out, packet->data, static_cast<std::size_t>(packet->size));
    out += packet->size;
    lists.sizes.push_back(packet->size);
    lists.pts.push_back(packet->pts);
    lists.dts.push_back(packet->dts);
    lists.durations.push_back(packet->duration);
    lists.flags.push_back(static_cast<uint8_t>(packet->flags & AV_PKT_FLAG_KEY));
  }
}

std::optional<std::vector<PacketPtr>> unpack_packets(std::span<const uint8_t> bytes,
                                                     const PacketLists& lists, std::string& why) {
  const std::size_t count = lists.sizes.size();
  if (count == 0) {
    why = "no packet";
    return std::nullopt;
  }
  if (lists.pts.size() != count || lists.dts.size() != count || lists.flags.size() != count ||
      (!lists.durations.empty() && lists.durations.size() != count)) {
    why = "packet lists of different lengths";
    return std::nullopt;
  }
  std::size_t offset = 0;
  for (const int64_t size : lists.sizes) {
    if (size <= 0 || size > std::numeric_limits<int>::max() ||
        static_cast<uint64_t>(size) > bytes.size() - offset) {
      why = "packets outside their part";
      return std::nullopt;
    }
    offset += static_cast<std::size_t>(size);
  }
  if (offset != bytes.size()) {
    why = "bytes after the last packet";
    return std::nullopt;
  }
  std::vector<PacketPtr> packets;
  packets.reserve(count);
  offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    PacketPtr packet = make_packet();
    const auto size = static_cast<int>(lists.sizes[i]);
    if (av_new_packet(packet.get(), size) < 0) throw std::bad_alloc();
    std::memcpy(packet->data, bytes.data() + offset, static_cast<std::size_t>(size));
    offset += static_cast<std::size_t>(size);
    packet->pts = lists.pts[i];
    packet->dts = lists.dts[i];
    if (!lists.durations.empty()) packet->duration = lists.durations[i];
    packet->flags = lists.flags[i] & AV_PKT_FLAG_KEY;
    packets.push_back(std::move(packet));
  }
  return packets;
}

}  // namespace framepipe::media
