// `framepipe registry`'s command line: its flags, and the Config they make.
#pragma once
#include <string>

#include "framepipe/protocol/options.hpp"
#include "framepipe/registry/registry.hpp"

namespace framepipe::registry {

struct Options {
  protocol::ClusterAddress cluster;  // --zmq-port-base, --bind-host
  // --advertise: the host workers are told to get frames from and send results to; "": the host
  // they reached the registry at.
  std::string advertise;
  protocol::CurveFiles curve;  // --curve-key, --curve-allow
};

// Declares the flags on `command`, each bound to a member of `options`.
void add_options(CLI::App& command, Options& options);

// The registry's Config: endpoints from the port base and hosts, keys read from their files.
// Throws std::runtime_error for a key file that cannot be read.
Config make_config(const Options& options);

}  // namespace framepipe::registry
