#include "connection_gate.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "framepipe/protocol/net.hpp"
#include "log.hpp"

namespace framepipe::http {

namespace {

constexpr std::string_view kHeadEnd = "\r\n\r\n";
constexpr auto kTick = std::chrono::milliseconds(100);
constexpr size_t kReadBytes = 16 << 10;
constexpr int kMaxEvents = 256;

std::string_view too_many(Lane lane) {
  return lane == Lane::upload ? "too many uploads from your address at once"
                              : "too many downloads from your address at once";
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

std::string peer_address(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return {};
  char host[NI_MAXHOST] = {};
  if (getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof host, nullptr, 0,
                  NI_NUMERICHOST) != 0) {
    return {};
  }
  return protocol::client_network(host);  // an IPv6 client counts with its /64
}

void epoll_add(int epoll, int fd) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP;
  event.data.fd = fd;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl add");
  }
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

}  // namespace

std::optional<size_t> request_head_length(std::string_view bytes) {
  const size_t end = bytes.find(kHeadEnd);
  if (end == std::string_view::npos) return std::nullopt;
  return end + kHeadEnd.size();
}

std::optional<RequestHead> parse_request_head(std::string_view head) {
  size_t line_end = head.find("\r\n");
  if (line_end == std::string_view::npos) return std::nullopt;
  const std::string_view line = head.substr(0, line_end);
  const size_t first = line.find(' ');
  const size_t last = line.rfind(' ');
  if (first == std::string_view::npos || first == 0 || last == first) return std::nullopt;
  if (!line.substr(last + 1).starts_with("HTTP/1.")) return std::nullopt;
  RequestHead out;
  out.method = std::string(line.substr(0, first));
  std::string_view target = line.substr(first + 1, last - first - 1);
  if (target.empty()) return std::nullopt;
  out.path = std::string(target.substr(0, target.find('?')));

  std::string_view rest = head.substr(line_end + 2);
  while (!rest.empty()) {
    const size_t end = rest.find("\r\n");
    const std::string_view header = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
    const size_t colon = header.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name = lower(trim(header.substr(0, colon)));
    const std::string_view value = trim(header.substr(colon + 1));
    if (name == "content-length") {
      out.has_body = out.has_body ||
                     (!value.empty() && value.find_first_not_of('0') != std::string_view::npos);
    } else if (name == "transfer-encoding") {
      out.has_body = out.has_body || lower(value).find("chunked") != std::string::npos;
    }
  }
  return out;
}

bool AddressSlots::try_take(const std::string& address) {
  if (taken_ >= total_) return false;
  size_t& mine = by_address_[address];
  if (mine >= per_address_) return false;
  ++mine;
  ++taken_;
  return true;
}

void AddressSlots::give_back(const std::string& address) {
  const auto found = by_address_.find(address);
  if (found == by_address_.end() || found->second == 0) return;
  --taken_;
  if (--found->second == 0) by_address_.erase(found);
}

size_t AddressSlots::taken_by(const std::string& address) const {
  const auto found = by_address_.find(address);
  return found == by_address_.end() ? 0 : found->second;
}

GateLimits gate_limits_for(size_t threads, size_t streams_total) {
  GateLimits limits;
  limits.threads = std::max<size_t>(1, threads);
  limits.transfers_per_address = std::max<size_t>(1, limits.threads / 4);
  limits.transfers_total = std::max<size_t>(1, limits.threads > 2 ? limits.threads - 2 : 1);
  limits.streams_total = std::max<size_t>(1, streams_total);
  limits.streams_per_address = std::max<size_t>(1, limits.streams_total / 8);
  return limits;
}

ConnectionGate::ConnectionGate(GateLimits limits, Classify classify, Serve serve)
    : limits_(limits),
      classify_(std::move(classify)),
      serve_(std::move(serve)),
      epoll_(epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      streams_(limits.streams_per_address, limits.streams_total),
      uploads_(limits.transfers_per_address, limits.transfers_total),
      downloads_(limits.transfers_per_address, limits.transfers_total),
      pool_(limits.threads, limits.waiting_total) {
  if (epoll_.get() < 0 || wake_fd_.get() < 0) {
    throw std::system_error(errno, std::generic_category(), "http gate: epoll or eventfd");
  }
  epoll_add(epoll_.get(), wake_fd_.get());
  thread_ = std::thread([this] { run(); });
}

ConnectionGate::~ConnectionGate() {
  stop();
}

void ConnectionGate::admit(int fd) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      new_connections_.push_back(fd);
      fd = -1;
    }
  }
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  wake();
}

void ConnectionGate::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

GateCounts ConnectionGate::counts() const {
  std::lock_guard lock(mutex_);
  GateCounts out = counts_;
  out.streams = running_streams_;
  out.uploads = uploads_.taken();
  out.downloads = downloads_.taken();
  return out;
}

