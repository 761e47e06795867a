// An httplib::Server whose connections cannot be held by slow clients. httplib gives each
// accepted connection a thread at once, and its socket stream only bounds each read and write (a
// client dribbling one byte every few seconds keeps a thread for ever). Here a ConnectionGate
// reads request heads without threads and hands complete requests to lanes with caps per address
// (connection_gate.hpp), which also bounds how long a head may take; each request is then served
// through a stream with budgets:
// - the body may keep the connection waiting for the client at most
//   `grace + bytes received / min_rate`, and a response may wait for the client to read at most
//   `grace + bytes sent / min_rate` (time spent waiting on the client only: a live event stream
//   that sends a little now and then spends almost none).
// A connection over budget is closed. One request per connection.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>

#include <httplib.h>

#include "connection_gate.hpp"

namespace framepipe::http {

struct ClientBudget {
  std::chrono::milliseconds grace{10'000};
  int64_t min_rate_bytes_per_second = 16 << 10;
  std::chrono::milliseconds io_timeout{10'000};  // any single wait, whatever the budget
};

class GuardedServer : public httplib::Server {
 public:
  GuardedServer(ClientBudget budget, GateLimits limits, ConnectionGate::Classify classify);
  ~GuardedServer() override;

  // Connections closed because the client was too slow with its body or reading the answer.
  uint64_t slow_clients_cut() const { return slow_clients_cut_.load(std::memory_order_relaxed); }
  GateCounts gate_counts() const { return gate_.counts(); }

 private:
  bool process_and_close_socket(socket_t sock) override;
  void serve(ReadyConnection& connection);

  const ClientBudget budget_;
  std::atomic<uint64_t> slow_clients_cut_{0};
  ConnectionGate gate_;
};

}  // namespace framepipe::http
