#include "local_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>

#include <httplib.h>

#include "framepipe/protocol/signals.hpp"

namespace framepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr auto kStartTimeout = std::chrono::seconds(60);
constexpr auto kReadyPoll = std::chrono::milliseconds(100);
constexpr int kStartAttempts = 3;       // a port taken between the check and the bind: retry
constexpr int kZmqPortCount = 5;        // B..B+4
constexpr int kLowestPortBase = 20000;  // below the kernel's ephemeral range (32768-60999)
constexpr int kHighestPortBase = 32000;
constexpr std::size_t kLogTailBytes = 4000;

bool port_is_free(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return free;
}

int free_port_range(int count, std::mt19937& random, int avoid) {
  std::uniform_int_distribution<int> pick(kLowestPortBase, kHighestPortBase);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int base = pick(random);
    if (avoid >= base && avoid < base + count) continue;
    bool all_free = true;
    for (int i = 0; i < count && all_free; ++i) all_free = port_is_free(base + i);
    if (all_free) return base;
  }
  throw std::runtime_error("no free range of ports on 127.0.0.1");
}

std::string describe(const httplib::Result& result) {
  if (!result) return "no answer (" + httplib::to_string(result.error()) + ")";
  std::string body = result->body.substr(0, 300);
  return "HTTP " + std::to_string(result->status) + " " + body;
}

}  // namespace

LocalCluster::LocalCluster(const std::string& executable, int workers, const std::string& directory,
                           const std::vector<std::string>& up_options, const HostNetwork* network)
    : log_path_(directory + "/up.log") {
  const std::string host = network ? network->head_address() : "127.0.0.1";
  std::filesystem::create_directories(directory);
  std::mt19937 random(std::random_device{}());
  std::string last_error;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    http_port_ = free_port_range(1, random, -1);
    zmq_port_base_ = free_port_range(kZmqPortCount, random, http_port_);
    Command command;
    command.log_path = log_path_;
    command.argv = {executable, "up", "--workers", std::to_string(network ? 0 : workers),
                    "--http-port", std::to_string(http_port_), "--zmq-port-base",
                    std::to_string(zmq_port_base_), "--data-dir", directory + "/data",
                    "--bind-host", host,
                    // The bench's own cluster, on a port nobody else is told: single-user.
                    "--auth", "none"};
    command.argv.insert(command.argv.end(), up_options.begin(), up_options.end());
    launcher_ = std::make_unique<ChildProcess>(command);
    for (int i = 0; network && i < workers; ++i) {
      Command worker;
      worker.log_path = directory + "/worker-" + std::to_string(i) + ".log";
      worker.argv = network->on_worker_host(
          i % network->worker_hosts(),
          {executable, "worker", "tcp://" + host + ":" + std::to_string(zmq_port_base_)});
      remote_workers_.push_back(std::make_unique<ChildProcess>(worker));
    }
    client_ = std::make_unique<httplib::Client>(host, http_port_);
    client_->set_keep_alive(true);
    client_->set_connection_timeout(std::chrono::seconds(2));
    client_->set_read_timeout(std::chrono::seconds(120));
    client_->set_write_timeout(std::chrono::seconds(120));

    const auto deadline = Clock::now() + kStartTimeout;
    bool healthy = false;
    while (Clock::now() < deadline && !launcher_->exited()) {
      if (stop_requested()) {
        stop();
        throw std::runtime_error("interrupted");
      }
      if (!healthy) {
        auto health = client_->Get("/health");
        healthy = health && health->status == 200;
      }
      if (healthy) {
        auto listed = client_->Get("/api/workers");
        if (listed && listed->status == 200) {
          const json body = json::parse(listed->body, nullptr, false);
          const json& list = body.is_object() && body.contains("workers") ? body["workers"] : body;
          if (list.is_array() && static_cast<int>(list.size()) >= workers) return;
        }
      }
      std::this_thread::sleep_for(kReadyPoll);
    }
    const bool died = launcher_->exited();
    last_error = died ? "framepipe up " + describe_wait_status(launcher_->wait_status())
                      : "the cluster did not answer /health with " + std::to_string(workers) +
                            " workers within " + std::to_string(kStartTimeout.count()) + " s";
    stop();
    if (!died) break;  // a timeout, not a port taken meanwhile: no point retrying
  }
  throw std::runtime_error(last_error + "; its log ends with:\n" + log_tail());
}