void ConnectionGate::stop(std::chrono::milliseconds streams_grace) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  // What the gate thread held: connections that never sent a head, uploads waiting their turn.
  for (auto& [fd, waiting] : waiting_) ::close(fd);
  waiting_.clear();
  waiting_by_address_.clear();
  for (Parked& parked : parked_) ::close(parked.connection.fd);
  parked_.clear();
  pool_.shutdown();  // serves the requests it has
  {
    std::unique_lock lock(mutex_);
    if (!streams_done_.wait_for(lock, streams_grace, [&] { return running_streams_ == 0; })) {
      log().warn("http: {} event streams still open at stop", running_streams_);
    }
    stopped_ = true;  // from now on, finished connections close at once
    for (int fd : to_linger_) ::close(fd);
    to_linger_.clear();
    for (int fd : new_connections_) ::close(fd);
    new_connections_.clear();
  }
  for (auto& [fd, until] : lingering_) ::close(fd);
  lingering_.clear();
}

void ConnectionGate::run() {
  epoll_event events[kMaxEvents];
  for (;;) {
    const int ready = epoll_wait(epoll_.get(), events, kMaxEvents, static_cast<int>(kTick.count()));
    if (ready < 0 && errno != EINTR) {
      log().error("http gate: epoll_wait: {}", std::strerror(errno));
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    for (int i = 0; i < ready; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_.get()) {
        uint64_t count;
        [[maybe_unused]] const ssize_t n = ::read(wake_fd_.get(), &count, sizeof count);
        continue;
      }
      on_readable(fd);
    }
    take_inbox();
    expire(GateClock::now());
  }
}

void ConnectionGate::take_inbox() {
  std::vector<int> fresh;
  std::vector<int> linger;
  bool released;
  {
    std::lock_guard lock(mutex_);
    fresh.swap(new_connections_);
    linger.swap(to_linger_);
    released = std::exchange(released_transfer_, false);
  }
  for (int fd : linger) start_lingering(fd);
  for (int fd : fresh) on_new(fd);
  if (released) unpark();
}

void ConnectionGate::on_new(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    ::close(fd);
    return;
  }
  std::string address = peer_address(fd);
  // Room first: the oldest connection of this address, or of all, that is still sending its
  // head makes way. A crowd of dribbling connections churns; a quick request always gets in.
  auto& mine = waiting_by_address_[address];
  if (mine.size() >= limits_.waiting_per_address) evict_oldest(&address);
  if (waiting_.size() >= limits_.waiting_total) evict_oldest(nullptr);
  try {
    epoll_add(epoll_.get(), fd);
  } catch (const std::system_error& e) {
    log().warn("http gate: {}", e.what());
    ::close(fd);
    return;
  }
  waiting_by_address_[address].push_back(fd);
  waiting_.emplace(fd, Waiting{std::move(address), GateClock::now(), {}});
  std::lock_guard lock(mutex_);
  counts_.waiting = waiting_.size();
}

void ConnectionGate::evict_oldest(const std::string* address) {
  int victim = -1;
  if (address) {
    auto found = waiting_by_address_.find(*address);
    if (found == waiting_by_address_.end() || found->second.empty()) return;
    victim = found->second.front();
  } else {
    auto oldest = GateClock::time_point::max();
    for (const auto& [fd, waiting] : waiting_) {
      if (waiting.accepted < oldest) {
        oldest = waiting.accepted;
        victim = fd;
      }
    }
  }
  if (victim >= 0) close_waiting(victim, Closing::evicted);
}

void ConnectionGate::close_waiting(int fd, Closing why) {
  const auto found = waiting_.find(fd);
  if (found == waiting_.end()) return;
  auto by_address = waiting_by_address_.find(found->second.address);
  if (by_address != waiting_by_address_.end()) {
    auto& fds = by_address->second;
    fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
    if (fds.empty()) waiting_by_address_.erase(by_address);
  }
  waiting_.erase(found);
  uint64_t count = 0;
  {
    std::lock_guard lock(mutex_);
    counts_.waiting = waiting_.size();
    if (why != Closing::gone) {
      count = ++(why == Closing::evicted ? counts_.evicted : counts_.heads_too_slow);
    }
  }
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  // One line per power of two: a crowd of slow clients does not flood the log.
  if (count > 0 && (count & (count - 1)) == 0) {
    log().warn("http: closed a connection that {} ({} so far)",
               why == Closing::evicted ? "made way for a newer one from its address"
                                       : "sent no complete request in time",
               count);
  }
}

