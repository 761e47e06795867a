#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../http-frontend/src/connection_gate.hpp"

using namespace framepipe::http;
using namespace std::chrono_literals;

TEST_CASE("a request head ends at its blank line", "[gate]") {
  CHECK_FALSE(request_head_length("GET / HTTP/1.1\r\nHost: x\r\n"));
  CHECK(request_head_length("GET / HTTP/1.1\r\n\r\n") == 18u);
  CHECK(request_head_length("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody") == 27u);
}

TEST_CASE("the gate reads what routes a request from its head", "[gate]") {
  auto head = parse_request_head("GET /api/events?token=abc HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(head);
  CHECK(head->method == "GET");
  CHECK(head->path == "/api/events");
  CHECK_FALSE(head->has_body);

  head = parse_request_head("POST /api/jobs HTTP/1.1\r\ncontent-LENGTH:  1200 \r\n\r\n");
  REQUIRE(head);
  CHECK(head->has_body);
  head = parse_request_head("POST /api/jobs HTTP/1.1\r\nContent-Length: 000\r\n\r\n");
  REQUIRE(head);
  CHECK_FALSE(head->has_body);
  head = parse_request_head("POST /x HTTP/1.0\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n");
  REQUIRE(head);
  CHECK(head->has_body);

  CHECK_FALSE(parse_request_head("GET / SPDY/3\r\n\r\n"));
  CHECK_FALSE(parse_request_head("GET HTTP/1.1\r\n\r\n"));
  CHECK_FALSE(parse_request_head(" / HTTP/1.1\r\n\r\n"));
  CHECK_FALSE(parse_request_head("\r\n\r\n"));
}

TEST_CASE("slots are capped per address and in all", "[gate]") {
  AddressSlots slots(2, 3);
  CHECK(slots.try_take("a"));
  CHECK(slots.try_take("a"));
  CHECK_FALSE(slots.try_take("a"));  // a's share
  CHECK(slots.try_take("b"));
  CHECK_FALSE(slots.try_take("c"));  // all taken
  slots.give_back("a");
  CHECK(slots.taken_by("a") == 1);
  CHECK(slots.try_take("c"));
  slots.give_back("nobody");  // nothing to give back: no change
  CHECK(slots.taken() == 3);
}

TEST_CASE("transfers get a quarter of the threads per address, and never all", "[gate]") {
  const GateLimits sixteen = gate_limits_for(16, 1024);
  CHECK(sixteen.transfers_per_address == 4);
  CHECK(sixteen.transfers_total == 14);
  CHECK(sixteen.streams_per_address == 128);
  const GateLimits two = gate_limits_for(2, 8);
  CHECK(two.transfers_per_address == 1);
  CHECK(two.transfers_total == 1);
  CHECK(two.streams_per_address == 1);
}

namespace {

// Both ends of a connected pair: the gate gets `server`, the test talks on `client`.
struct Pair {
  int client = -1;
  int server = -1;
  Pair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    client = fds[0];
    server = fds[1];
  }
  // Over TCP on loopback, with a client whose receive window is small, as a slow reader's is.
  explicit Pair(bool tcp) {
    REQUIRE(tcp);
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 1) == 0);
    REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    client = ::socket(AF_INET, SOCK_STREAM, 0);
    const int small = 4096;
    ::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    server = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    REQUIRE(server >= 0);
  }
  ~Pair() { ::close(client); }
  void send(std::string_view text) const {
    REQUIRE(::send(client, text.data(), text.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(text.size()));
  }
  // What the server sent until it closed, or "" when it did not close within `within`.
  std::string until_closed(std::chrono::milliseconds within) const {
    std::string out;
    const auto end = std::chrono::steady_clock::now() + within;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left <= 0ms) return {};
      pollfd item{client, POLLIN, 0};
      if (::poll(&item, 1, static_cast<int>(left.count())) <= 0) return {};
      char buffer[4096];
      const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      if (n <= 0) return out.empty() ? std::string("(closed)") : out;
      out.append(buffer, static_cast<size_t>(n));
    }
  }
};

GateLimits small_limits() {
  GateLimits limits;
  limits.head_deadline = 300ms;
  limits.waiting_per_address = 8;
  limits.threads = 2;
  limits.transfers_per_address = 1;
  limits.transfers_total = 1;
  limits.parked_per_address = 1;
  limits.streams_per_address = 1;
  limits.streams_total = 1;
  limits.linger = 500ms;
  return limits;
}

