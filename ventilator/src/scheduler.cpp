#include "framepipe/ventilator/scheduler.hpp"

#include <algorithm>

namespace framepipe::ventilator {

namespace {

double moving_mean(double mean, double sample, double weight) {
  return mean == 0 ? sample : (1 - weight) * mean + weight * sample;
}

}  // namespace

void Scheduler::start_job(const std::string& job_id, int64_t now_ms, int64_t window, bool segmented,
                          int64_t longest_segment_frames) {
  JobFrames& job =
      jobs_.insert_or_assign(job_id, JobFrames(window > 0 ? window : settings_.window_frames))
          .first->second;
  job.last_ack_ms = now_ms;
  job.segmented = segmented;
  job.longest_segment_frames = segmented ? longest_segment_frames : 0;
}

void Scheduler::end_job(const std::string& job_id) {
  jobs_.erase(job_id);
}

int64_t Scheduler::add_frame(const std::string& job_id) {
  return jobs_.at(job_id).window.add();
}

std::optional<int64_t> Scheduler::next_direct(const std::string& job_id) {
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return std::nullopt;
  return job->second.window.next_to_send();
}

void Scheduler::put_back(const std::string& job_id, int64_t index) {
  if (auto job = jobs_.find(job_id); job != jobs_.end()) job->second.window.resend(index);
}

int64_t Scheduler::acknowledge(const std::string& job_id, int64_t frames_done, int64_t now_ms) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return 0;
  JobFrames& job = it->second;
  const int64_t released = job.window.acknowledge(frames_done);
  if (released == 0) return 0;
  job.last_ack_ms = now_ms;
  const int64_t done = job.window.done();
  job.at_workers.erase(job.at_workers.begin(), job.at_workers.lower_bound(done));
  job.reported.erase(job.reported.begin(), job.reported.lower_bound(done));
  return released;
}

void Scheduler::resend_window(const std::string& job_id) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  FrameWindow& window = it->second.window;
  for (int64_t index = window.done(); index < window.decoded(); ++index) window.resend(index);
}

ReadyOutcome Scheduler::on_ready(const std::string& worker, const WorkerReport& report,
                                 int64_t now_ms) {
  ReadyOutcome outcome;
  auto [it, fresh] = workers_.try_emplace(worker);
  WorkerSlot& slot = it->second;
  outcome.new_worker = fresh;
  if (fresh) slot.first_seen_ms = now_ms;
  slot.last_seen_ms = now_ms;
  outcome.sharing_changed = !fresh && report.reads_shared != slot.reads_shared;
  if (fresh) outcome.sharing_changed = report.reads_shared;
  // It could not read a frame by reference: the frames it holds come again, with planes.
  if (slot.reads_shared && !report.reads_shared) outcome.taken_back += take_back(worker, false);
  slot.reads_shared = report.reads_shared;
  if (report.progress) {
    // It works on this segment: from now on, its silence counts. (Those queued behind it, maybe
    // still on their way over a slow link, have only their whole budget.)
    if (auto job = jobs_.find(report.job_id); job != jobs_.end() && job->second.segmented) {
      auto& at_workers = job->second.at_workers;
      if (auto held = at_workers.find(report.index);
          held != at_workers.end() && held->second.worker == worker) {
        held->second.progress_ms = now_ms;
      }
    }
    return outcome;
  }
  if (!report.job_id.empty()) {
    bool per_frame = true;
    if (auto job = jobs_.find(report.job_id); job != jobs_.end()) {
      per_frame = !job->second.segmented;
      // The result may still be queued at the worker: the frame stays retained (and is sent again
      // if the worker dies) until the sink acknowledges it.
      auto& at_workers = job->second.at_workers;
      if (auto held = at_workers.find(report.index);
          held != at_workers.end() && held->second.worker == worker) {
        const int64_t took_ms = now_ms - held->second.since_ms;
        if (per_frame) {
          round_trip_ms_ = moving_mean(round_trip_ms_, static_cast<double>(took_ms), 0.05);
        } else {
          job->second.slowest_segment_ms = std::max(job->second.slowest_segment_ms, took_ms);
        }
        job->second.reported[report.index] = Held{worker, now_ms, 0};
        at_workers.erase(held);
      }
    }
    if (report.filter_us > 0 && per_frame) {
      filter_ms_ = moving_mean(filter_ms_, report.filter_us / 1000.0, 0.05);
    }
  }
  if (report.idle) {
    // Whatever it should hold was lost on the way (or it restarted): those frames go again, and
    // its credit starts afresh from what it asks now.
    outcome.taken_back += take_back(worker, false);
    forget_credit(worker);
  }
  const int credit = std::clamp(report.credit, 0, settings_.max_worker_credit - slot.credit);
  slot.credit += credit;
  for (int i = 0; i < credit; ++i) ready_queue_.push_back(worker);
  return outcome;
}

