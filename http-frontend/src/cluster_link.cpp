#include "cluster_link.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "framepipe/protocol/codec.hpp"
#include "framepipe/protocol/dispatcher.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/signals.hpp"
#include "log.hpp"

namespace framepipe::http {
namespace {

constexpr int kLivenessMs = protocol::kHeartbeatIntervalMs * protocol::kHeartbeatLiveness;
constexpr auto kPollTimeout = std::chrono::milliseconds(50);
// Messages read from one socket per loop turn, so that a flood on one cannot starve the others.
constexpr int kMaxMessagesPerTurn = 1000;
// High-water marks (messages). Requests are tiny and few; progress arrives every 250 ms per job.
constexpr int kDealerHwm = 1000;
constexpr int kProgressHwm = 10000;

// DEALER policy: with immediate set, nothing queues for a peer that is not connected (the link
// resends on its own schedule), and ZeroMQ heartbeats notice a silently dead connection.
void configure_dealer(zmq::socket_t& socket) {
  protocol::configure(socket, kDealerHwm, kDealerHwm);
  socket.set(zmq::sockopt::immediate, 1);
  socket.set(zmq::sockopt::heartbeat_ivl, protocol::kHeartbeatIntervalMs);
  socket.set(zmq::sockopt::heartbeat_timeout, kLivenessMs);
  socket.set(zmq::sockopt::reconnect_ivl, protocol::kReconnectMinMs);
  socket.set(zmq::sockopt::reconnect_ivl_max, protocol::kReconnectMaxMs);
}

}  // namespace

bool PeerStatus::alive(int64_t now_ms) const {
  return last_answer_ms && now_ms - *last_answer_ms <= kLivenessMs;
}

ClusterLink::ClusterLink(const ClusterEndpoints& endpoints, ClusterEvents events)
    : events_(std::move(events)),
      control_(context_, zmq::socket_type::dealer),
      registry_(context_, zmq::socket_type::dealer),
      progress_(context_, zmq::socket_type::sub) {
  configure_dealer(control_);
  configure_dealer(registry_);
  protocol::configure(progress_, kDealerHwm, kProgressHwm);
  progress_.set(zmq::sockopt::reconnect_ivl, protocol::kReconnectMinMs);
  progress_.set(zmq::sockopt::reconnect_ivl_max, protocol::kReconnectMaxMs);
  // Not FramesEncoded: one per frame, for the ventilator's flow control only.
  progress_.set(zmq::sockopt::subscribe, protocol::subscription(protocol::Type::job_progress));
  progress_.set(zmq::sockopt::subscribe, protocol::subscription(protocol::Type::sink_alive));
  protocol::secure_client(control_, endpoints.curve);
  protocol::secure_client(registry_, endpoints.curve);
  protocol::secure_client(progress_, endpoints.curve);
  control_.connect(endpoints.control);
  registry_.connect(endpoints.registry);
  progress_.connect(endpoints.progress);
  listen();
}

void ClusterLink::start() {
  thread_ = std::jthread([this](std::stop_token stop) { loop(std::move(stop)); });
}

ClusterLink::~ClusterLink() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

bool ClusterLink::enqueue(Command command) {
  std::lock_guard lock(commands_mutex_);
  if (commands_.size() >= kCommandQueueCapacity) return false;
  commands_.push_back(std::move(command));
  return true;
}

bool ClusterLink::submit(const protocol::SubmitJob& job) {
  return enqueue(job);
}

bool ClusterLink::cancel(const std::string& job_id) {
  return enqueue(CancelCommand{job_id});
}

ClusterSnapshot ClusterLink::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

void ClusterLink::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    try {
      const int64_t now = protocol::now_ms();
      run_commands(now);
      run_timers(now);
      std::vector<zmq::pollitem_t> items = {{control_.handle(), 0, ZMQ_POLLIN, 0},
                                            {registry_.handle(), 0, ZMQ_POLLIN, 0},
                                            {progress_.handle(), 0, ZMQ_POLLIN, 0}};
      protocol::poll(items, kPollTimeout);
      if ((items[0].revents & ZMQ_POLLIN) != 0) drain(control_, from_ventilator_, "ventilator");
      if ((items[1].revents & ZMQ_POLLIN) != 0) drain(registry_, from_registry_, "registry");
      if ((items[2].revents & ZMQ_POLLIN) != 0) drain(progress_, from_sink_, "sink");
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) break;
      if (e.num() == EINTR) continue;  // a signal arrived during poll
      log().error("cluster link: {}", e.what());
    }
  }
}