Lane by_path(const RequestHead& head) {
  if (head.path == "/events") return Lane::stream;
  if (head.path.starts_with("/download")) return Lane::download;
  return head.has_body ? Lane::upload : Lane::quick;
}

constexpr std::string_view kAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
constexpr size_t kBigAnswer = 192 << 10;  // more than a socket sends unread by default

// Answers every request at once, except /hold, /download/hold and /events, which wait for
// release(), and /big, which sends kBigAnswer bytes (giving up after 500 ms without room).
struct Server {
  std::mutex mutex;
  std::condition_variable changed;
  bool released = false;
  std::atomic<int> served{0};
  void release() {
    std::lock_guard lock(mutex);
    released = true;
    changed.notify_all();
  }
  ConnectionGate::Serve serve() {
    return [this](ReadyConnection& connection) {
      if (connection.head.path == "/big") {
        const std::string answer(kBigAnswer, 'x');
        size_t sent = 0;
        pollfd item{connection.fd, POLLOUT, 0};
        while (sent < answer.size() && ::poll(&item, 1, 500) > 0) {
          const ssize_t n =
              ::send(connection.fd, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
        ++served;
        return;
      }
      if (connection.head.path == "/hold" || connection.head.path == "/download/hold" ||
          connection.head.path == "/events") {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return released; });
      }
      ++served;
      ::send(connection.fd, kAnswer.data(), kAnswer.size(), MSG_NOSIGNAL);
    };
  }
};

}  // namespace

TEST_CASE("the gate serves complete heads and closes those that dribble", "[gate]") {
  Server server;
  ConnectionGate gate(small_limits(), by_path, server.serve());
  Pair quick, dribbler;
  gate.admit(quick.server);
  gate.admit(dribbler.server);
  dribbler.send("GET / HTTP/1.1\r\nX-Slow: ");
  quick.send("GET / HTTP/1.1\r\n");
  quick.send("Host: x\r\n\r\n");  // a head in two reads
  CHECK(quick.until_closed(1000ms) == kAnswer);
  CHECK(dribbler.until_closed(1000ms) == "(closed)");  // past the 300 ms head deadline
  CHECK(gate.counts().heads_too_slow == 1);
  gate.stop(100ms);
}

TEST_CASE("an address with too many connections waiting loses its oldest", "[gate]") {
  Server server;
  GateLimits limits = small_limits();
  limits.waiting_per_address = 2;
  ConnectionGate gate(limits, by_path, server.serve());
  Pair first, second, third;
  gate.admit(first.server);
  gate.admit(second.server);
  std::this_thread::sleep_for(20ms);  // first and second are in
  gate.admit(third.server);
  CHECK(first.until_closed(200ms) == "(closed)");
  third.send("GET / HTTP/1.1\r\n\r\n");
  CHECK(third.until_closed(1000ms) == kAnswer);
  CHECK(gate.counts().evicted == 1);
  gate.stop(100ms);
}

