#include "guarded_server.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "log.hpp"

namespace framepipe::http {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::size_t kReadBufferBytes = 4096;  // the request line is read byte by byte

// httplib hands each accepted connection to its task queue; this one gives it straight to the
// gate, on the accepting thread (the gate only takes note of it).
class InlineQueue final : public httplib::TaskQueue {
 public:
  explicit InlineQueue(ConnectionGate& gate) : gate_(gate) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { gate_.stop(); }

 private:
  ConnectionGate& gate_;
};

void address_of(int sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  const int result = peer ? getpeername(sock, reinterpret_cast<sockaddr*>(&address), &length)
                          : getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length);
  ip.clear();
  port = 0;
  if (result != 0) return;
  char host[NI_MAXHOST] = {};
  char service[NI_MAXSERV] = {};
  if (getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof host, service,
                  sizeof service, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(service);
  }
}

// A socket stream that counts how long it waits on the client against the budget. httplib's
// Stream interface has const waits, hence the mutable accounting.
class BudgetStream final : public httplib::Stream {
 public:
  // `received`: what the gate read already (the request head, and maybe more).
  BudgetStream(int sock, const ClientBudget& budget, std::string received)
      : sock_(sock), budget_(budget), received_(std::move(received)) {}

  // The request line and headers are in: from now on reads are paid for by the bytes received.
  void headers_done() {
    in_body_ = true;
    body_received_ = 0;
    read_waited_ = milliseconds(0);
  }
  bool over_budget() const { return over_budget_; }
  bool in_body() const { return in_body_; }

  bool is_readable() const override {
    return received_at_ < received_.size() || begin_ < end_ || wait(POLLIN);
  }
  bool is_writable() const override { return wait(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (received_at_ < received_.size()) {
      const std::size_t count = std::min(size, received_.size() - received_at_);
      std::memcpy(ptr, received_.data() + received_at_, count);
      received_at_ += count;
      return static_cast<ssize_t>(count);
    }
    if (begin_ == end_) {
      if (!wait(POLLIN)) return -1;
      ssize_t n;
      do n = ::recv(sock_, buffer_, sizeof buffer_, 0);
      while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<std::size_t>(n);
      if (in_body_) body_received_ += n;
    }
    const std::size_t count = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_ + begin_, count);
    begin_ += count;
    return static_cast<ssize_t>(count);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!wait(POLLOUT)) return -1;
    ssize_t n;
    do n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n > 0) sent_ += n;
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(sock_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(sock_, false, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  // What is left of the budget for waiting on the client in this direction. (The head came whole
  // from the gate, within its own deadline: reading it never waits.)
  milliseconds remaining(bool reading) const {
    const int64_t paid_bytes = reading ? body_received_ : sent_;
    const milliseconds earned(paid_bytes * 1000 / budget_.min_rate_bytes_per_second);
    return budget_.grace + earned - (reading ? read_waited_ : write_waited_);
  }

  // Waits until the socket is ready for `events`, within the budget and the single-wait timeout.
  // A spent budget still lets through what needs no waiting (bytes already received, room in the
  // send buffer): the budget limits waiting on the client, not serving one that kept up.
  bool wait(short events) const {
    const bool reading = events == POLLIN;
    const milliseconds left = remaining(reading);
    if (left <= milliseconds(0)) {
      pollfd item{sock_, events, 0};
      if (::poll(&item, 1, 0) > 0) return true;
      over_budget_ = true;
      return false;
    }
    const milliseconds limit = std::min(left, budget_.io_timeout);
    pollfd item{sock_, events, 0};
    const auto before = Clock::now();
    int ready;
    do ready = ::poll(&item, 1, static_cast<int>(limit.count()));
    while (ready < 0 && errno == EINTR);
    const auto waited = duration_cast<milliseconds>(Clock::now() - before);
    (reading ? read_waited_ : write_waited_) += waited;
    if (ready == 0 && limit == left) over_budget_ = true;
    return ready > 0;
  }

  const int sock_;
  const ClientBudget& budget_;
  const std::string received_;
  std::size_t received_at_ = 0;
  bool in_body_ = false;
  int64_t body_received_ = 0;
  int64_t sent_ = 0;
  mutable milliseconds read_waited_{0};
  mutable milliseconds write_waited_{0};
  mutable bool over_budget_ = false;
  char buffer_[kReadBufferBytes];
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace

GuardedServer::GuardedServer(ClientBudget budget, GateLimits limits,
                             ConnectionGate::Classify classify)
    : budget_(budget), gate_(limits, std::move(classify), [this](ReadyConnection& connection) {
        serve(connection);
      }) {
  new_task_queue = [this] { return new InlineQueue(gate_); };
}

GuardedServer::~GuardedServer() {
  gate_.stop();
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  gate_.admit(sock);
  return true;
}

void GuardedServer::serve(ReadyConnection& connection) {
  const int sock = connection.fd;
  int yes = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  BudgetStream stream(sock, budget_, std::move(connection.received));
  bool closed = false;
  process_request(stream, /*close_connection=*/true, closed,
                  [&stream](httplib::Request&) { stream.headers_done(); });
  if (stream.over_budget()) {
    const uint64_t count = slow_clients_cut_.fetch_add(1, std::memory_order_relaxed) + 1;
    // One line per power of two: a crowd of slow clients does not flood the log.
    if ((count & (count - 1)) == 0) {
      log().warn("http: closed a connection from {} that was too slow {} ({} so far)",
                 connection.address,
                 stream.in_body() ? "with its body or reading the response" : "sending its request",
                 count);
    }
  }
}

}  // namespace framepipe::http