void ClusterLink::run_commands(int64_t now) {
  std::deque<Command> commands;
  {
    std::lock_guard lock(commands_mutex_);
    commands.swap(commands_);
  }
  for (Command& command : commands) {
    if (auto* job = std::get_if<protocol::SubmitJob>(&command)) {
      forget_submit(job->job_id);
      const bool queued = protocol::send_message(control_, *job);
      log().debug("job {}: SubmitJob {}", job->job_id,
                  queued ? "sent" : "not sent (ventilator not connected), will retry");
      pending_submits_.push_back({std::move(*job), now});
    } else {
      auto& cancel = std::get<CancelCommand>(command);
      forget_submit(cancel.job_id);
      pending_cancels_.push_back({std::move(cancel.job_id), now});
    }
  }
}

void ClusterLink::run_timers(int64_t now) {
  // Cancels: tried every turn until one is queued, for at most kCancelRetryMs.
  std::erase_if(pending_cancels_, [&](const PendingCancel& cancel) {
    if (protocol::send_message(control_, protocol::CancelJob{cancel.job_id})) {
      log().debug("job {}: CancelJob sent", cancel.job_id);
      return true;
    }
    if (now - cancel.first_try_ms > kCancelRetryMs) {
      log().warn("job {}: could not send CancelJob for {} s, giving up", cancel.job_id,
                 kCancelRetryMs / 1000);
      return true;
    }
    return false;
  });

  // SubmitJob again while unanswered: the ventilator may be restarting, and it treats a known
  // job_id idempotently.
  for (PendingSubmit& pending : pending_submits_) {
    if (now - pending.last_sent_ms < kResubmitIntervalMs) continue;
    pending.last_sent_ms = now;
    if (protocol::send_message(control_, pending.job)) {
      log().debug("job {}: no SubmitReply yet, SubmitJob sent again", pending.job.job_id);
    }
  }

  if (now >= next_ping_ms_) {
    next_ping_ms_ = now + kPingIntervalMs;
    protocol::send_message(control_, protocol::Ping{++ping_nonce_});
    if (events_.on_tick) events_.on_tick(now);
  }
  if (now >= next_list_ms_) {
    next_list_ms_ = now + kListWorkersIntervalMs;
    protocol::send_message(registry_, protocol::ListWorkers{});
  }
}

void ClusterLink::drain(zmq::socket_t& socket, protocol::Dispatcher& inbound, const char* peer) {
  try {
    inbound.dispatch(socket, kMaxMessagesPerTurn);
  } catch (const std::exception& e) {  // thrown by an event handler; the next turn goes on
    log().error("handling a message from the {}: {}", peer, e.what());
  }
}

void ClusterLink::listen() {
  using protocol::Inbound;
  auto heard = [this](PeerStatus ClusterSnapshot::*which) {
    std::lock_guard lock(snapshot_mutex_);
    (snapshot_.*which).last_answer_ms = protocol::now_ms();
  };
  from_ventilator_.on<protocol::Pong>([this, heard](protocol::Pong&& pong, Inbound&) {
    heard(&ClusterSnapshot::ventilator);
    {
      std::lock_guard lock(snapshot_mutex_);
      snapshot_.last_pong = pong;
    }
    if (events_.on_pong) events_.on_pong(pong);
  });
  from_ventilator_.on<protocol::SubmitReply>(
      [this, heard](protocol::SubmitReply&& reply, Inbound&) {
        heard(&ClusterSnapshot::ventilator);
        forget_submit(reply.job_id);
        if (events_.on_submit_reply) events_.on_submit_reply(reply);
      });
  from_registry_.on<protocol::WorkerList>([this, heard](protocol::WorkerList&& list, Inbound&) {
    heard(&ClusterSnapshot::registry);
    std::lock_guard lock(snapshot_mutex_);
    snapshot_.workers = std::move(list.workers);
    snapshot_.workers_received_ms = protocol::now_ms();
  });
  from_sink_.on<protocol::JobProgress>([this, heard](protocol::JobProgress&& progress, Inbound&) {
    heard(&ClusterSnapshot::sink);
    // The job is under way, so the ventilator knows it: no more resends.
    forget_submit(progress.job_id);
    if (events_.on_progress) events_.on_progress(progress);
  });
  from_sink_.on<protocol::SinkAlive>([this, heard](protocol::SinkAlive&& alive, Inbound&) {
    heard(&ClusterSnapshot::sink);
    std::lock_guard lock(snapshot_mutex_);
    snapshot_.last_sink_alive = alive;
  });
}

void ClusterLink::forget_submit(const std::string& job_id) {
  std::erase_if(pending_submits_,
                [&](const PendingSubmit& pending) { return pending.job.job_id == job_id; });
}

}  // namespace framepipe::http
