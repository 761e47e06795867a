// `framepipe worker`'s command line: its flags, and the Config they make.
#pragma once
#include "framepipe/protocol/options.hpp"
#include "framepipe/worker/worker.hpp"

namespace framepipe::worker {

struct Options {
  protocol::CurveFiles curve;  // --curve-key, --curve-server
  Config config;  // the registry's endpoint, --threads, --name, --credit; keys come from `curve`
};

// Declares the flags on `command`, each bound to a member of `options`.
void add_options(CLI::App& command, Options& options);

// The worker's Config: keys read from their files, and the fault to inject from the environment
// (FRAMEPIPE_FAULT, for tests). Throws std::runtime_error for a key file that cannot be read.
Config make_config(const Options& options);

}  // namespace framepipe::worker
