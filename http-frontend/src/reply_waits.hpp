// Uploads that wait for the ventilator's answer to their SubmitJob (its probe of the file) before
// they are answered: a refusal the probe finds (an audio format from a file without audio) becomes
// the upload's 400, not a failed job. The cluster link's thread hands over the reply of a job an
// upload waits for; at most one entry per HTTP thread.
#pragma once
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "framepipe/protocol/messages.hpp"

namespace framepipe::http {

class ReplyWaits {
 public:
  // From now on the reply for `job_id` goes to the waiter (call before submitting).
  void expect(const std::string& job_id);
  // True when an upload waits for this reply and has taken it: the caller leaves it alone.
  bool deliver(const protocol::SubmitReply& reply);
  // The reply once it came (the job is then no longer waited for), or nothing after `timeout`
  // (still waited for).
  std::optional<protocol::SubmitReply> wait(const std::string& job_id,
                                            std::chrono::milliseconds timeout);
  // Stops waiting; returns the reply if it came meanwhile, so that none is lost.
  std::optional<protocol::SubmitReply> forget(const std::string& job_id);

 private:
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::map<std::string, std::optional<protocol::SubmitReply>> waiting_;
};

}  // namespace framepipe::http
