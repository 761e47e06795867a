// Which jobs changed, for the live event streams (GET /api/events): writers note a job id, each
// stream waits for ids newer than the last it sent. Bounded: the last kCapacity changes are kept; a
// stream that falls further behind is told so and resends every job.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace framepipe::http {

class JobChanges {
 public:
  static constexpr size_t kCapacity = 1024;

  struct Batch {
    std::vector<std::string> job_ids;  // changed after `since`, each once, oldest change first
    bool missed = false;               // changes were dropped: the reader should resend all jobs
    uint64_t last = 0;                 // pass as `since` next time
  };

  void note(const std::string& job_id);
  // The sequence number of the newest change (0 before any).
  uint64_t last() const;
  // Waits up to `timeout` for changes after `since`; returns at once if there are some.
  Batch wait(uint64_t since, std::chrono::milliseconds timeout) const;

 private:
  mutable std::mutex mutex_;  // guards recent_ and last_
  mutable std::condition_variable changed_;
  std::deque<std::pair<uint64_t, std::string>> recent_;  // oldest first
  uint64_t last_ = 0;
};

}  // namespace framepipe::http
