// The http-frontend's only contact with the cluster: one thread that owns every ZeroMQ socket of
// the process (DEALER to the ventilator's control endpoint, DEALER to the registry, SUB to the
// sink's progress). HTTP handlers hand it commands through a bounded queue; it reports what it
// hears through callbacks (called on its thread) and keeps a snapshot of the cluster's health and
// worker list for the handlers to read.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <zmq.hpp>

#include "framepipe/protocol/curve.hpp"
#include "framepipe/protocol/dispatcher.hpp"
#include "framepipe/protocol/log_throttle.hpp"
#include "framepipe/protocol/messages.hpp"
#include "log.hpp"

namespace framepipe::http {

struct ClusterEndpoints {
  std::string registry;         // registry ROUTER
  std::string control;          // ventilator control ROUTER
  std::string progress;         // sink PUB
  protocol::CurveConfig curve;  // CURVE client keys, when the cluster uses them
};

// Called on the link thread. Exceptions they throw are logged and the message is dropped.
struct ClusterEvents {
  std::function<void(const protocol::SubmitReply&)> on_submit_reply;
  std::function<void(const protocol::JobProgress&)> on_progress;
  std::function<void(const protocol::Pong&)> on_pong;
  // About once per kPingIntervalMs, with the protocol::now_ms() clock.
  std::function<void(int64_t now_ms)> on_tick;
};

// When a peer last answered, on the protocol::now_ms() clock; nothing if it never did.
struct PeerStatus {
  std::optional<int64_t> last_answer_ms;
  // Answered within the liveness window (heartbeat interval x liveness) before `now_ms`.
  bool alive(int64_t now_ms) const;
};

struct ClusterSnapshot {
  PeerStatus registry;
  PeerStatus ventilator;
  PeerStatus sink;
  std::vector<protocol::WorkerInfo> workers;  // the registry's last list
  int64_t workers_received_ms = 0;            // when that list arrived (now_ms clock)
  protocol::Pong last_pong;
  protocol::SinkAlive last_sink_alive;
};

class ClusterLink {
 public:
  // How often the registry is asked for its workers, the ventilator pinged, and an unanswered
  // SubmitJob sent again.
  static constexpr int kListWorkersIntervalMs = 500;
  static constexpr int kPingIntervalMs = 1000;
  static constexpr int kResubmitIntervalMs = 2000;
  // A CancelJob that cannot be queued (no connection) is retried this long, then dropped.
  static constexpr int kCancelRetryMs = 30000;
  // Commands waiting for the link thread; when full, submit()/cancel() refuse the newest.
  static constexpr size_t kCommandQueueCapacity = 1024;

  // Creates the sockets and connects them (ZeroMQ connects lazily, so the peers may be down).
  // Throws zmq::error_t on an invalid endpoint. Nothing is sent or called back before start().
  ClusterLink(const ClusterEndpoints& endpoints, ClusterEvents events);
  // Starts the thread that owns the sockets; the callbacks may run from then on. Call once.
  void start();
  // Stops and joins the thread.
  ~ClusterLink();
  ClusterLink(const ClusterLink&) = delete;
  ClusterLink& operator=(const ClusterLink&) = delete;

  // Sends the job to the ventilator and again every kResubmitIntervalMs until it answers. Returns
  // false when the command queue is full.
  bool submit(const protocol::SubmitJob& job);
  // Stops resending the job and tells the ventilator to cancel it. False when the queue is full.
  bool cancel(const std::string& job_id);

  ClusterSnapshot snapshot() const;

 private:
  struct CancelCommand {
    std::string job_id;
  };
  using Command = std::variant<protocol::SubmitJob, CancelCommand>;
  struct PendingSubmit {
    protocol::SubmitJob job;
    int64_t last_sent_ms = 0;
  };
  struct PendingCancel {
    std::string job_id;
    int64_t first_try_ms = 0;
  };

  bool enqueue(Command command);
  void loop(std::stop_token stop);
  void run_commands(int64_t now);
  void run_timers(int64_t now);
  // Registers the handlers of what the ventilator, the registry and the sink say.
  void listen();
  void drain(zmq::socket_t& socket, protocol::Dispatcher& inbound, const char* peer);
  void forget_submit(const std::string& job_id);

  ClusterEvents events_;

  // Owned by the link thread once it runs (created in the constructor, before the thread starts).
  zmq::context_t context_{1};
  zmq::socket_t control_;
  zmq::socket_t registry_;
  zmq::socket_t progress_;
  std::vector<PendingSubmit> pending_submits_;
  std::vector<PendingCancel> pending_cancels_;
  int64_t next_ping_ms_ = 0;
  int64_t next_list_ms_ = 0;
  int64_t ping_nonce_ = 0;

  mutable std::mutex commands_mutex_;  // guards commands_
  std::deque<Command> commands_;

  mutable std::mutex snapshot_mutex_;  // guards snapshot_
  ClusterSnapshot snapshot_;

  protocol::LogThrottle untrusted_log_;  // the link thread's lines about what peers send
  // The inbound path of each socket, used by the link thread like the sockets.
  protocol::Dispatcher from_ventilator_{"cluster link (ventilator)", false, untrusted_log_, &log()};
  protocol::Dispatcher from_registry_{"cluster link (registry)", false, untrusted_log_, &log()};
  protocol::Dispatcher from_sink_{"cluster link (sink)", false, untrusted_log_, &log()};

  std::jthread thread_;  // last: started (by start()) after everything above exists, joins first
};

}  // namespace framepipe::http
