// The command-line flags the roles share: where the head's roles listen and where they are reached
// (the registry's port B, the others at B+1..B+4: messages.hpp), and the CURVE key files. Each
// role's options.hpp declares those it takes; `framepipe up` declares them once for all its roles.
#pragma once
#include <string>

#include "framepipe/protocol/curve.hpp"
#include "framepipe/protocol/messages.hpp"  // the port offsets

namespace CLI {
class App;
}

namespace framepipe::protocol {

inline constexpr int kDefaultPortBase = 5555;

struct ClusterAddress {
  int port_base = kDefaultPortBase;   // --zmq-port-base: the registry's port
  std::string bind_host = "0.0.0.0";  // --bind-host: where the head's roles listen (all: 0.0.0.0)
  std::string head = "127.0.0.1";     // --head: the host of the registry, ventilator and sink

  // "tcp://BIND_HOST:B+offset" to bind, "*" for 0.0.0.0.
  std::string bind_endpoint(int port_offset) const;
  // "tcp://HOST:B+offset"; HOST "0.0.0.0" or "*" is "*" (to bind on every interface).
  std::string endpoint(const std::string& host, int port_offset) const;
  // "tcp://HEAD:B+offset" to connect.
  std::string head_endpoint(int port_offset) const { return endpoint(head, port_offset); }
};

// --zmq-port-base and --bind-host, and --head when the role connects to the head's other roles.
void add_cluster_flags(CLI::App& command, ClusterAddress& address, bool connects_to_head);

// CURVE key files as given on a command line; no key file: CURVE off.
struct CurveFiles {
  std::string key;     // --curve-key: this node's pair (.key, made by `framepipe keygen`)
  std::string server;  // --curve-server: the head's public key (.pub), for a worker
  std::string allow;   // --curve-allow: a directory of the allowed workers' .pub files
};

// --curve-key and --curve-allow: the flags of the head's roles that workers connect to.
void add_curve_server_flags(CLI::App& command, CurveFiles& files);

// Reads the key files (curve.hpp: load_curve); without a key, logs that ZeroMQ traffic is in the
// clear (log_curve_off). Throws std::runtime_error for a key file that cannot be read.
CurveConfig load_curve(const CurveFiles& files);

// The warning a role or `up` logs when it runs without CURVE.
void log_curve_off();

}  // namespace framepipe::protocol
