// CPU and memory of the calling process, sampled from getrusage and /proc.
#pragma once
#include <cstdint>

namespace framepipe::worker {

class ProcessSampler {
 public:
  ProcessSampler();
  // CPU use since the previous call, in percent of one core.
  double cpu_percent();
  static int64_t rss_bytes();

 private:
  int64_t last_cpu_us_ = 0;
  int64_t last_wall_us_ = 0;
};

}  // namespace framepipe::worker
