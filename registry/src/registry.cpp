#include "framepipe/registry/registry.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "framepipe/protocol/dispatcher.hpp"
#include "framepipe/protocol/log_throttle.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/signals.hpp"

namespace framepipe::registry {

using protocol::now_ms;

namespace {
// How long a death is remembered in WorkerList::dead, so pollers do not miss it.
constexpr int64_t kRememberDeadMs = 30'000;
}  // namespace

WorkerTable::Hello WorkerTable::hello(const protocol::Hello& hello, const std::string& peer,
                                      int64_t now) {
  if (workers_.size() >= max_workers_ && !workers_.contains(hello.name)) return Hello::full;
  auto [it, inserted] = workers_.try_emplace(hello.name);
  Entry& entry = it->second;
  if (!inserted && entry.peer != peer) return Hello::taken;
  entry.peer = peer;
  entry.info.name = hello.name;
  entry.info.host = hello.host;
  entry.info.pid = hello.pid;
  entry.info.cores = hello.cores;
  entry.info.version = hello.version;
  if (inserted) entry.info.joined_unix_ms = protocol::unix_ms();
  entry.last_seen_ms = now;
  std::erase_if(recently_dead_, [&](const auto& dead) { return dead.first == hello.name; });
  return inserted ? Hello::joined : Hello::known;
}

WorkerTable::Beat WorkerTable::heartbeat(const protocol::Heartbeat& heartbeat,
                                         const std::string& peer, int64_t now) {
  auto it = workers_.find(heartbeat.name);
  if (it == workers_.end()) return Beat::unknown;
  if (it->second.peer != peer) return Beat::foreign;
  it->second.info.stats = heartbeat.stats;
  it->second.last_seen_ms = now;
  return Beat::refreshed;
}

std::vector<std::string> WorkerTable::expire(int64_t now) {
  std::vector<std::string> dead;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (now - it->second.last_seen_ms > dead_after_ms_) {
      dead.push_back(it->first);
      recently_dead_.emplace_back(it->first, now);
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(recently_dead_,
                [&](const auto& entry) { return now - entry.second > kRememberDeadMs; });
  return dead;
}

protocol::WorkerList WorkerTable::list(int64_t now) const {
  protocol::WorkerList list;
  for (const auto& [name, entry] : workers_) {
    protocol::WorkerInfo info = entry.info;
    info.last_heartbeat_ms_ago = now - entry.last_seen_ms;
    list.workers.push_back(std::move(info));
  }
  for (const auto& [name, when] : recently_dead_) list.dead.push_back(name);
  return list;
}

int run(const Config& config) {
  spdlog::info("registry: listening on {}, workers get frames from {} and send results to {}",
               config.bind_endpoint, config.frames_endpoint, config.results_endpoint);
  zmq::context_t context(1);
  std::optional<protocol::Authenticator> authenticator;
  if (config.curve.enabled()) authenticator.emplace(context, config.curve);
  zmq::socket_t router(context, zmq::socket_type::router);
  protocol::configure(router, 10'000, 10'000);
  protocol::secure_server(router, config.curve);
  router.bind(config.bind_endpoint);

  WorkerTable table(static_cast<int64_t>(config.heartbeat_ms) * config.liveness);
  const protocol::Welcome welcome{config.frames_endpoint, config.results_endpoint,
                                  config.heartbeat_ms, config.liveness};
  zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0}};

  protocol::LogThrottle untrusted;  // lines about what peers send
  protocol::Dispatcher inbound("registry", true, untrusted);
  using protocol::Inbound;
  inbound.on<protocol::Hello>([&](protocol::Hello&& hello, Inbound& message) {
    if (hello.name.empty() || hello.name.size() > 255) return message.discard("bad worker name");
    const auto joined = table.hello(hello, message.peer, now_ms());
    if (joined == WorkerTable::Hello::full) {
      return message.discard("refused worker " + hello.name + ": " + std::to_string(table.size()) +
                             " workers already");
    }
    if (joined == WorkerTable::Hello::taken) {
      return message.discard("a hello naming worker " + hello.name + " from another peer");
    }
    spdlog::info("registry: worker {} {} (host {}, pid {}, {} cores, version {}); {} live",
                 hello.name, joined == WorkerTable::Hello::joined ? "joined" : "said hello again",
                 hello.host, hello.pid, hello.cores, hello.version, table.size());
    protocol::send_to(router, message.peer, welcome);
  });
  inbound.on<protocol::Heartbeat>([&](protocol::Heartbeat&& beat, Inbound& message) {
    switch (table.heartbeat(beat, message.peer, now_ms())) {
      case WorkerTable::Beat::refreshed:
        protocol::send_to(router, message.peer, protocol::HeartbeatAck{});
        break;
      case WorkerTable::Beat::unknown:
        protocol::send_to(router, message.peer, protocol::Reregister{});
        break;
      case WorkerTable::Beat::foreign:
        message.discard("a heartbeat naming worker " + beat.name + " from another peer");
        break;
    }
  });
  inbound.on<protocol::ListWorkers>([&](protocol::ListWorkers&&, Inbound& message) {
    protocol::send_to(router, message.peer, table.list(now_ms()));
  });

  while (!stop_requested()) {
    protocol::poll(items, 1, std::chrono::milliseconds(100));
    inbound.dispatch(router, 1000);  // bounded, so dead workers are still declared under a flood
    for (const auto& name : table.expire(now_ms())) {
      spdlog::warn("registry: worker {} missed {} heartbeats: declared dead; {} live", name,
                   config.liveness, table.size());
    }
  }
  spdlog::info("registry: stopped");
  return 0;
}

}  // namespace framepipe::registry
