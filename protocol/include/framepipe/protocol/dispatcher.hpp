// The one inbound path of every role: receive from a socket without waiting, open the envelope,
// hand the typed body to the handler registered for its type, and log what is discarded (wrong
// part count, bad envelope, unexpected type, malformed body, or a handler's refusal) through a
// LogThrottle under the role's name. Untrusted bytes never throw; each call reads a bounded batch.
// Not thread-safe: one per socket, owned by the thread that owns the socket.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <utility>

#include <zmq.hpp>

#include "framepipe/protocol/codec.hpp"
#include "framepipe/protocol/log_throttle.hpp"
#include "framepipe/protocol/net.hpp"

namespace framepipe::protocol {

// One received message as its handler sees it.
struct Inbound {
  std::string peer;                   // the ROUTER routing id; "" on other sockets
  std::span<zmq::message_t> payload;  // the parts after the envelope (pixel planes)
  std::string why;                    // set by a handler that discards the message
  void discard(std::string reason) { why = std::move(reason); }
};

class Dispatcher {
 public:
  // `role` prefixes every discard line ("registry", "worker w1"); `routed`: the socket is a
  // ROUTER, whose messages start with the sender's routing id. Lines go to `logger` (the default
  // logger when null).
  Dispatcher(std::string role, bool routed, LogThrottle& log, spdlog::logger* logger = nullptr)
      : role_(std::move(role)),
        routed_(routed),
        log_(log),
        logger_(logger ? logger : spdlog::default_logger_raw()) {}

  // Registers the handler of message M, which may be followed by up to `max_payload_parts`
  // parts; a message with more is discarded.
  template <class M>
  void on(std::function<void(M&&, Inbound&)> handler, std::size_t max_payload_parts = 0) {
    handlers_[M::type] = {max_payload_parts, [handler = std::move(handler)](
                                                 const Envelope& envelope, Inbound& inbound) {
                            if (auto body = envelope.body<M>(&inbound.why)) {
                              handler(std::move(*body), inbound);
                            }
                          }};
  }
  // Called after every discarded message (a worker gives back the credit of a lost frame).
  void on_discard(std::function<void(const Inbound&)> handler) { discarded_ = std::move(handler); }

  // Receives and handles up to `max_messages` queued messages without waiting. Returns how many
  // were received.
  int dispatch(zmq::socket_ref socket, int max_messages) {
    int received = 0;
    for (; received < max_messages; ++received) {
      auto parts = receive(socket);
      if (!parts) break;
      handle(*parts);
    }
    return received;
  }

  // Handles one received multipart message.
  void handle(Parts& parts) {
    Inbound inbound;
    const std::size_t head = routed_ ? 1 : 0;
    if (parts.size() <= head) {
      inbound.why = "a message of " + std::to_string(parts.size()) + " part(s)";
    } else {
      if (routed_) inbound.peer = parts[0].to_string();
      inbound.payload = std::span(parts).subspan(head + 1);
      if (auto envelope = open(parts[head], &inbound.why)) {
        auto it = handlers_.find(envelope->type());
        if (it == handlers_.end()) {
          inbound.why =
              "unexpected message type " + std::to_string(static_cast<int>(envelope->type()));
        } else if (inbound.payload.size() > it->second.max_payload_parts) {
          inbound.why = "a message of " + std::to_string(parts.size()) + " part(s)";
        } else {
          it->second.handle(*envelope, inbound);
        }
      }
    }
    if (inbound.why.empty()) return;
    log_.warn(*logger_, "{}: discarded a message{}{}: {}", role_,
              inbound.peer.empty() ? "" : " from ", printable(inbound.peer), inbound.why);
    if (discarded_) discarded_(inbound);
  }

 private:
  // A routing id is any bytes: only printable ASCII reaches the log.
  static std::string printable(const std::string& text) {
    std::string out;
    for (char c : text.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
  }

  struct Handler {
    std::size_t max_payload_parts = 0;
    std::function<void(const Envelope&, Inbound&)> handle;
  };
  std::string role_;
  bool routed_;
  LogThrottle& log_;  // the role's throttle for lines about what peers send; outlives this
  spdlog::logger* logger_;
  std::map<Type, Handler> handlers_;
  std::function<void(const Inbound&)> discarded_;
};

}  // namespace framepipe::protocol
