#include "framepipe/protocol/options.hpp"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "framepipe/protocol/net.hpp"

namespace framepipe::protocol {

std::string ClusterAddress::endpoint(const std::string& host, int port_offset) const {
  return tcp_endpoint(host == "0.0.0.0" ? "*" : host, port_base + port_offset);
}

std::string ClusterAddress::bind_endpoint(int port_offset) const {
  return endpoint(bind_host, port_offset);
}

void add_cluster_flags(CLI::App& command, ClusterAddress& address, bool connects_to_head) {
  command
      .add_option("--zmq-port-base", address.port_base, "registry port B; the others are B+1..B+4")
      ->capture_default_str();
  command.add_option("--bind-host", address.bind_host, "address to listen on")
      ->capture_default_str();
  if (connects_to_head) {
    command.add_option("--head", address.head, "host of the registry, ventilator and sink")
        ->capture_default_str();
  }
}

void add_curve_server_flags(CLI::App& command, CurveFiles& files) {
  command.add_option("--curve-key", files.key, "this node's CURVE key pair (framepipe keygen)");
  command.add_option("--curve-allow", files.allow,
                     "directory of the public keys (.pub) of the workers allowed in");
}

CurveConfig load_curve(const CurveFiles& files) {
  auto curve = load_curve(files.key, files.server, files.allow);
  if (!curve.enabled()) log_curve_off();
  return curve;
}

void log_curve_off() {
  spdlog::info(
      "CURVE is off: ZeroMQ traffic is neither encrypted nor authenticated; run this cluster on a "
      "trusted network only (see README, Security)");
}

}  // namespace framepipe::protocol
