#include "launcher.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "framepipe/protocol/curve.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/signals.hpp"

namespace framepipe::app {
namespace {

constexpr int64_t kStopGraceMs = 8000;
constexpr int64_t kRestartDelayMs = 1000;
// A role that dies this soon after starting, this many times in a row, cannot run here (a port in
// use, a bad flag): stop everything instead of restarting it for ever.
constexpr int64_t kQuickDeathMs = 10'000;
constexpr int kQuickDeathsAllowed = 3;

struct Child {
  std::string role;
  std::vector<std::string> args;
  pid_t pid = -1;
  int64_t started_ms = 0;
  int64_t restart_at_ms = 0;
  int quick_deaths = 0;
};

std::string self_executable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw std::runtime_error("cannot find this executable: " + error.message());
  return path;
}

pid_t spawn(const std::string& executable, const std::vector<std::string>& args) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // The child dies with its launcher, even when the launcher is killed with SIGKILL.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(executable.c_str()));
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(executable.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by ") + strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

std::string advertised_host(const std::string& bind_host) {
  if (bind_host != "0.0.0.0" && bind_host != "*" && bind_host != "::") return bind_host;
  ifaddrs* addresses = nullptr;
  std::string found = "127.0.0.1";
  if (getifaddrs(&addresses) == 0) {
    for (ifaddrs* it = addresses; it; it = it->ifa_next) {
      if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET) continue;
      char text[INET_ADDRSTRLEN] = {};
      const auto* ipv4 = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      inet_ntop(AF_INET, &ipv4->sin_addr, text, sizeof text);
      if (std::string(text).rfind("127.", 0) != 0) {
        found = text;
        break;
      }
    }
    freeifaddrs(addresses);
  }
  return found;
}

int up(const UpConfig& config) {
  const std::string executable = self_executable();
  const int base = config.zmq_port_base;
  const std::string host = config.bind_host;
  const std::string local = (host == "0.0.0.0" || host == "*") ? "127.0.0.1" : host;
  const std::string base_flag = std::to_string(base);
  const int workers = config.workers >= 0
                          ? config.workers
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::filesystem::create_directories(config.data_dir);
  const std::string worker_command =
      "framepipe worker " + protocol::tcp_endpoint(advertised_host(host), base);

  std::vector<Child> children;
  children.push_back({"registry", {"registry", "--zmq-port-base", base_flag, "--bind-host", host}});
  std::vector<std::string> ventilator = {"ventilator", "--zmq-port-base", base_flag, "--bind-host",
                                         host,         "--head",          local};
  if (config.window_frames > 0) {
    ventilator.insert(ventilator.end(), {"--window", std::to_string(config.window_frames)});
  }
  ventilator.insert(ventilator.end(),
                    {"--resend-after-ms", std::to_string(config.resend_after_ms)});
  if (!config.shared_memory) ventilator.push_back("--no-shared-memory");
  children.push_back({"ventilator", ventilator});
  children.push_back({"sink", {"sink", "--zmq-port-base", base_flag, "--bind-host", host}});
  std::vector<std::string> http = {"http",
                                   "--zmq-port-base",
                                   base_flag,
                                   "--head",
                                   local,
                                   "--bind-host",
                                   host,
                                   "--http-port",
                                   std::to_string(config.http_port),
                                   "--data-dir",
                                   config.data_dir,
                                   "--max-upload-bytes",
                                   std::to_string(config.max_upload_bytes),
                                   "--min-free-disk-mb",
                                   std::to_string(config.min_free_disk_mb),
                                   "--threads",
                                   std::to_string(config.http_threads),
                                   "--worker-command",
                                   worker_command};
  if (!config.api_token.empty()) http.insert(http.end(), {"--api-token", config.api_token});
  if (!config.cors_origin.empty()) http.insert(http.end(), {"--cors-origin", config.cors_origin});
  children.push_back({"http", http});
  for (int i = 0; i < workers; ++i) {
    children.push_back({"worker",
                        {"worker", protocol::tcp_endpoint(local, base), "--threads",
                         std::to_string(config.worker_threads)}});
  }
  if (!config.curve_dir.empty()) {
    // The head's roles serve with the head's pair and accept DIR/workers/*.pub; the head's own
    // connections (http, local workers) use the head's pair, which they always accept.
    const std::string head_key = config.curve_dir + "/head.key";
    protocol::read_key_file(head_key);  // refuse to start without a usable key
    for (auto& child : children) {
      if (child.role == "worker") {
        child.args.insert(child.args.end(), {"--curve-key", head_key, "--curve-server", head_key});
      } else {
        child.args.insert(child.args.end(), {"--curve-key", head_key});
        if (child.role != "http") {
          child.args.insert(child.args.end(), {"--curve-allow", config.curve_dir + "/workers"});
        }
      }
    }
  }

  for (auto& child : children) {
    child.pid = spawn(executable, child.args);
    child.started_ms = protocol::now_ms();
  }
  const std::string api_host =
      local == "127.0.0.1" && host != local ? advertised_host(host) : local;
  spdlog::info("framepipe up: {} local worker(s); API and web page at http://{}:{}/", workers,
               api_host, config.http_port);
  spdlog::info(
      "framepipe up: registry on port {} (ZeroMQ ports {}-{}); add a worker from another "
      "machine with: {}",
      base, base, base + protocol::kControlPortOffset, worker_command);

  int exit_code = 0;
  while (!stop_requested() && exit_code == 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    const int64_t now = protocol::now_ms();
    for (auto& child : children) {
      if (pid > 0 && child.pid == pid) {
        child.pid = -1;
        child.quick_deaths = now - child.started_ms < kQuickDeathMs ? child.quick_deaths + 1 : 0;
        if (child.quick_deaths >= kQuickDeathsAllowed) {
          spdlog::critical(
              "framepipe up: {} {} {} times right after starting; stopping the "
              "cluster (see its messages above)",
              child.role, describe_status(status), child.quick_deaths);
          exit_code = 1;
          break;
        }
        spdlog::error("framepipe up: {} (pid {}) {}; restarting it in {} ms", child.role, pid,
                      describe_status(status), kRestartDelayMs);
        child.restart_at_ms = now + kRestartDelayMs;
      }
      if (child.pid < 0 && now >= child.restart_at_ms) {
        child.pid = spawn(executable, child.args);
        child.started_ms = now;
      }
    }
    if (pid <= 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  spdlog::info("framepipe up: stopping {} processes", children.size());
  for (const auto& child : children) {
    if (child.pid > 0) kill(child.pid, SIGTERM);
  }
  const int64_t deadline = protocol::now_ms() + kStopGraceMs;
  int running = 0;
  do {
    running = 0;
    for (auto& child : children) {
      if (child.pid <= 0) continue;
      if (waitpid(child.pid, nullptr, WNOHANG) == child.pid) {
        child.pid = -1;
      } else {
        ++running;
      }
    }
    if (running) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (running && protocol::now_ms() < deadline);
  for (auto& child : children) {
    if (child.pid > 0) {
      spdlog::warn("framepipe up: {} (pid {}) did not stop in time: killing it", child.role,
                   child.pid);
      kill(child.pid, SIGKILL);
      waitpid(child.pid, nullptr, 0);
    }
  }
  spdlog::info("framepipe up: stopped");
  return exit_code;
}

}  // namespace framepipe::app
