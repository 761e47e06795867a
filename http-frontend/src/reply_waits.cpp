#include "reply_waits.hpp"

#include <utility>

namespace framepipe::http {

void ReplyWaits::expect(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  waiting_[job_id].reset();
}

bool ReplyWaits::deliver(const protocol::SubmitReply& reply) {
  {
    std::lock_guard lock(mutex_);
    auto it = waiting_.find(reply.job_id);
    if (it == waiting_.end()) return false;
    it->second = reply;
  }
  arrived_.notify_all();
  return true;
}

std::optional<protocol::SubmitReply> ReplyWaits::wait(const std::string& job_id,
                                                      std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  auto it = waiting_.find(job_id);
  if (it == waiting_.end()) return std::nullopt;
  arrived_.wait_for(lock, timeout, [&] { return it->second.has_value(); });
  if (!it->second) return std::nullopt;
  auto reply = std::move(it->second);
  waiting_.erase(it);
  return reply;
}

std::optional<protocol::SubmitReply> ReplyWaits::forget(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  auto it = waiting_.find(job_id);
  if (it == waiting_.end()) return std::nullopt;
  auto reply = std::move(it->second);
  waiting_.erase(it);
  return reply;
}

}  // namespace framepipe::http