void ConnectionGate::on_readable(int fd) {
  if (const auto found = waiting_.find(fd); found != waiting_.end()) {
    read_head(fd, found->second);
    return;
  }
  if (lingering_.contains(fd)) {
    char discard[kReadBytes];
    ssize_t n;
    do n = ::recv(fd, discard, sizeof discard, 0);
    while (n > 0 || (n < 0 && errno == EINTR));
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      lingering_.erase(fd);
      ::close(fd);  // closing removes it from the epoll set
    }
  }
}

void ConnectionGate::read_head(int fd, Waiting& waiting) {
  char buffer[kReadBytes];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return close_waiting(fd, Closing::gone);  // before its request was in
    const size_t searched_from = waiting.received.size() > 3 ? waiting.received.size() - 3 : 0;
    waiting.received.append(buffer, static_cast<size_t>(n));
    const auto end = request_head_length(std::string_view(waiting.received).substr(searched_from));
    if (end) break;
    if (waiting.received.size() > limits_.head_max_bytes) break;
    if (static_cast<size_t>(n) < sizeof buffer) break;
  }
  const auto length = request_head_length(waiting.received);
  if (!length && waiting.received.size() <= limits_.head_max_bytes) return;  // more to come

  ReadyConnection ready{fd, waiting.address, waiting.accepted, std::move(waiting.received), {}};
  // Out of the waiting set, but the fd stays open: the lanes take it from here.
  auto by_address = waiting_by_address_.find(ready.address);
  if (by_address != waiting_by_address_.end()) {
    auto& fds = by_address->second;
    fds.erase(std::remove(fds.begin(), fds.end(), fd), fds.end());
    if (fds.empty()) waiting_by_address_.erase(by_address);
  }
  waiting_.erase(fd);
  {
    std::lock_guard lock(mutex_);
    counts_.waiting = waiting_.size();
  }
  if (!length) {
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    return refuse(fd, 431, "the request head is too large", false);
  }
  auto head = parse_request_head(std::string_view(ready.received).substr(0, *length));
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  if (!head) return refuse(fd, 400, "not an HTTP/1.x request", false);
  ready.head = std::move(*head);
  const Lane lane = classify_(ready.head);
  dispatch(std::move(ready), lane);
}

void ConnectionGate::dispatch(ReadyConnection connection, Lane lane) {
  switch (lane) {
    case Lane::stream:
      return start_stream(std::move(connection));
    case Lane::upload:
    case Lane::download: {
      bool slot;
      {
        std::lock_guard lock(mutex_);
        slot = take_transfer(lane, connection.address);
      }
      if (slot) return start_transfer(std::move(connection), lane);
      const auto mine = std::count_if(parked_.begin(), parked_.end(), [&](const Parked& parked) {
        return parked.connection.address == connection.address;
      });
      if (static_cast<size_t>(mine) >= limits_.parked_per_address) {
        return refuse(connection.fd, 503, too_many(lane), true);
      }
      parked_.push_back({std::move(connection), lane, GateClock::now()});
      return count_parked();
    }
    case Lane::quick: {
      const int fd = connection.fd;
      // Room in the kernel for the whole answer: a slow reader then holds no thread. (Best
      // effort: without it, the budget still cuts a reader that is too slow.)
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &limits_.quick_send_buffer,
                   sizeof limits_.quick_send_buffer);
      auto shared = std::make_shared<ReadyConnection>(std::move(connection));
      std::function<void()> task = [this, shared] {
        serve_(*shared);
        finished(shared->fd, Lane::quick, shared->address);
      };
      if (!pool_.try_enqueue(task)) refuse(fd, 503, "the server is busy; retry shortly", true);
      return;
    }
  }
}

bool ConnectionGate::take_transfer(Lane lane, const std::string& address) {
  if (uploads_.taken() + downloads_.taken() >= limits_.transfers_total) return false;
  return (lane == Lane::upload ? uploads_ : downloads_).try_take(address);
}

void ConnectionGate::give_back_transfer(Lane lane, const std::string& address) {
  (lane == Lane::upload ? uploads_ : downloads_).give_back(address);
  released_transfer_ = true;
}

void ConnectionGate::start_transfer(ReadyConnection connection, Lane lane) {
  const int fd = connection.fd;
  const std::string address = connection.address;
  auto shared = std::make_shared<ReadyConnection>(std::move(connection));
  std::function<void()> task = [this, shared, lane] {
    serve_(*shared);
    finished(shared->fd, lane, shared->address);
  };
  if (pool_.try_enqueue(task)) return;
  {
    std::lock_guard lock(mutex_);
    give_back_transfer(lane, address);
  }
  refuse(fd, 503, "the server is busy; retry shortly", true);
}

