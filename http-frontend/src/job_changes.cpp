#include "job_changes.hpp"

#include <algorithm>

namespace framepipe::http {

void JobChanges::note(const std::string& job_id) {
  {
    std::lock_guard lock(mutex_);
    recent_.emplace_back(++last_, job_id);
    if (recent_.size() > kCapacity) recent_.pop_front();
  }
  changed_.notify_all();
}

uint64_t JobChanges::last() const {
  std::lock_guard lock(mutex_);
  return last_;
}

JobChanges::Batch JobChanges::wait(uint64_t since, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return last_ > since; });
  Batch batch;
  batch.last = last_;
  if (last_ <= since) return batch;
  batch.missed = recent_.empty() || recent_.front().first > since + 1;
  for (const auto& [sequence, job_id] : recent_) {
    if (sequence <= since) continue;
    if (std::find(batch.job_ids.begin(), batch.job_ids.end(), job_id) == batch.job_ids.end()) {
      batch.job_ids.push_back(job_id);
    }
  }
  return batch;
}

}  // namespace framepipe::http
