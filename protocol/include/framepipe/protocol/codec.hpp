// Encoding and validating framepipe messages. Untrusted bytes never throw: open() returns nothing
// and says why, and the caller logs a warning and drops the message.
#pragma once
#include <cstddef>
#include <optional>
#include <string>

#include <msgpack.hpp>
#include <zmq.hpp>

#include "framepipe/protocol/messages.hpp"

namespace framepipe::protocol {

// A received envelope whose signature and version were checked; body() converts its payload.
class Envelope {
 public:
  Type type() const { return type_; }

  // The body as message M, or nothing (with `why`) if it does not have M's shape.
  template <class M>
  std::optional<M> body(std::string* why = nullptr) const {
    if (type_ != M::type) {
      if (why) *why = "unexpected message type " + std::to_string(static_cast<int>(type_));
      return std::nullopt;
    }
    try {
      M message;
      body_.convert(message);
      return message;
    } catch (const std::exception& e) {
      if (why) *why = std::string("malformed body: ") + e.what();
      return std::nullopt;
    }
  }

 private:
  friend std::optional<Envelope> open(const void*, std::size_t, std::string*);
  Type type_{};
  msgpack::object_handle handle_;  // owns the zone body_ points into
  msgpack::object body_;
};

// Checks size, msgpack shape, signature and version. Never throws.
std::optional<Envelope> open(const void* data, std::size_t size, std::string* why = nullptr);
inline std::optional<Envelope> open(const zmq::message_t& part, std::string* why = nullptr) {
  return open(part.data(), part.size(), why);
}

// Packs `message` into its envelope.
template <class M>
zmq::message_t pack(const M& message) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  packer.pack_array(4);
  packer.pack(kSignature);
  packer.pack(kVersion);
  packer.pack(static_cast<uint8_t>(M::type));
  packer.pack(message);
  return zmq::message_t(buffer.data(), buffer.size());
}

// The bytes every packed message of type `type` starts with: a SUB socket that subscribes to them
// receives only that type from a PUB.
std::string subscription(Type type);

}  // namespace framepipe::protocol
