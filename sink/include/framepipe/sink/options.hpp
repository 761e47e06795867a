// `framepipe sink`'s command line: its flags, and the Config they make.
#pragma once
#include "framepipe/protocol/options.hpp"
#include "framepipe/sink/sink.hpp"

namespace framepipe::sink {

struct Options {
  protocol::ClusterAddress cluster;  // --zmq-port-base, --bind-host
  protocol::CurveFiles curve;        // --curve-key, --curve-allow
  Config config;  // --encoder-threads; its endpoints and keys come from the members above
};

// Declares the flags on `command`, each bound to a member of `options`.
void add_options(CLI::App& command, Options& options);

// The sink's Config: endpoints from the port base and bind host, keys read from their files.
// Throws std::runtime_error for a key file that cannot be read.
Config make_config(const Options& options);

}  // namespace framepipe::sink
