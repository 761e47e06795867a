// The command lines of `framepipe bench` (BenchConfig) and `framepipe process` (LocalConfig).
#pragma once
#include "framepipe/bench/bench.hpp"
#include "framepipe/bench/local.hpp"

namespace CLI {
class App;
}

namespace framepipe::bench {

// Declare the flags on `command`, each bound to a member of `config`.
void add_options(CLI::App& command, BenchConfig& config);
void add_options(CLI::App& command, LocalConfig& config);

// `framepipe process`: runs the single-process loop and prints its figures. Returns the exit code
// (0); throws as process_locally().
int run(const LocalConfig& config);

}  // namespace framepipe::bench
