// `framepipe keygen NAME`: writes a CURVE key pair, NAME.key (secret) and NAME.pub, and prints the
// public key.
#pragma once
#include <string>

namespace CLI {
class App;
}

namespace framepipe::protocol {

struct KeygenConfig {
  std::string name;  // the files' path without extension (required)
};

void add_options(CLI::App& command, KeygenConfig& config);

// Writes the pair and prints where. Returns the exit code (0). Throws std::runtime_error.
int run(const KeygenConfig& config);

}  // namespace framepipe::protocol
