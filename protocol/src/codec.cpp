#include "framepipe/protocol/codec.hpp"

namespace framepipe::protocol {
namespace {

bool known_type(uint8_t value) {
  switch (static_cast<Type>(value)) {
    case Type::hello:
    case Type::welcome:
    case Type::heartbeat:
    case Type::heartbeat_ack:
    case Type::reregister:
    case Type::list_workers:
    case Type::worker_list:
    case Type::ready:
    case Type::frame:
    case Type::result:
    case Type::submit_job:
    case Type::submit_reply:
    case Type::cancel_job:
    case Type::ping:
    case Type::pong:
    case Type::job_start:
    case Type::job_end:
    case Type::job_abort:
    case Type::job_progress:
    case Type::sink_alive:
    case Type::ventilator_alive:
    case Type::frames_encoded:
    case Type::segment:
    case Type::segment_result:
    case Type::shared_probe:
      return true;
  }
  return false;
}

// Small caps on what a hostile envelope may make msgpack allocate.
const msgpack::unpack_limit kLimits(/*array=*/4096, /*map=*/256, /*str=*/16 * 1024,
                                    /*bin=*/16 * 1024, /*ext=*/0, /*depth=*/8);

}  // namespace

std::optional<Envelope> open(const void* data, std::size_t size, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<Envelope> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (data == nullptr || size == 0) return fail("empty message");
  if (size > kMaxEnvelopeBytes) return fail("envelope of " + std::to_string(size) + " bytes");
  Envelope envelope;
  try {
    std::size_t offset = 0;
    envelope.handle_ =
        msgpack::unpack(static_cast<const char*>(data), size, offset, nullptr, nullptr, kLimits);
    if (offset != size) return fail("trailing bytes after the envelope");
  } catch (const std::exception& e) {
    return fail(std::string("not msgpack: ") + e.what());
  }
  const msgpack::object& root = envelope.handle_.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size != 4) {
    return fail("envelope is not a 4-element array");
  }
  const msgpack::object* items = root.via.array.ptr;
  if (items[0].type != msgpack::type::STR ||
      std::string_view(items[0].via.str.ptr, items[0].via.str.size) != kSignature) {
    return fail("bad signature");
  }
  if (items[1].type != msgpack::type::POSITIVE_INTEGER) return fail("bad version field");
  if (items[1].via.u64 != kVersion) {
    return fail("protocol version " + std::to_string(items[1].via.u64) + ", this node speaks " +
                std::to_string(kVersion));
  }
  if (items[2].type != msgpack::type::POSITIVE_INTEGER || items[2].via.u64 > 255 ||
      !known_type(static_cast<uint8_t>(items[2].via.u64))) {
    return fail("unknown message type");
  }
  if (items[3].type != msgpack::type::ARRAY) return fail("body is not an array");
  envelope.type_ = static_cast<Type>(items[2].via.u64);
  envelope.body_ = items[3];
  return envelope;
}

std::string subscription(Type type) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(4);
  packer.pack(kSignature);
  packer.pack(kVersion);
  packer.pack(static_cast<uint8_t>(type));
  return std::string(buffer.data(), buffer.size());
}

}  // namespace framepipe::protocol
