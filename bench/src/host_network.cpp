#include "host_network.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace framepipe::bench {
namespace {

constexpr auto kCommandTimeout = std::chrono::seconds(20);

std::string quoted(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& word : argv) {
    if (!out.empty()) out += ' ';
    out += '\'';
    for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace

HostNetwork::HostNetwork(int worker_hosts, const std::string& rate) : rate_(rate) {
  std::mt19937 random(std::random_device{}());
  tag_ = "fpb" + std::to_string(getpid() % 100000) + std::to_string(random() % 1000);
  const std::string subnet =
      "10." + std::to_string(100 + random() % 150) + "." + std::to_string(random() % 250);
  head_ = tag_ + "-head";
  switch_ = tag_ + "-sw";
  head_address_ = subnet + ".1";
  log_path_ = (std::filesystem::temp_directory_path() / (tag_ + "-network.log")).string();
  for (int i = 0; i < worker_hosts; ++i)
    worker_hosts_.push_back(tag_ + "-w" + std::to_string(i + 1));
  try {
    const auto add_namespace = [&](const std::string& name) {
      run({"ip", "netns", "add", name});
      made_.push_back(name);
      run({"ip", "-n", name, "link", "set", "lo", "up"});
    };
    add_namespace(switch_);
    run({"ip", "-n", switch_, "link", "add", "br0", "type", "bridge"});
    run({"ip", "-n", switch_, "link", "set", "br0", "up"});
    std::vector<std::pair<std::string, std::string>> hosts = {{head_, head_address_}};
    for (int i = 0; i < worker_hosts; ++i) {
      hosts.emplace_back(worker_hosts_[i], subnet + "." + std::to_string(11 + i));
    }
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      const auto& [host, address] = hosts[i];
      const std::string port = "p" + std::to_string(i);
      add_namespace(host);
      run({"ip", "link", "add", "eth0", "netns", host, "type", "veth", "peer", "name", port,
           "netns", switch_});
      run({"ip", "-n", switch_, "link", "set", port, "master", "br0"});
      run({"ip", "-n", switch_, "link", "set", port, "up"});
      run({"ip", "-n", host, "addr", "add", address + "/24", "dev", "eth0"});
      run({"ip", "-n", host, "link", "set", "eth0", "up"});
    }
    if (!rate_.empty()) {
      // Both directions: the head's egress, and the switch port's egress towards the head.
      for (const auto& [name, device] : {std::pair{head_, "eth0"}, std::pair{switch_, "p0"}}) {
        run({"ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", device, "root", "tbf",
             "rate", rate_, "burst", "256kb", "latency", "100ms"});
      }
    }
  } catch (...) {
    teardown();
    throw;
  }
}

HostNetwork::~HostNetwork() {
  teardown();
}

void HostNetwork::run(const std::vector<std::string>& argv) const {
  const Completed done = run_to_end(argv, log_path_, kCommandTimeout);
  if (!done.succeeded()) {
    throw std::runtime_error(quoted(argv) + " failed (root and iproute2 are needed for --hosts): " +
                             read_tail(log_path_, 400));
  }
}

void HostNetwork::teardown() noexcept {
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    try {
      // Whatever still runs there (a worker the bench lost track of) goes with it.
      const std::string self = std::to_string(getpid());  // the bench may be in the head's
      run_to_end(
          {"sh", "-c", "ip netns pids " + *it + " | grep -vx " + self + " | xargs -r kill -9"},
          log_path_, kCommandTimeout);
      run_to_end({"ip", "netns", "del", *it}, log_path_, kCommandTimeout);
    } catch (...) {
    }
  }
  made_.clear();
  std::error_code ignored;
  std::filesystem::remove(log_path_, ignored);
}

void HostNetwork::enter_head() const {
  const std::string path = "/run/netns/" + head_;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  const int result = setns(fd, CLONE_NEWNET);
  const int error = errno;
  close(fd);
  if (result != 0) throw std::runtime_error("cannot join " + head_ + ": " + std::strerror(error));
}

std::vector<std::string> HostNetwork::on_worker_host(int host,
                                                     const std::vector<std::string>& argv) const {
  const std::string script =
      "mount -t tmpfs -o size=512m framepipe-shm /dev/shm && exec " + quoted(argv);
  return {"ip",      "netns",   "exec",          worker_hosts_.at(host),
          "unshare", "--mount", "--propagation", "private",
          "sh",      "-c",      script};
}

std::pair<int64_t, int64_t> HostNetwork::head_link_bytes() const {
  const std::string output =
      (std::filesystem::temp_directory_path() / (tag_ + "-link.json")).string();
  std::filesystem::remove(output);
  const Completed done = run_to_end({"ip", "-n", head_, "-j", "-s", "link", "show", "dev", "eth0"},
                                    output, kCommandTimeout);
  if (!done.succeeded()) throw std::runtime_error("cannot read the head link's counters");
  std::ifstream file(output);
  const auto stats = nlohmann::json::parse(file, nullptr, false);
  std::filesystem::remove(output);
  if (!stats.is_array() || stats.empty() || !stats[0].contains("stats64")) {
    throw std::runtime_error("cannot read the head link's counters");
  }
  const auto& counters = stats[0]["stats64"];
  return {counters["rx"]["bytes"].get<int64_t>(), counters["tx"]["bytes"].get<int64_t>()};
}

}  // namespace framepipe::bench
