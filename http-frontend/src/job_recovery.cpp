#include "job_recovery.hpp"

#include <algorithm>
#include <set>

namespace framepipe::http {

JobRecovery::JobRecovery(const std::map<std::string, bool>& unfinished, int64_t now_ms)
    : started_ms_(now_ms) {
  for (const auto& [id, started] : unfinished) unconfirmed_[id].started = started;
}

std::vector<std::string> JobRecovery::on_cluster_jobs(
    const std::vector<std::string>& listed, const std::function<bool(const std::string&)>& given_up,
    int64_t now_ms) {
  answered_ = true;
  const std::set<std::string> live(listed.begin(), listed.end());
  for (auto it = unconfirmed_.begin(); it != unconfirmed_.end();) {
    if (live.count(it->first)) {
      it = unconfirmed_.erase(it);  // the cluster still works on it: follow it
      continue;
    }
    if (it->second.unlisted_since_ms < 0) it->second.unlisted_since_ms = now_ms;
    ++it;
  }

  std::vector<std::string> cancel;
  std::map<std::string, int> listings;
  for (const std::string& id : live) {
    if (unconfirmed_.count(id) || !given_up(id)) continue;
    const int count = given_up_listings_.count(id) ? given_up_listings_.at(id) + 1 : 1;
    listings[id] = count;
    if (count >= kListingsBeforeCancel) cancel.push_back(id);
  }
  given_up_listings_ = std::move(listings);  // only listings in a row count
  return cancel;
}

void JobRecovery::on_report(const std::string& job_id) {
  unconfirmed_.erase(job_id);
}

std::vector<JobRecovery::Decision> JobRecovery::decide(int64_t now_ms) {
  std::vector<Decision> decisions;
  const bool no_answer = !answered_ && now_ms - started_ms_ >= kNoAnswerMs;
  for (auto it = unconfirmed_.begin(); it != unconfirmed_.end();) {
    const auto& job = it->second;
    const bool lost =
        no_answer || (job.unlisted_since_ms >= 0 && now_ms - job.unlisted_since_ms >= kGraceMs);
    if (!lost) {
      ++it;
      continue;
    }
    decisions.push_back({it->first, job.started ? Verdict::fail : Verdict::resubmit});
    it = unconfirmed_.erase(it);
  }
  return decisions;
}

}  // namespace framepipe::http
