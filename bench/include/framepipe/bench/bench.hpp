// `framepipe bench`: proves (or disproves) that framepipe is faster than what a user would do
// instead. For each worker count it starts a local cluster of real processes on loopback, runs
// the job through the HTTP API as a user would, and measures end-to-end frames per second,
// speed-up and efficiency against one worker, per-stage figures and each role's peak memory; on
// the same input with the same encoder settings it times the ffmpeg command line and the
// single-process loop. Prints a table (with a live progress line), and writes JSON and an SVG plot.
#pragma once
#include <string>
#include <vector>

namespace framepipe::bench {

struct BenchConfig {
  std::string input;           // a video file, or:
  std::string generate;        // "1080p30:20s": testsrc2 + sine generated with lavfi
  std::string chain = "copy";  // the filter chain, as for `framepipe process`
  std::vector<int> workers = {1, 2, 4};
  int repeat = 1;                   // runs of each measurement; the median is reported
  std::string preset = "veryfast";  // x264, for framepipe and both baselines
  int crf = 20;
  std::string json_path;        // "" writes no JSON
  std::string svg_path;         // "" writes no SVG
  std::string cache_dir;        // generated inputs; "" is $XDG_CACHE_HOME/framepipe/bench
  std::string work_dir;         // outputs, logs, cluster data; "" is a temporary directory
                                // removed at the end
  bool baselines = true;        // false skips ffmpeg and the single-process loop
  bool shared_memory = true;    // false: `up --no-shared-memory` (copy frames over TCP)
  int job_stall_seconds = 120;  // a job whose progress stops this long fails the bench
  int hosts = 0;                // worker hosts in network namespaces (root only); 0: loopback
  std::string link_rate;        // tc tbf rate of the head's link with hosts ("200mbit"); "": none
  std::string distribution = "auto";  // how jobs are dealt: auto, frames or segments
  // The output format (protocol/formats.hpp) of the job and of both baselines; an audio format
  // takes the `copy` chain only.
  std::string format = "mp4";
};

// Runs the whole bench; returns the process exit code (0). Throws std::invalid_argument for a bad
// configuration, std::runtime_error when a run fails or a stop is requested (every process it
// started is stopped first).
int run(const BenchConfig& config);

}  // namespace framepipe::bench
