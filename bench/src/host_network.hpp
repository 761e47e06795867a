// Several hosts on this machine for `framepipe bench --hosts N`: a head and N worker hosts, each a
// network namespace with one veth link to a switch (a bridge in a namespace of its own), the
// head's link shaped in both directions with `tc tbf` when a rate is given, and each worker host's
// processes in a mount namespace of their own with an empty tmpfs on /dev/shm, so that frames can
// only cross the link. The bench itself moves into the head's namespace (its main thread, and so
// every process it starts there: `framepipe up`, the baselines), as a user uploading on the head
// machine. Everything is deleted when the object goes away. Needs root and iproute2.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace framepipe::bench {

class HostNetwork {
 public:
  // Builds the namespaces and links. `rate`: tbf's rate for the head's link ("200mbit"), or ""
  // for an unshaped link. Throws std::runtime_error (after deleting what was made) when a command
  // fails, e.g. without root.
  HostNetwork(int worker_hosts, const std::string& rate);
  ~HostNetwork();
  HostNetwork(const HostNetwork&) = delete;
  HostNetwork& operator=(const HostNetwork&) = delete;

  // The calling thread joins the head's network namespace. Throws std::runtime_error.
  void enter_head() const;
  const std::string& head_address() const { return head_address_; }
  int worker_hosts() const { return static_cast<int>(worker_hosts_.size()); }
  const std::string& rate() const { return rate_; }
  // `argv` as run on worker host `host` (0-based): in its namespaces, with its own /dev/shm.
  std::vector<std::string> on_worker_host(int host, const std::vector<std::string>& argv) const;
  // Bytes received and sent so far on the head's link.
  std::pair<int64_t, int64_t> head_link_bytes() const;

 private:
  void run(const std::vector<std::string>& argv) const;
  void teardown() noexcept;

  std::string tag_;
  std::string head_;
  std::string switch_;
  std::vector<std::string> worker_hosts_;
  std::string head_address_;
  std::string rate_;
  std::string log_path_;
  std::vector<std::string> made_;  // namespaces to delete
};

}  // namespace framepipe::bench
