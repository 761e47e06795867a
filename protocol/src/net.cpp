#include "framepipe/protocol/net.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <random>

#include <zmq_addon.hpp>

namespace framepipe::protocol {

void configure(zmq::socket_ref socket, int send_hwm, int receive_hwm) {
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
  socket.set(zmq::sockopt::sndhwm, send_hwm);
  socket.set(zmq::sockopt::rcvhwm, receive_hwm);
}

int poll(zmq::pollitem_t* items, std::size_t count, std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(items, count, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    for (std::size_t i = 0; i < count; ++i) items[i].revents = 0;
    return 0;
  }
}

std::optional<Parts> receive(zmq::socket_ref socket) {
  Parts parts;
  try {
    auto count = zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait);
    if (!count) return std::nullopt;
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    return std::nullopt;
  }
  return parts;
}

bool send(zmq::socket_ref socket, Parts& parts, bool dont_wait) {
  const auto flags = dont_wait ? zmq::send_flags::dontwait : zmq::send_flags::none;
  try {
    return zmq::send_multipart(socket, parts, flags).has_value();
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH || e.num() == EINTR) return false;  // peer gone, or a signal
    throw;
  }
}

std::string client_network(std::string_view address) {
  std::string text(address.substr(0, INET6_ADDRSTRLEN));
  if (const auto zone = text.find('%'); zone != std::string::npos) text.resize(zone);
  in6_addr ip6{};
  if (text.find(':') == std::string::npos || inet_pton(AF_INET6, text.c_str(), &ip6) != 1) {
    return std::string(address);
  }
  char out[INET6_ADDRSTRLEN] = {};
  if (IN6_IS_ADDR_V4MAPPED(&ip6)) {
    in_addr ip4{};
    std::memcpy(&ip4, &ip6.s6_addr[12], sizeof ip4);
    return inet_ntop(AF_INET, &ip4, out, sizeof out) ? std::string(out) : std::string(address);
  }
  std::memset(&ip6.s6_addr[8], 0, 8);
  if (!inet_ntop(AF_INET6, &ip6, out, sizeof out)) return std::string(address);
  return std::string(out) + "/64";
}

std::optional<TcpEndpoint> parse_tcp_endpoint(const std::string& endpoint) {
  constexpr std::string_view prefix = "tcp://";
  if (endpoint.rfind(prefix, 0) != 0) return std::nullopt;
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon < prefix.size()) return std::nullopt;
  TcpEndpoint result;
  result.host = endpoint.substr(prefix.size(), colon - prefix.size());
  if (result.host.size() >= 2 && result.host.front() == '[' && result.host.back() == ']') {
    result.host = result.host.substr(1, result.host.size() - 2);
  }
  const char* first = endpoint.data() + colon + 1;
  const char* last = endpoint.data() + endpoint.size();
  auto [end, error] = std::from_chars(first, last, result.port);
  if (error != std::errc() || end != last || result.port <= 0 || result.port > 65535) {
    return std::nullopt;
  }
  return result;
}

std::string tcp_endpoint(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return "tcp://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string resolve_wildcard(const std::string& endpoint, const std::string& host) {
  auto parsed = parse_tcp_endpoint(endpoint);
  if (!parsed) return endpoint;
  if (parsed->host == "*" || parsed->host == "0.0.0.0" || parsed->host == "::" ||
      parsed->host.empty()) {
    return tcp_endpoint(host, parsed->port);
  }
  return endpoint;
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t new_instance_id() {
  std::random_device random;
  return (uint64_t{random()} << 32) | random();
}

}  // namespace framepipe::protocol
