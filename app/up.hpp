// `framepipe up`: a whole cluster on this machine. It starts registry, ventilator, sink, http and N
// local workers as processes of this same executable and keeps them up (process::Supervisor: a
// role that dies is started again, SIGINT/SIGTERM stops them all and waits for them). Its flags
// are the roles' own: the shared ones (port base, bind host) declared once for all, and a few role
// flags under up's name, each declared by its role (help text, default, checks) and handed to the
// role as it was given. The API token reaches the http-frontend by its environment, never argv.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "framepipe/protocol/options.hpp"

namespace framepipe::up {

struct Options {
  int workers = -1;                  // --workers; -1: one per core
  protocol::ClusterAddress cluster;  // --zmq-port-base, --bind-host; the roles' head is here
  std::string curve_dir;             // --curve-dir: DIR/head.key, DIR/workers/*.pub; "": CURVE off
  std::string api_token_file;        // --api-token-file; "": FRAMEPIPE_API_TOKEN, when set
  // The role flags given to up, as the role's own arguments, by role: {"http", {"--threads",
  // "32"}}.
  std::map<std::string, std::vector<std::string>> role_arguments;
};

// Declares up's flags on `command`, each bound to a member of `options`.
void add_options(CLI::App& command, Options& options);

// Runs the cluster until SIGINT/SIGTERM (returns 0) or until a role cannot stay up (returns 1).
// Throws std::invalid_argument when a role refuses its flags, std::runtime_error when the CURVE key
// or the API token cannot be read.
int run(const Options& options);

// The address other machines of the LAN can use to reach this one (first non-loopback IPv4), or
// bind_host when that is a specific address.
std::string advertised_host(const std::string& bind_host);

}  // namespace framepipe::up
