#include "framepipe/process/proc_files.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace framepipe::process {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fields of /proc/<pid>/stat after "pid (comm)", from field 3 (state) on.
std::vector<std::string> stat_fields(const std::string& stat) {
  // comm may hold spaces and parentheses, so read after the last ')'.
  std::vector<std::string> fields;
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  while (rest >> field) fields.push_back(field);
  return fields;
}

// A "Name:  123 kB" line of /proc/<pid>/status in bytes (0 when the process is gone).
long long status_kilobytes(pid_t pid, const std::string& name) {
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(name, 0) == 0) return std::stoll(line.substr(name.size())) * 1024;
  }
  return 0;
}

}  // namespace

double cpu_seconds(pid_t pid) {
  const auto fields = stat_fields(read_file("/proc/" + std::to_string(pid) + "/stat"));
  // utime and stime are fields 14 and 15 of the line, 11 and 12 of these (state is field 3).
  if (fields.size() < 13) return 0;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto fields = stat_fields(read_file(entry.path() / "stat"));
    if (fields.size() >= 2 && fields[1] == std::to_string(parent)) {
      children.push_back(std::stoi(name));
    }
  }
  return children;
}

std::vector<std::string> command_line(pid_t pid) {
  const std::string raw = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> argv;
  std::size_t start = 0;
  while (start < raw.size()) {
    const auto end = raw.find('\0', start);
    argv.push_back(raw.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return argv;
}

long long peak_resident_bytes(pid_t pid) {
  return status_kilobytes(pid, "VmHWM:");
}

long long resident_bytes(pid_t pid) {
  return status_kilobytes(pid, "VmRSS:");
}

}  // namespace framepipe::process
