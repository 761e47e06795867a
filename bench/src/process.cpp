#include "process.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "framepipe/protocol/signals.hpp"

namespace framepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;

// How often a wait looks at its child: short enough not to matter to a timing of seconds.
constexpr auto kWaitPoll = std::chrono::milliseconds(5);

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string self_executable() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw std::runtime_error("cannot find this executable: " + error.message());
  return path;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by ") + strsignal(WTERMSIG(status));
  return "stopped";
}

std::string read_tail(const std::string& path, std::size_t max_bytes) {
  const std::string text = read_file(path);
  return text.size() <= max_bytes ? text : text.substr(text.size() - max_bytes);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) throw std::invalid_argument("empty command");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> arguments;
  for (const auto& argument : argv) arguments.push_back(const_cast<char*>(argument.c_str()));
  arguments.push_back(nullptr);
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) throw std::runtime_error("cannot open " + log_path + ": " + std::strerror(errno));
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(log);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    const int null_input = open("/dev/null", O_RDONLY);
    if (null_input >= 0) dup2(null_input, STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execvp(arguments[0], arguments.data());
    _exit(127);
  }
  close(log);
  // Also from the parent, so that the group exists before anyone signals it.
  setpgid(pid, pid);
  pid_ = pid;
}

ChildProcess::~ChildProcess() {
  stop();
}

bool ChildProcess::exited() {
  if (reaped_) return true;
  int status = 0;
  rusage usage{};
  const pid_t result = wait4(pid_, &status, WNOHANG, &usage);
  if (result == pid_) {
    reaped_ = true;
    wait_status_ = status;
    peak_memory_bytes_ = static_cast<long long>(usage.ru_maxrss) * 1024;
    cpu_seconds_ = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                   static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  } else if (result < 0 && errno == ECHILD) {
    reaped_ = true;
  }
  return reaped_;
}

void ChildProcess::stop(std::chrono::milliseconds grace) noexcept {
  if (pid_ <= 0) return;
  if (!exited()) {
    killpg(pid_, SIGTERM);
    const auto deadline = Clock::now() + grace;
    while (!exited() && Clock::now() < deadline) std::this_thread::sleep_for(kWaitPoll);
  }
  // The leader may be gone while members of its group are not (a role whose launcher died).
  killpg(pid_, SIGKILL);
  while (!exited()) std::this_thread::sleep_for(kWaitPoll);
  pid_ = -1;
}

bool Completed::succeeded() const {
  return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

Completed run_to_end(const std::vector<std::string>& argv, const std::string& log_path,
                     std::chrono::seconds timeout) {
  const auto started = Clock::now();
  ChildProcess child(argv, log_path);
  while (!child.exited()) {
    if (stop_requested()) throw std::runtime_error("interrupted");
    if (Clock::now() - started > timeout) {
      throw std::runtime_error(argv.front() + " did not finish in " +
                               std::to_string(timeout.count()) + " s");
    }
    std::this_thread::sleep_for(kWaitPoll);
  }
  Completed completed;
  completed.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  completed.wait_status = child.wait_status();
  completed.peak_memory_bytes = child.peak_memory_bytes();
  completed.cpu_seconds = child.cpu_seconds();
  return completed;
}

namespace {

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
  std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "VmHWM:  123 kB"
  }
  return 0;
}

}  // namespace framepipe::bench
