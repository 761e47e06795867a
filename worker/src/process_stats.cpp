#include "framepipe/worker/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

namespace framepipe::worker {
namespace {

int64_t cpu_us() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& t) { return int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ProcessSampler::ProcessSampler() : last_cpu_us_(cpu_us()), last_wall_us_(wall_us()) {}

double ProcessSampler::cpu_percent() {
  const int64_t cpu = cpu_us();
  const int64_t wall = wall_us();
  const int64_t elapsed = wall - last_wall_us_;
  const double percent =
      elapsed > 0 ? 100.0 * static_cast<double>(cpu - last_cpu_us_) / elapsed : 0;
  last_cpu_us_ = cpu;
  last_wall_us_ = wall;
  return percent;
}

int64_t ProcessSampler::rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0;
  int64_t resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * sysconf(_SC_PAGESIZE);
}

}  // namespace framepipe::worker
