#include "framepipe/protocol/keygen.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>

#include "framepipe/protocol/curve.hpp"

namespace framepipe::protocol {

void add_options(CLI::App& command, KeygenConfig& config) {
  command.add_option("name", config.name, "file name without extension")->required();
}

int run(const KeygenConfig& config) {
  const auto pair = generate_key_files(config.name);
  std::printf("wrote %s.key (secret: keep it on this machine) and %s.pub\npublic key: %s\n",
              config.name.c_str(), config.name.c_str(), pair.public_key.c_str());
  return 0;
}

}  // namespace framepipe::protocol