void ConnectionGate::start_stream(ReadyConnection connection) {
  bool slot;
  bool mine_full = false;
  {
    std::lock_guard lock(mutex_);
    slot = streams_.try_take(connection.address);
    if (slot) {
      ++running_streams_;
    } else {
      mine_full = streams_.taken_by(connection.address) >= limits_.streams_per_address;
    }
  }
  if (!slot) {
    return refuse(connection.fd, 503,
                  mine_full
                      ? "too many live event streams from your address; close some, or retry later"
                      : "too many live event streams are open; retry later",
                  true);
  }
  // Each stream has a thread of its own with a small stack: an idle stream costs a few pages.
  auto stream = std::make_unique<StreamStart>(StreamStart{this, std::move(connection)});
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, limits_.stream_stack_bytes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  const int error = pthread_create(&thread, &attributes, &ConnectionGate::run_stream, stream.get());
  pthread_attr_destroy(&attributes);
  if (error == 0) {
    stream.release();  // the thread owns it
    return;
  }
  log().warn("http: cannot start an event stream's thread: {}", std::strerror(error));
  {
    std::lock_guard lock(mutex_);
    streams_.give_back(stream->connection.address);
    --running_streams_;
  }
  refuse(stream->connection.fd, 503, "the server is busy; retry shortly", true);
}

void* ConnectionGate::run_stream(void* argument) {
  const std::unique_ptr<StreamStart> stream(static_cast<StreamStart*>(argument));
  ReadyConnection& connection = stream->connection;
  try {
    stream->gate->serve_(connection);
  } catch (const std::exception& e) {
    log().error("http: event stream failed: {}", e.what());
  }
  stream->gate->finished(connection.fd, Lane::stream, connection.address);
  return nullptr;
}

void ConnectionGate::finished(int fd, Lane lane, const std::string& address) {
  {
    std::lock_guard lock(mutex_);
    // The slot first: by the time the client sees the end, it is free again.
    if (lane == Lane::upload || lane == Lane::download) {
      give_back_transfer(lane, address);
    } else if (lane == Lane::stream) {
      streams_.give_back(address);
      if (--running_streams_ == 0) streams_done_.notify_all();
    }
  }
  ::shutdown(fd, SHUT_WR);
  {
    std::lock_guard lock(mutex_);
    if (!stopped_) {
      to_linger_.push_back(fd);  // the gate thread owns it from here
      fd = -1;
    }
  }
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  wake();
}

void ConnectionGate::unpark() {
  for (auto it = parked_.begin(); it != parked_.end();) {
    bool slot;
    {
      std::lock_guard lock(mutex_);
      slot = take_transfer(it->lane, it->connection.address);
    }
    if (!slot) {
      ++it;
      continue;
    }
    ReadyConnection connection = std::move(it->connection);
    const Lane lane = it->lane;
    it = parked_.erase(it);
    start_transfer(std::move(connection), lane);
  }
  count_parked();
}

void ConnectionGate::count_parked() {
  const auto uploads = std::count_if(parked_.begin(), parked_.end(), [](const Parked& parked) {
    return parked.lane == Lane::upload;
  });
  std::lock_guard lock(mutex_);
  counts_.uploads_parked = static_cast<uint64_t>(uploads);
  counts_.downloads_parked = parked_.size() - static_cast<uint64_t>(uploads);
}

void ConnectionGate::expire(GateClock::time_point now) {
  std::vector<int> late;
  for (const auto& [fd, waiting] : waiting_) {
    if (now - waiting.accepted >= limits_.head_deadline) late.push_back(fd);
  }
  for (int fd : late) close_waiting(fd, Closing::too_slow);

  for (auto it = lingering_.begin(); it != lingering_.end();) {
    if (now >= it->second) {
      ::close(it->first);
      it = lingering_.erase(it);
    } else {
      ++it;
    }
  }

  while (!parked_.empty() && now - parked_.front().parked >= limits_.park_deadline) {
    const int fd = parked_.front().connection.fd;
    const Lane lane = parked_.front().lane;
    parked_.pop_front();
    refuse(fd, 503, std::string(too_many(lane)) + "; retry later", true);
  }
  count_parked();
}

void ConnectionGate::refuse(int fd, int status, std::string_view message, bool retry_later) {
  const std::string body = "{\"error\":" + json_string(message) + "}";
  std::string response =
      "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n" + (retry_later ? "Retry-After: 1\r\n" : "") + "\r\n" + body;
  [[maybe_unused]] const ssize_t n =
      ::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  {
    std::lock_guard lock(mutex_);
    if (status == 503) ++counts_.refused_busy;
  }
  start_lingering(fd);
}

void ConnectionGate::start_lingering(int fd) {
  try {
    epoll_add(epoll_.get(), fd);
  } catch (const std::system_error&) {
    ::close(fd);
    return;
  }
  lingering_[fd] = GateClock::now() + limits_.linger;
}

}  // namespace framepipe::http
