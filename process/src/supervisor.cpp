#include "framepipe/process/supervisor.hpp"

#include <thread>

#include <spdlog/spdlog.h>

namespace framepipe::process {

using Clock = std::chrono::steady_clock;

struct Supervisor::Supervised {
  std::string name;
  Command command;
  std::unique_ptr<ChildProcess> child;  // null between a death and the restart
  Clock::time_point started;
  Clock::time_point restart_at;
  int quick_deaths = 0;  // in a row
};

Supervisor::Supervisor(std::string label, SupervisorRules rules)
    : label_(std::move(label)), rules_(rules) {}

Supervisor::~Supervisor() {
  stop_all();
}

void Supervisor::add(std::string name, Command command) {
  processes_.push_back({std::move(name), std::move(command), nullptr, {}, {}, 0});
}

int Supervisor::run(const std::function<bool()>& stop_requested) {
  for (auto& process : processes_) {
    process.child = std::make_unique<ChildProcess>(process.command);
    process.started = Clock::now();
  }
  int exit_code = 0;
  while (!stop_requested() && exit_code == 0) {
    const auto now = Clock::now();
    for (auto& process : processes_) {
      if (process.child && process.child->exited()) {
        const pid_t pid = process.child->pid();
        const std::string status = describe_wait_status(process.child->wait_status());
        process.child.reset();
        const bool quick = now - process.started < rules_.quick_death;
        process.quick_deaths = quick ? process.quick_deaths + 1 : 0;
        if (process.quick_deaths >= rules_.quick_deaths_allowed) {
          spdlog::critical(
              "{}: {} {} {} times right after starting; stopping everything (see its messages "
              "above)",
              label_, process.name, status, process.quick_deaths);
          exit_code = 1;
          break;
        }
        spdlog::error("{}: {} (pid {}) {}; restarting it in {} ms", label_, process.name, pid,
                      status, rules_.restart_delay.count());
        process.restart_at = now + rules_.restart_delay;
      }
      if (!process.child && now >= process.restart_at) {
        process.child = std::make_unique<ChildProcess>(process.command);
        process.started = now;
      }
    }
    if (exit_code == 0) std::this_thread::sleep_for(rules_.poll);
  }
  stop_all();
  return exit_code;
}

void Supervisor::stop_all() noexcept {
  std::size_t running = 0;
  for (auto& process : processes_) {
    if (process.child && !process.child->exited()) ++running;
  }
  if (running == 0) return;
  spdlog::info("{}: stopping {} processes", label_, running);
  // SIGTERM to all at once, so that they stop in parallel, then one deadline for all of them.
  for (auto& process : processes_) {
    if (process.child) process.child->terminate();
  }
  const auto deadline = Clock::now() + rules_.stop_grace;
  const auto still_running = [this] {
    for (auto& process : processes_) {
      if (process.child && !process.child->exited()) return true;
    }
    return false;
  };
  while (still_running() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& process : processes_) {
    if (!process.child) continue;
    if (!process.child->exited()) {
      spdlog::warn("{}: {} (pid {}) did not stop in time: killing it", label_, process.name,
                   process.child->pid());
    }
    process.child->stop(std::chrono::milliseconds(0));
    process.child.reset();
  }
  spdlog::info("{}: stopped", label_);
}

std::vector<pid_t> Supervisor::pids() const {
  std::vector<pid_t> pids;
  for (const auto& process : processes_) {
    if (process.child && process.child->pid() > 0) pids.push_back(process.child->pid());
  }
  return pids;
}

}  // namespace framepipe::process