int Scheduler::drop_worker(const std::string& worker) {
  if (workers_.count(worker) == 0) return -1;
  forget_credit(worker);
  workers_.erase(worker);
  // Its reported results may have died in its send queue.
  return take_back(worker, true);
}

std::size_t Scheduler::workers_reading_shared() const {
  return static_cast<std::size_t>(
      std::count_if(workers_.begin(), workers_.end(),
                    [](const auto& entry) { return entry.second.reads_shared; }));
}

int64_t Scheduler::newest_worker_ms() const {
  int64_t newest = 0;
  for (const auto& [name, slot] : workers_) newest = std::max(newest, slot.first_seen_ms);
  return newest;
}

int Scheduler::credit(const std::string& worker) const {
  auto it = workers_.find(worker);
  return it == workers_.end() ? 0 : it->second.credit;
}

bool Scheduler::has_credit() const {
  return !ready_queue_.empty();
}

std::optional<Assignment> Scheduler::assign(const std::string& job_id) {
  if (ready_queue_.empty()) return std::nullopt;
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return std::nullopt;
  auto index = job->second.window.next_to_send();
  if (!index) return std::nullopt;
  const std::string& worker = ready_queue_.front();
  return Assignment{job_id, *index, worker, workers_.at(worker).reads_shared};
}

void Scheduler::sent(const Assignment& assignment, int64_t now_ms) {
  ready_queue_.pop_front();
  --workers_.at(assignment.worker).credit;
  if (auto job = jobs_.find(assignment.job_id); job != jobs_.end()) {
    job->second.at_workers[assignment.index] = Held{assignment.worker, now_ms, 0};
  }
}

int Scheduler::unreachable(const Assignment& assignment) {
  put_back(assignment.job_id, assignment.index);
  return std::max(0, drop_worker(assignment.worker));
}

int64_t Scheduler::deadline_ms() const {
  return std::max({settings_.min_deadline_ms, static_cast<int64_t>(8 * round_trip_ms_),
                   static_cast<int64_t>(20 * filter_ms_)});
}

int64_t Scheduler::job_deadline_ms(const JobFrames& job) const {
  if (!job.segmented) return deadline_ms();
  return std::max({deadline_ms(), job.longest_segment_frames * settings_.segment_frame_budget_ms,
                   4 * job.slowest_segment_ms});
}

int64_t Scheduler::deadline_ms(const std::string& job_id) const {
  return job_deadline_ms(jobs_.at(job_id));
}

std::vector<LateFrame> Scheduler::check_deadlines(int64_t now_ms) {
  std::vector<LateFrame> late;
  for (auto& [id, job] : jobs_) {
    const int64_t deadline = job_deadline_ms(job);
    const int64_t silence = deadline_ms();  // a segment's, without a sign of progress
    for (auto it = job.at_workers.begin(); it != job.at_workers.end();) {
      const int64_t silent_ms = now_ms - it->second.progress_ms;
      const bool stalled = job.segmented && it->second.progress_ms > 0 && silent_ms > silence;
      if (now_ms - it->second.since_ms > deadline || stalled) {
        late.push_back({id, it->first, it->second.worker, now_ms - it->second.since_ms, false,
                        stalled ? silent_ms : 0});
        job.window.resend(it->first);
        it = job.at_workers.erase(it);
      } else {
        ++it;
      }
    }
    auto waited = job.reported.find(job.window.done());
    if (waited != job.reported.end() && now_ms - waited->second.since_ms > deadline &&
        now_ms - job.last_ack_ms > deadline) {
      late.push_back(
          {id, waited->first, waited->second.worker, now_ms - waited->second.since_ms, true});
      job.window.resend(waited->first);
      job.reported.erase(waited);
    }
  }
  frames_resent_ += static_cast<int64_t>(late.size());
  return late;
}

int Scheduler::take_back(const std::string& worker, bool with_reported) {
  int count = 0;
  const auto take = [&](FrameWindow& window, std::map<int64_t, Held>& frames) {
    for (auto it = frames.begin(); it != frames.end();) {
      if (it->second.worker == worker) {
        window.resend(it->first);
        it = frames.erase(it);
        ++count;
      } else {
        ++it;
      }
    }
  };
  for (auto& [id, job] : jobs_) {
    take(job.window, job.at_workers);
    if (with_reported) take(job.window, job.reported);
  }
  frames_resent_ += count;
  return count;
}

void Scheduler::forget_credit(const std::string& worker) {
  std::erase(ready_queue_, worker);
  if (auto it = workers_.find(worker); it != workers_.end()) it->second.credit = 0;
}

}  // namespace framepipe::ventilator
