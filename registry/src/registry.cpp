#include "framepipe/registry/registry.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

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
  while (!stop_requested()) {
    protocol::poll(items, 1, std::chrono::milliseconds(100));
    while (auto parts = protocol::receive(router)) {
      if (parts->size() != 2) {
        untrusted.warn("registry: discarded a message of {} parts", parts->size());
        continue;
      }
      const std::string peer = (*parts)[0].to_string();
      std::string why;
      auto envelope = protocol::open((*parts)[1], &why);
      if (!envelope) {
        untrusted.warn("registry: discarded a message: {}", why);
        continue;
      }
      const int64_t now = now_ms();
      switch (envelope->type()) {
        case protocol::Type::hello:
          if (auto hello = envelope->body<protocol::Hello>(&why)) {
            if (hello->name.empty() || hello->name.size() > 255) {
              untrusted.warn("registry: discarded a hello with a bad name");
              break;
            }
            const auto joined = table.hello(*hello, peer, now);
            if (joined == WorkerTable::Hello::full) {
              untrusted.warn("registry: refused worker {}: {} workers already", hello->name,
                             table.size());
              break;
            }
            if (joined == WorkerTable::Hello::taken) {
              untrusted.warn("registry: refused a hello naming worker {} from another peer",
                             hello->name);
              break;
            }
            spdlog::info("registry: worker {} {} (host {}, pid {}, {} cores, version {}); {} live",
                         hello->name,
                         joined == WorkerTable::Hello::joined ? "joined" : "said hello again",
                         hello->host, hello->pid, hello->cores, hello->version, table.size());
            protocol::send_to(router, peer, welcome);
          }
          break;
        case protocol::Type::heartbeat:
          if (auto beat = envelope->body<protocol::Heartbeat>(&why)) {
            switch (table.heartbeat(*beat, peer, now)) {
              case WorkerTable::Beat::refreshed:
                protocol::send_to(router, peer, protocol::HeartbeatAck{});
                break;
              case WorkerTable::Beat::unknown:
                protocol::send_to(router, peer, protocol::Reregister{});
                break;
              case WorkerTable::Beat::foreign:
                untrusted.warn("registry: refused a heartbeat naming worker {} from another peer",
                               beat->name);
                break;
            }
          }
          break;
        case protocol::Type::list_workers:
          protocol::send_to(router, peer, table.list(now));
          break;
        default:
          why = "unexpected message type for the registry";
          break;
      }
      if (!why.empty()) untrusted.warn("registry: discarded a message from a peer: {}", why);
    }
    for (const auto& name : table.expire(now_ms())) {
      spdlog::warn("registry: worker {} missed {} heartbeats: declared dead; {} live", name,
                   config.liveness, table.size());
    }
  }
  spdlog::info("registry: stopped");
  return 0;
}

}  // namespace framepipe::registry