LocalCluster::~LocalCluster() {
  stop();
}

void LocalCluster::stop() noexcept {
  client_.reset();
  for (auto& worker : remote_workers_) worker->stop();
  remote_workers_.clear();
  if (launcher_) launcher_->stop();
}

std::string LocalCluster::submit(const std::string& file_name, const std::string& content,
                                 const std::string& chain, const std::string& preset, int crf,
                                 const std::string& distribution, const std::string& format) {
  httplib::MultipartFormDataItems items = {
      {"file", content, file_name, "application/octet-stream"},
      {"filters", chain, "", ""},
      {"preset", preset, "", ""},
      {"crf", std::to_string(crf), "", ""},
      {"distribution", distribution, "", ""},
      {"format", format, "", ""},
  };
  if (!client_) throw std::runtime_error("the cluster is stopped");
  auto result = client_->Post("/api/jobs", items);
  if (!result || result->status != 201) {
    throw std::runtime_error("upload refused: " + describe(result));
  }
  const json job = json::parse(result->body, nullptr, false);
  if (!job.is_object() || !job.contains("id") || !job["id"].is_string()) {
    throw std::runtime_error("upload answered without a job id: " + result->body.substr(0, 300));
  }
  return job["id"].get<std::string>();
}

json LocalCluster::get(const std::string& path) {
  if (!client_) throw std::runtime_error("the cluster is stopped");
  auto result = client_->Get(path);
  const bool health = path == "/health";
  if (!result || (result->status != 200 && !(health && result->status == 503))) {
    throw std::runtime_error("GET " + path + ": " + describe(result));
  }
  json body = json::parse(result->body, nullptr, false);
  if (body.is_discarded()) throw std::runtime_error("GET " + path + ": not JSON");
  return body;
}

std::optional<json> LocalCluster::try_get(const std::string& path) noexcept {
  try {
    return get(path);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void LocalCluster::remove_job(const std::string& id) {
  if (client_) client_->Delete("/api/jobs/" + id);
}

ClusterUsage LocalCluster::usage() const {
  ClusterUsage usage;
  if (!launcher_ || launcher_->pid() <= 0) return usage;
  for (const pid_t pid : children_of(launcher_->pid())) {
    const auto argv = command_line(pid);
    if (argv.size() < 2) continue;
    const std::string& role = argv[1];
    RoleUsage* figures = role == "registry"     ? &usage.registry
                         : role == "ventilator" ? &usage.ventilator
                         : role == "sink"       ? &usage.sink
                         : role == "http"       ? &usage.http
                         : role == "worker"     ? &usage.workers
                                                : nullptr;
    if (!figures) continue;
    figures->peak_bytes = std::max(figures->peak_bytes, peak_resident_bytes(pid));
    figures->resident_bytes = std::max(figures->resident_bytes, resident_bytes(pid));
    figures->cpu_seconds += cpu_seconds(pid);
    if (role == "worker") ++usage.workers_seen;
  }
  for (const auto& worker : remote_workers_) {
    usage.workers.peak_bytes =
        std::max(usage.workers.peak_bytes, peak_resident_bytes(worker->pid()));
    usage.workers.resident_bytes =
        std::max(usage.workers.resident_bytes, resident_bytes(worker->pid()));
    usage.workers.cpu_seconds += cpu_seconds(worker->pid());
    ++usage.workers_seen;
  }
  return usage;
}

std::string LocalCluster::log_tail() const {
  return read_tail(log_path_, kLogTailBytes);
}

}  // namespace framepipe::bench
