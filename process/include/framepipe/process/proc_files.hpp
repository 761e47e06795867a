// What /proc tells about a live process: its children, its command line, its memory and CPU time.
// Each returns an empty or zero value when the process is gone; none throws.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace framepipe::process {

// Processes whose parent is `parent`, by /proc/<pid>/stat.
std::vector<pid_t> children_of(pid_t parent);
// argv of a process ({} when it is gone).
std::vector<std::string> command_line(pid_t pid);
// VmHWM of a process in bytes (0 when it is gone).
long long peak_resident_bytes(pid_t pid);
// VmRSS of a process in bytes, its resident size now (0 when it is gone).
long long resident_bytes(pid_t pid);
// User + system CPU time a live process has used so far, all its threads (0 when it is gone).
double cpu_seconds(pid_t pid);

}  // namespace framepipe::process
