// Keeps the http-frontend's job list and the cluster's in step across a restart of either. The
// ventilator holds every job from SubmitJob until the sink reports it finished, and lists them in
// each Pong; the sink re-publishes its final reports for a minute. So after the http-frontend
// restarts, a job it left unfinished is
//   - live, if the ventilator lists it or the sink reports on it: it is followed to its end;
//   - lost, if neither happens within a grace after the ventilator first answers without it: a
//     job that had not started is submitted again (its upload is still on disk), one that had
//     started fails (the cluster lost its frames);
// and a job the cluster works on that the head has given up on (final, deleted or never known) is
// canceled, so that no frame is spent on it and no file is left behind.
// Pure logic: time and events come in as arguments, decisions go out as values. Not thread-safe:
// one thread (the cluster link's) calls it.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace framepipe::http {

class JobRecovery {
 public:
  // How long a job the ventilator does not list may wait for the sink's final report (which it
  // re-publishes every 250 ms) before it counts as lost.
  static constexpr int64_t kGraceMs = 3000;
  // With no answer from the ventilator at all for this long, the unfinished jobs count as lost.
  static constexpr int64_t kNoAnswerMs = 60'000;
  // A job the head has given up on is canceled once the ventilator listed it this many times in a
  // row: a Pong may cross the sink's final report on the way.
  static constexpr int kListingsBeforeCancel = 2;

  enum class Verdict {
    resubmit,  // lost before it started: submit it again
    fail,      // lost after it started
  };
  struct Decision {
    std::string job_id;
    Verdict verdict;
  };

  // `unfinished`: the jobs the store had queued or running when this process started, each with
  // whether it had started (was running).
  JobRecovery(const std::map<std::string, bool>& unfinished, int64_t now_ms);

  // The ventilator answered with the jobs it holds. `given_up(id)` says whether the head has given
  // up on a job (final, or unknown). Returns the jobs to cancel in the cluster.
  std::vector<std::string> on_cluster_jobs(const std::vector<std::string>& listed,
                                           const std::function<bool(const std::string&)>& given_up,
                                           int64_t now_ms);
  // The sink reported on the job (running or final): it is live, or ended by itself.
  void on_report(const std::string& job_id);
  // The jobs whose fate is now known to be lost; each is returned once.
  std::vector<Decision> decide(int64_t now_ms);

  // Jobs still being checked.
  std::size_t pending() const { return unconfirmed_.size(); }
  bool is_pending(const std::string& job_id) const { return unconfirmed_.count(job_id) > 0; }

 private:
  struct Unconfirmed {
    bool started = false;
    int64_t unlisted_since_ms = -1;  // when the ventilator first answered without it; -1: not yet
  };
  std::map<std::string, Unconfirmed> unconfirmed_;
  std::map<std::string, int> given_up_listings_;  // listed jobs the head has given up on
  int64_t started_ms_ = 0;
  bool answered_ = false;
};

}  // namespace framepipe::http
