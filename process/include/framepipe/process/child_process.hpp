// One child process, owned: started from a Command, reaped, and stopped (SIGTERM, then SIGKILL
// after a grace period) when its owner goes away, whatever happened. Every child dies with the
// process that started it (PR_SET_PDEATHSIG), even one killed with SIGKILL, so no process is
// left behind. `framepipe up` keeps its roles up with these (Supervisor); the bench runs ffmpeg
// and local clusters with them.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace framepipe::process {

struct Command {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH
  // The child's stdout and stderr are appended to this file; "": they are this process's own.
  // Its stdin is always /dev/null.
  std::string log_path;
  // true: the child leads a process group of its own, so that a stop reaches everything it
  // started (ffmpeg's threads, `up` and its roles) and a terminal's Ctrl-C reaches only this
  // process. false: it stays in this process's group, so that a signal to the group (a Ctrl-C, a
  // test's killpg) reaches it as it reaches this process.
  bool own_process_group = true;
  // Variables set (a value) or removed (nullopt) in the child's environment; the others are
  // inherited. This is how a secret reaches a child: /proc/PID/environ is readable by its owner
  // only, while /proc/PID/cmdline, what `ps` shows, is readable by everyone.
  std::map<std::string, std::optional<std::string>> environment;
};

class ChildProcess {
 public:
  // Starts the command. Throws std::runtime_error when it cannot be started (no log file, fork
  // failed); a program that cannot be executed exits with status 127.
  explicit ChildProcess(const Command& command);
  ~ChildProcess();  // stop()
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // True once the process has exited (and been reaped); never blocks.
  bool exited();
  int wait_status() const { return wait_status_; }
  // Peak resident memory of the process itself (ru_maxrss) and the CPU time of it and its
  // children (user + system), known once it has exited.
  long long peak_memory_bytes() const { return peak_memory_bytes_; }
  double cpu_seconds() const { return cpu_seconds_; }

  // SIGTERM (to its group when it leads one); returns at once. Never throws.
  void terminate() noexcept;
  // terminate(), SIGKILL after `grace` (to the whole group when it leads one: members may outlive
  // the leader), then reaps. Never throws.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(15)) noexcept;

 private:
  pid_t pid_ = -1;  // also the process group id when own_process_group_
  bool own_process_group_ = true;
  bool reaped_ = false;
  int wait_status_ = 0;
  long long peak_memory_bytes_ = 0;
  double cpu_seconds_ = 0;
};

struct Completed {
  int wait_status = 0;
  double seconds = 0;  // wall clock, from just before the fork to the exit
  long long peak_memory_bytes = 0;
  double cpu_seconds = 0;  // user + system
  bool succeeded() const;
};

// Runs a command to its end, with stdout and stderr appended to `log_path`. Throws
// std::runtime_error when a stop is requested (SIGINT/SIGTERM) or `timeout` passes; the child is
// stopped first.
Completed run_to_end(const std::vector<std::string>& argv, const std::string& log_path,
                     std::chrono::seconds timeout);

// The path of the running executable (/proc/self/exe). Throws std::runtime_error.
std::string self_executable();

// "exited with status 1", "was killed by Killed".
std::string describe_wait_status(int status);

// The last `max_bytes` of a text file, a child's log ("" when it cannot be read).
std::string read_tail(const std::string& path, std::size_t max_bytes);

}  // namespace framepipe::process
