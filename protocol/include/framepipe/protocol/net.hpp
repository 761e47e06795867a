// ZeroMQ plumbing shared by every node: socket set-up with explicit limits, multipart send and
// receive of framepipe messages, and endpoint arithmetic.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "framepipe/protocol/codec.hpp"

namespace framepipe::protocol {

using Parts = std::vector<zmq::message_t>;

// Applies framepipe's socket policy: linger 0 (a stopping node never blocks on peers), the
// maximum message size, and the given high-water marks (messages, per peer).
void configure(zmq::socket_ref socket, int send_hwm, int receive_hwm);

// zmq::poll that treats a signal's interruption (EINTR) as a timeout: the caller's loop then sees
// stop_requested(). Returns the number of ready items.
int poll(zmq::pollitem_t* items, std::size_t count, std::chrono::milliseconds timeout);
inline int poll(std::vector<zmq::pollitem_t>& items, std::chrono::milliseconds timeout) {
  return poll(items.data(), items.size(), timeout);
}

// Receives one multipart message without waiting; nothing if none is queued.
std::optional<Parts> receive(zmq::socket_ref socket);

// Sends `head` then `tail` parts as one multipart message. Returns false when the message could
// not be queued (would block, or an unroutable ROUTER peer); true otherwise.
bool send(zmq::socket_ref socket, Parts& parts, bool dont_wait = true);

template <class M>
bool send_message(zmq::socket_ref socket, const M& message, bool dont_wait = true) {
  Parts parts;
  parts.push_back(pack(message));
  return send(socket, parts, dont_wait);
}

// For ROUTER sockets: the routing id, then the message.
template <class M>
bool send_to(zmq::socket_ref socket, const std::string& routing_id, const M& message) {
  Parts parts;
  parts.emplace_back(routing_id.data(), routing_id.size());
  parts.push_back(pack(message));
  return send(socket, parts, true);
}

// "tcp://HOST:PORT" parts. Returns nothing on anything else.
struct TcpEndpoint {
  std::string host;
  int port = 0;
};
std::optional<TcpEndpoint> parse_tcp_endpoint(const std::string& endpoint);
std::string tcp_endpoint(const std::string& host, int port);

// The network a client address counts in, for limits per client: an IPv4 address itself (also
// when IPv4-mapped, "::ffff:a.b.c.d"), an IPv6 address's /64 ("2001:db8:1:2::/64"), since one
// IPv6 host is commonly given a whole /64. Anything else comes back as it is.
std::string client_network(std::string_view address);

// Replaces a wildcard host ("*", "0.0.0.0", "::", "") of `endpoint` with `host`.
std::string resolve_wildcard(const std::string& endpoint, const std::string& host);

// Milliseconds on a monotonic clock.
inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
int64_t unix_ms();

// A random number naming this process's incarnation, so peers can tell a restart.
uint64_t new_instance_id();

}  // namespace framepipe::protocol
