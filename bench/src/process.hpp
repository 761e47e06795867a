// The process library's names as the bench's files use them: child processes in process groups of
// their own with logs (ffmpeg, `framepipe up`), run to their end or stopped, and what /proc tells
// about a local cluster's roles.
#pragma once
#include "framepipe/process/child_process.hpp"
#include "framepipe/process/proc_files.hpp"

namespace framepipe::bench {

using process::ChildProcess;
using process::children_of;
using process::Command;
using process::command_line;
using process::Completed;
using process::cpu_seconds;
using process::describe_wait_status;
using process::peak_resident_bytes;
using process::read_tail;
using process::resident_bytes;
using process::run_to_end;
using process::self_executable;

}  // namespace framepipe::bench
