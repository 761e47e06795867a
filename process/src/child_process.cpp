#include "framepipe/process/child_process.hpp"

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

extern char** environ;

namespace framepipe::process {
namespace {

using Clock = std::chrono::steady_clock;

// How often a wait looks at its child: short enough not to matter to a timing of seconds.
constexpr auto kWaitPoll = std::chrono::milliseconds(5);

// The child's environment: this process's, with the command's changes.
std::vector<std::string> child_environment(
    const std::map<std::string, std::optional<std::string>>& changes) {
  std::vector<std::string> variables;
  for (char** variable = environ; variable && *variable; ++variable) {
    const std::string text = *variable;
    if (!changes.contains(text.substr(0, text.find('=')))) variables.push_back(text);
  }
  for (const auto& [name, value] : changes) {
    if (value) variables.push_back(name + "=" + *value);
  }
  return variables;
}

std::vector<char*> null_terminated(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (const auto& text : strings) pointers.push_back(const_cast<char*>(text.c_str()));
  pointers.push_back(nullptr);
  return pointers;
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
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  const std::string text = content.str();
  return text.size() <= max_bytes ? text : text.substr(text.size() - max_bytes);
}

ChildProcess::ChildProcess(const Command& command) : own_process_group_(command.own_process_group) {
  if (command.argv.empty()) throw std::invalid_argument("empty command");
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  const auto arguments = null_terminated(command.argv);
  const auto environment_strings = child_environment(command.environment);
  const auto environment = null_terminated(environment_strings);
  int log = -1;
  if (!command.log_path.empty()) {
    log = open(command.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
      throw std::runtime_error("cannot open " + command.log_path + ": " + std::strerror(errno));
    }
  }
  const int null_input = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const bool own_group = own_process_group_;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    if (log >= 0) close(log);
    if (null_input >= 0) close(null_input);
    throw std::runtime_error(std::string("fork failed: ") + std::strerror(error));
  }
  if (pid == 0) {
    if (own_group) setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);  // the parent died before prctl
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (null_input >= 0) dup2(null_input, STDIN_FILENO);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
    }
    execvpe(arguments[0], arguments.data(), environment.data());
    _exit(127);
  }
  if (log >= 0) close(log);
  if (null_input >= 0) close(null_input);
  // Also from the parent, so that the group exists before anyone signals it.
  if (own_group) setpgid(pid, pid);
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

void ChildProcess::terminate() noexcept {
  if (pid_ <= 0 || reaped_) return;
  if (own_process_group_) {
    killpg(pid_, SIGTERM);
  } else {
    kill(pid_, SIGTERM);
  }
}

void ChildProcess::stop(std::chrono::milliseconds grace) noexcept {
  if (pid_ <= 0) return;
  if (!exited()) {
    terminate();
    const auto deadline = Clock::now() + grace;
    while (!exited() && Clock::now() < deadline) std::this_thread::sleep_for(kWaitPoll);
  }
  if (own_process_group_) {
    // The leader may be gone while members of its group are not (a role whose launcher died).
    killpg(pid_, SIGKILL);
  } else if (!exited()) {
    kill(pid_, SIGKILL);
  }
  while (!exited()) std::this_thread::sleep_for(kWaitPoll);
  pid_ = -1;
}

bool Completed::succeeded() const {
  return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

Completed run_to_end(const std::vector<std::string>& argv, const std::string& log_path,
                     std::chrono::seconds timeout) {
  const auto started = Clock::now();
  Command command;
  command.argv = argv;
  command.log_path = log_path;
  ChildProcess child(command);
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

}  // namespace framepipe::process
