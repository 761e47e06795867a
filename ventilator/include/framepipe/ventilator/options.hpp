// `framepipe ventilator`'s command line: its flags, and the Config they make.
#pragma once
#include "framepipe/protocol/options.hpp"
#include "framepipe/ventilator/ventilator.hpp"

namespace framepipe::ventilator {

struct Options {
  protocol::ClusterAddress cluster;  // --zmq-port-base, --bind-host, --head
  protocol::CurveFiles curve;        // --curve-key, --curve-allow
  // --window, --decode-threads, --max-active-jobs, --resend-after-ms, --no-shared-memory; its
  // endpoints and keys come from the members above.
  Config config;
};

// Declares the flags on `command`, each bound to a member of `options`.
void add_options(CLI::App& command, Options& options);

// The ventilator's Config: endpoints from the port base and hosts, keys read from their files.
// Throws std::runtime_error for a key file that cannot be read.
Config make_config(const Options& options);

}  // namespace framepipe::ventilator
