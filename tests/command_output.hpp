// Runs a shell command for a test (ffmpeg making a clip, ffprobe reading one) and returns what it
// printed on standard output.
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>

namespace framepipe::testing {

// Throws std::runtime_error when the command cannot start or exits non-zero.
inline std::string command_output(const std::string& command) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buffer[4096];
  size_t count = 0;
  while ((count = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, count);
  if (pclose(pipe) != 0) throw std::runtime_error("command failed: " + command);
  return output;
}

}  // namespace framepipe::testing
