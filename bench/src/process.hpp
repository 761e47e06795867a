// Child processes of the bench. Each runs in a process group of its own, so that a stop reaches
// everything it started (the `up` launcher and its roles, ffmpeg and its threads) and the
// terminal's Ctrl-C reaches only the bench; each dies with the bench (PR_SET_PDEATHSIG) and writes
// its output to a log file. The owner always stops the whole group: no process is left behind,
// whether the bench finishes, throws or is interrupted.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace framepipe::bench {

// The path of the running executable (/proc/self/exe). Throws std::runtime_error.
std::string self_executable();

// "exited with status 1", "was killed by Killed".
std::string describe_wait_status(int status);

// The last `max_bytes` of a text file ("" when it cannot be read).
std::string read_tail(const std::string& path, std::size_t max_bytes);

class ChildProcess {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH) with stdout and stderr appended to
  // `log_path`. Throws std::runtime_error when it cannot be started.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
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

  // SIGTERM to the whole group, SIGKILL to the group after `grace`, then reaps. Never throws.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(15)) noexcept;

 private:
  pid_t pid_ = -1;  // also the process group id
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

// Runs a command to its end. Throws std::runtime_error when a stop is requested (SIGINT/SIGTERM)
// or `timeout` passes; the child is stopped first.
Completed run_to_end(const std::vector<std::string>& argv, const std::string& log_path,
                     std::chrono::seconds timeout);

// Processes whose parent is `parent`, by /proc/<pid>/stat.
std::vector<pid_t> children_of(pid_t parent);
// argv of a process ({} when it is gone).
std::vector<std::string> command_line(pid_t pid);
// VmHWM of a process in bytes (0 when it is gone).
long long peak_resident_bytes(pid_t pid);
// User + system CPU time a live process has used so far, all its threads (0 when it is gone).
double cpu_seconds(pid_t pid);

}  // namespace framepipe::bench