TEST_CASE("an address's second upload waits its turn without a thread", "[gate]") {
  Server server;
  ConnectionGate gate(small_limits(), by_path, server.serve());
  Pair held, next, over, quick;
  for (const Pair* pair : {&held, &next, &over, &quick}) gate.admit(pair->server);
  held.send("POST /hold HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  next.send("POST /next HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  over.send("POST /over HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
  // One waits (parked_per_address 1), one more is refused, quick requests still pass.
  const std::string refused = over.until_closed(1000ms);
  CHECK(refused.starts_with("HTTP/1.1 503"));
  CHECK(refused.find("Retry-After: 1") != std::string::npos);
  quick.send("GET / HTTP/1.1\r\n\r\n");
  CHECK(quick.until_closed(1000ms) == kAnswer);
  CHECK(gate.counts().uploads_parked == 1);
  CHECK(server.served == 1);
  server.release();
  CHECK(held.until_closed(1000ms) == kAnswer);
  CHECK(next.until_closed(1000ms) == kAnswer);
  gate.stop(100ms);
}

// Three threads, of which transfers may take two.
GateLimits transfer_limits(size_t per_address) {
  GateLimits limits = small_limits();
  limits.threads = 3;
  limits.transfers_per_address = per_address;
  limits.transfers_total = 2;
  limits.parked_per_address = 2;
  return limits;
}

TEST_CASE("an address's downloads wait their turn apart from its uploads", "[gate]") {
  Server server;
  ConnectionGate gate(transfer_limits(1), by_path, server.serve());
  Pair upload, download, next_download, quick;
  for (const Pair* pair : {&upload, &download, &next_download, &quick}) gate.admit(pair->server);
  upload.send("POST /hold HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
  download.send("GET /download/hold HTTP/1.1\r\n\r\n");  // an upload does not hold it back
  std::this_thread::sleep_for(50ms);
  next_download.send("GET /download/next HTTP/1.1\r\n\r\n");
  quick.send("GET / HTTP/1.1\r\n\r\n");
  CHECK(quick.until_closed(1000ms) == kAnswer);
  const GateCounts counts = gate.counts();
  CHECK(counts.uploads == 1);
  CHECK(counts.downloads == 1);
  CHECK(counts.downloads_parked == 1);
  CHECK(counts.uploads_parked == 0);
  server.release();
  CHECK(upload.until_closed(1000ms) == kAnswer);
  CHECK(download.until_closed(1000ms) == kAnswer);
  CHECK(next_download.until_closed(1000ms) == kAnswer);
  gate.stop(100ms);
}

TEST_CASE("transfers of every kind together never take the last threads", "[gate]") {
  Server server;
  ConnectionGate gate(transfer_limits(4), by_path, server.serve());
  Pair first, second, third, quick;
  for (const Pair* pair : {&first, &second, &third, &quick}) gate.admit(pair->server);
  first.send("GET /download/hold HTTP/1.1\r\n\r\n");
  second.send("POST /hold HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  third.send("GET /download/hold HTTP/1.1\r\n\r\n");  // within its address's share, not the total
  quick.send("GET / HTTP/1.1\r\n\r\n");
  CHECK(quick.until_closed(1000ms) == kAnswer);
  CHECK(gate.counts().downloads_parked == 1);
  server.release();
  for (const Pair* pair : {&first, &second, &third}) CHECK(pair->until_closed(1000ms) == kAnswer);
  gate.stop(100ms);
}

TEST_CASE("a small answer goes to the kernel whole: a client that does not read holds no thread",
          "[gate]") {
  Server server;
  GateLimits limits = small_limits();
  limits.threads = 1;
  const bool roomy = GENERATE(true, false);
  if (!roomy) limits.quick_send_buffer = 4096;  // as without the gate's send buffer
  ConnectionGate gate(limits, by_path, server.serve());
  Pair reader(true);  // asks for a large answer and reads none of it
  Pair next;
  gate.admit(reader.server);
  gate.admit(next.server);
  reader.send("GET /big HTTP/1.1\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  next.send("GET / HTTP/1.1\r\n\r\n");
  const auto started = std::chrono::steady_clock::now();
  CHECK(next.until_closed(1000ms) == kAnswer);
  const auto waited = std::chrono::steady_clock::now() - started;
  if (roomy) {
    CHECK(waited < 300ms);  // the only thread was free again
  } else {
    CHECK(waited >= 300ms);  // it waited for the unread answer (500 ms)
  }
  std::string got;
  char buffer[65536];
  for (ssize_t n; (n = ::recv(reader.client, buffer, sizeof buffer, 0)) > 0;) got.append(buffer, n);
  if (roomy) CHECK(got.size() == kBigAnswer);  // all of it, after the gate closed the socket
  gate.stop(100ms);
}

TEST_CASE("event streams beyond an address's share are refused with 503", "[gate]") {
  Server server;
  ConnectionGate gate(small_limits(), by_path, server.serve());
  Pair open, refused;
  gate.admit(open.server);
  gate.admit(refused.server);
  open.send("GET /events HTTP/1.1\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  refused.send("GET /events HTTP/1.1\r\n\r\n");
  const std::string answer = refused.until_closed(1000ms);
  CHECK(answer.starts_with("HTTP/1.1 503"));
  CHECK(answer.find("your address") != std::string::npos);
  CHECK(gate.counts().streams == 1);
  server.release();
  CHECK(open.until_closed(1000ms) == kAnswer);
  CHECK(gate.counts().streams == 0);
  gate.stop(100ms);
}

TEST_CASE("a head that is not HTTP or too large gets an answer, not silence", "[gate]") {
  Server server;
  GateLimits limits = small_limits();
  limits.head_max_bytes = 64;
  ConnectionGate gate(limits, by_path, server.serve());
  Pair garbage, huge;
  gate.admit(garbage.server);
  gate.admit(huge.server);
  garbage.send("HELLO\r\n\r\n");
  huge.send("GET / HTTP/1.1\r\nX-Big: " + std::string(100, 'a'));
  CHECK(garbage.until_closed(1000ms).starts_with("HTTP/1.1 400"));
  CHECK(huge.until_closed(1000ms).starts_with("HTTP/1.1 431"));
  CHECK(server.served == 0);
  gate.stop(100ms);
}
