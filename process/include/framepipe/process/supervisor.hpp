// Keeps a set of long-running processes up (`framepipe up`'s roles): starts them, starts again one
// that dies, and stops them all when a stop is requested or one cannot stay up: one that dies
// right after starting several times in a row (a port in use, a bad flag) would otherwise be
// restarted for ever. Stopping is SIGTERM to every process at once, SIGKILL to those still there
// after a grace period, and a wait for each: run() returns only once every process it started is
// gone.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framepipe/process/child_process.hpp"

namespace framepipe::process {

struct SupervisorRules {
  std::chrono::milliseconds restart_delay{1000};  // from a death to the new start
  // A death this soon after the start is quick; `quick_deaths_allowed` quick deaths in a row
  // of one process stop everything.
  std::chrono::milliseconds quick_death{10'000};
  int quick_deaths_allowed = 3;
  std::chrono::milliseconds stop_grace{8000};  // SIGTERM, then SIGKILL after this long
  std::chrono::milliseconds poll{100};         // how often the processes are looked at
};

class Supervisor {
 public:
  // `label` begins each log line ("framepipe up").
  explicit Supervisor(std::string label, SupervisorRules rules = {});
  ~Supervisor();  // stops whatever still runs (after an exception in run())
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // A process to keep up, started by run(); `name` is for log lines ("worker").
  void add(std::string name, Command command);

  // Starts every process, restarts any that dies, until `stop_requested()` returns true (0) or a
  // process died `quick_deaths_allowed` times in a row right after starting (1); then stops them
  // all and waits for them. Returns that exit code. Throws std::runtime_error when a process cannot
  // be started at all (fork failed); those already started are stopped first.
  int run(const std::function<bool()>& stop_requested);

  // Pids of the processes running now (tests).
  std::vector<pid_t> pids() const;

 private:
  struct Supervised;
  void stop_all() noexcept;

  std::string label_;
  SupervisorRules rules_;
  std::vector<Supervised> processes_;
};

}  // namespace framepipe::process
