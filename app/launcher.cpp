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

#include "framepipe/process/child_process.hpp"
#include "framepipe/process/supervisor.hpp"
#include "framepipe/protocol/curve.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/signals.hpp"

namespace framepipe::app {

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
  const std::string executable = process::self_executable();
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

  struct Child {
    std::string role;
    std::vector<std::string> args;
  };
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

  process::Supervisor supervisor("framepipe up");
  for (auto& child : children) {
    process::Command command;
    command.argv = child.args;
    command.argv.insert(command.argv.begin(), executable);
    command.own_process_group = false;  // a Ctrl-C or a signal to up's group reaches the roles too
    supervisor.add(child.role, command);
  }
  const std::string api_host =
      local == "127.0.0.1" && host != local ? advertised_host(host) : local;
  spdlog::info("framepipe up: {} local worker(s); API and web page at http://{}:{}/", workers,
               api_host, config.http_port);
  spdlog::info(
      "framepipe up: registry on port {} (ZeroMQ ports {}-{}); add a worker from another "
      "machine with: {}",
      base, base, base + protocol::kControlPortOffset, worker_command);

  return supervisor.run(stop_requested);
}

}  // namespace framepipe::app
