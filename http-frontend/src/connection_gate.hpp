// The HTTP server's front door. One thread reads the request head of every new connection (no
// thread waits on a client that dribbles its headers), and hands complete requests to one of
// four lanes:
// - quick: small answers (no body, nothing large to send), on the pool's threads. Their sockets
//   get a send buffer of `quick_send_buffer` bytes, so an answer that fits is handed to the kernel
//   at once and a client that reads it slowly holds no thread;
// - upload and download: requests with a body, and the large answers (results, share links), on
//   the same pool: at most `transfers_per_address` of each kind at once from one address (more
//   wait their turn without a thread, then get 503), and at most `transfers_total` of both in all,
//   so that slow bodies and slow readers can never take every thread;
// - stream: long-lived event streams, each on its own small-stack thread (an idle one costs a
//   few pages), at most `streams_per_address` per address and `streams_total` in all, 503 beyond.
// A connection served or refused is closed gracefully ("lingering close"): the answer goes out,
// the sending side is shut, and what the client still sends is read and dropped by this thread
// for a while, so that an answer given before the body was read (401, 413, 415) is not lost to a
// TCP reset. Connections still sending their head past `head_deadline` are closed; so is the
// oldest one of an address, or of all, that holds too many.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "task_pool.hpp"
#include "unique_fd.hpp"

namespace framepipe::http {

using GateClock = std::chrono::steady_clock;

// What the gate reads of a request head to decide where it goes.
struct RequestHead {
  std::string method;
  std::string path;       // the target without its query
  bool has_body = false;  // a Content-Length above 0, or a chunked body
};

// The length of the request head at the start of `bytes` (through its blank line), once it is
// all there.
std::optional<size_t> request_head_length(std::string_view bytes);
// The request line and the headers that route a request; nullopt unless it is HTTP/1.x.
std::optional<RequestHead> parse_request_head(std::string_view head);

// Counted slots, per address and in all (uploads in progress, open event streams).
class AddressSlots {
 public:
  AddressSlots(size_t per_address, size_t total) : per_address_(per_address), total_(total) {}
  bool try_take(const std::string& address);
  void give_back(const std::string& address);
  size_t taken() const { return taken_; }
  size_t taken_by(const std::string& address) const;

 private:
  const size_t per_address_;
  const size_t total_;
  size_t taken_ = 0;
  std::unordered_map<std::string, size_t> by_address_;
};

enum class Lane { quick, upload, download, stream };

struct GateLimits {
  std::chrono::milliseconds head_deadline{10'000};
  size_t head_max_bytes = 64 << 10;
  size_t waiting_per_address = 1024;  // connections still sending their head
  size_t waiting_total = 8192;
  size_t threads = 16;               // the pool's, for quick requests and transfers
  size_t transfers_per_address = 4;  // of each kind, uploads and downloads
  size_t transfers_total = 12;       // of both kinds
  size_t parked_per_address = 64;    // transfers waiting for a slot
  std::chrono::milliseconds park_deadline{30'000};
  size_t streams_per_address = 128;
  size_t streams_total = 1024;
  size_t stream_stack_bytes = 256 << 10;
  std::chrono::milliseconds linger{5'000};
  int quick_send_buffer = 256 << 10;  // SO_SNDBUF, which Linux doubles
};

// The pool's share for transfers with `threads` threads: a quarter per address of each kind, all
// but two in all.
GateLimits gate_limits_for(size_t threads, size_t streams_total);

// A connection whose request head is in.
struct ReadyConnection {
  int fd = -1;
  std::string address;
  GateClock::time_point accepted;
  std::string received;  // the head, and whatever of the body came with it
  RequestHead head;
};

struct GateCounts {
  uint64_t heads_too_slow = 0;    // closed at the head deadline
  uint64_t evicted = 0;           // closed to make room: an address (or all) held too many
  uint64_t refused_busy = 0;      // 503: stream or transfer caps
  uint64_t waiting = 0;           // now: connections sending their head
  uint64_t streams = 0;           // now: open event streams
  uint64_t uploads = 0;           // now: uploads being received
  uint64_t downloads = 0;         // now: large answers being sent
  uint64_t uploads_parked = 0;    // now: uploads waiting for a slot
  uint64_t downloads_parked = 0;  // now: downloads waiting for a slot
};

class ConnectionGate {
 public:
  // Runs on a lane's thread and serves the request; the gate closes the connection after.
  using Serve = std::function<void(ReadyConnection&)>;
  using Classify = std::function<Lane(const RequestHead&)>;

  ConnectionGate(GateLimits limits, Classify classify, Serve serve);
  ~ConnectionGate();
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  // Takes a connection just accepted (any thread; does not block).
  void admit(int fd);
  // Serves what is handed on already, waits for the streams (they end on the process's stop
  // request) up to `streams_grace`, and closes everything. Idempotent.
  void stop(std::chrono::milliseconds streams_grace = std::chrono::milliseconds(10'000));

  GateCounts counts() const;

 private:
  struct Waiting {
    std::string address;
    GateClock::time_point accepted;
    std::string received;
  };
  struct Parked {
    ReadyConnection connection;
    Lane lane;
    GateClock::time_point parked;
  };

  void run();
  void take_inbox();
  void on_new(int fd);
  void on_readable(int fd);
  void read_head(int fd, Waiting& waiting);
  void dispatch(ReadyConnection connection, Lane lane);
  bool take_transfer(Lane lane, const std::string& address);       // with mutex_ held
  void give_back_transfer(Lane lane, const std::string& address);  // with mutex_ held
  void start_transfer(ReadyConnection connection, Lane lane);
  void start_stream(ReadyConnection connection);
  struct StreamStart {
    ConnectionGate* gate;
    ReadyConnection connection;
  };
  static void* run_stream(void* argument);  // a stream thread's body; owns the StreamStart
  void unpark();
  void count_parked();
  void expire(GateClock::time_point now);
  enum class Closing { too_slow, evicted, gone };
  void close_waiting(int fd, Closing why);
  void evict_oldest(const std::string* address);
  // Answers from the gate itself (small: it fits the socket's buffer), then lingers.
  void refuse(int fd, int status, std::string_view message, bool retry_later);
  void start_lingering(int fd);
  void finished(int fd, Lane lane, const std::string& address);  // any thread
  void wake();

  const GateLimits limits_;
  const Classify classify_;
  const Serve serve_;
  UniqueFd epoll_;
  UniqueFd wake_fd_;

  // Shared with other threads.
  mutable std::mutex mutex_;
  std::vector<int> new_connections_;
  std::vector<int> to_linger_;
  bool released_transfer_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  AddressSlots streams_;  // taken by the gate thread, given back by stream threads
  size_t running_streams_ = 0;
  std::condition_variable streams_done_;
  GateCounts counts_;

  // The gate thread's own.
  std::unordered_map<int, Waiting> waiting_;
  std::map<std::string, std::deque<int>> waiting_by_address_;  // in order of arrival
  std::unordered_map<int, GateClock::time_point> lingering_;   // until when
  std::deque<Parked> parked_;
  // Guarded by mutex_ as well: given back from the pool's threads.
  AddressSlots uploads_;
  AddressSlots downloads_;

  BoundedTaskPool pool_;
  std::thread thread_;
};

}  // namespace framepipe::http
