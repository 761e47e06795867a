// The ventilator's rules, without sockets or codecs: which worker gets which frame of which job,
// how credit is counted, when a frame is sent again (its worker died, went idle, froze, or its
// result never reached the sink) and when frames leave the window. Time and events are inputs;
// the reactor (ventilator.cpp) owns the sockets and the decoded frames and carries out what this
// class decides.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "framepipe/ventilator/window.hpp"

namespace framepipe::ventilator {

struct SchedulerSettings {
  int64_t window_frames = 64;        // per job, between the decoder and the sink
  int64_t min_deadline_ms = 10'000;  // floor of the re-send deadline
  int max_worker_credit = 16;        // frames one worker may hold, whatever it asks
  // A segment's deadline: at least this much per frame of the job's longest segment (VP9 on one
  // thread of a busy machine takes about half a second a 720p frame), and four times the slowest
  // segment of the job so far. A segment is transcoded whole by one worker, which heartbeats
  // meanwhile: a worker that dies or freezes is dropped by the registry long before this. A
  // worker also says when it starts a segment, and several times a second while it transcodes
  // it, that it is making progress; once started, a segment goes again sooner, after
  // deadline_ms() without such a sign (a worker stuck in its encoder, or whose results cannot
  // leave, while it still heartbeats).
  int64_t segment_frame_budget_ms = 1'000;
};

// What a worker's Ready says.
struct WorkerReport {
  std::string job_id;  // of the frame it reports filtered ("" for none)
  int64_t index = -1;
  int credit = 0;             // frames it asks for
  bool idle = false;          // it holds no frame
  bool reads_shared = false;  // it reads this ventilator's shared memory
  int64_t filter_us = 0;      // how long the reported frame took to filter
  bool progress = false;      // it is transcoding the segment job_id/index (not finished)
};

struct ReadyOutcome {
  bool new_worker = false;
  bool sharing_changed = false;
  int taken_back = 0;  // frames it should have held (it went idle or stopped reading by reference)
};

// One frame for one worker.
struct Assignment {
  std::string job_id;
  int64_t index = 0;
  std::string worker;
  bool by_reference = false;  // the worker reads the frame in shared memory
};

// A frame put back in line by a deadline.
struct LateFrame {
  std::string job_id;
  int64_t index = 0;
  std::string worker;
  int64_t waited_ms = 0;
  bool reported = false;  // the worker reported it filtered, but the sink never got it
  // A segment whose worker showed no progress for this long (0: it was late as a whole).
  int64_t silent_ms = 0;
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerSettings settings) : settings_(settings) {}

  // ---- jobs that stream frames ----
  // Starts (or, after a sink restart, restarts) a job's window at item 0: `window` items (frames,
  // or a segmented job's segments), the configured window_frames when 0.
  // A segmented job's reports (a whole segment's time) leave the per-frame round trip and filter
  // time alone; its deadline is its own (segment_deadline_ms), from its longest segment's frames.
  void start_job(const std::string& job_id, int64_t now_ms, int64_t window = 0,
                 bool segmented = false, int64_t longest_segment_frames = 0);
  void end_job(const std::string& job_id);
  bool has_job(const std::string& job_id) const { return jobs_.count(job_id) > 0; }
  // The job's window; precondition: has_job.
  const FrameWindow& window(const std::string& job_id) const { return jobs_.at(job_id).window; }
  // A frame was decoded: it takes the next index and waits for a worker. Precondition: room.
  int64_t add_frame(const std::string& job_id);
  // The next frame of a job whose frames need no worker (sent straight to the sink).
  std::optional<int64_t> next_direct(const std::string& job_id);
  // Puts a frame back in line.
  void put_back(const std::string& job_id, int64_t index);
  // The sink encoded [0, frames_done): those frames leave the window and no worker holds them any
  // more. Returns how many left (the caller frees them).
  int64_t acknowledge(const std::string& job_id, int64_t frames_done, int64_t now_ms);
  // Every frame in the window goes again (the sink stopped reading them by reference).
  void resend_window(const std::string& job_id);

  // ---- workers ----
  ReadyOutcome on_ready(const std::string& worker, const WorkerReport& report, int64_t now_ms);
  // The worker is gone (declared dead, or unreachable): every frame it held, and every result
  // it reported that the sink has not acknowledged, goes again. Returns how many; -1 if unknown.
  int drop_worker(const std::string& worker);
  std::size_t workers() const { return workers_.size(); }
  // Workers that read this ventilator's shared memory (on this machine).
  std::size_t workers_reading_shared() const;
  // When the most recent worker first asked (0 without workers).
  int64_t newest_worker_ms() const;
  // Credit one worker holds, 0 for an unknown one.
  int credit(const std::string& worker) const;
  bool has_credit() const;

  // ---- dispatch ----
  // Takes the oldest credit and the job's next frame; nothing if either is missing (a credit is
  // only spent by sent() or unreachable()).
  std::optional<Assignment> assign(const std::string& job_id);
  // The frame left: it is at the worker until it reports it.
  void sent(const Assignment& assignment, int64_t now_ms);
  // The frame could not be sent: it goes back in line and the worker is dropped. Returns the
  // frames it held.
  int unreachable(const Assignment& assignment);

  // ---- deadlines ----
  // How long a frame may stay unanswered before it is sent elsewhere: many times the measured
  // round trip and filter time, never less than the configured floor.
  int64_t deadline_ms() const;
  // A segmented job's deadline for one segment (see SchedulerSettings); deadline_ms() for a frame
  // job. Precondition: has_job.
  int64_t deadline_ms(const std::string& job_id) const;
  // Puts back in line every frame a worker has held past the deadline (a segment also when its
  // worker showed no progress for deadline_ms()), and the frame a job waits for when its worker
  // reported it long ago and the sink has not moved since.
  std::vector<LateFrame> check_deadlines(int64_t now_ms);

  int64_t frames_resent() const { return frames_resent_; }
  double round_trip_ms() const { return round_trip_ms_; }
  double filter_ms() const { return filter_ms_; }

 private:
  struct Held {
    std::string worker;
    int64_t since_ms = 0;
    int64_t progress_ms = 0;  // its worker's last sign of progress on it (segments); 0: none
  };
  struct JobFrames {
    explicit JobFrames(int64_t window_frames) : window(window_frames) {}
    FrameWindow window;
    std::map<int64_t, Held> at_workers;  // sent; the worker has not reported them filtered
    std::map<int64_t, Held> reported;    // the worker sent the result; the sink has not acked it
    int64_t last_ack_ms = 0;
    bool segmented = false;
    int64_t longest_segment_frames = 0;
    int64_t slowest_segment_ms = 0;  // sent to reported, of the segments reported so far
  };
  struct WorkerSlot {
    int credit = 0;
    int64_t first_seen_ms = 0;
    int64_t last_seen_ms = 0;
    bool reads_shared = false;
  };

  int64_t job_deadline_ms(const JobFrames& job) const;
  int take_back(const std::string& worker, bool with_reported);
  void forget_credit(const std::string& worker);

  SchedulerSettings settings_;
  std::map<std::string, JobFrames> jobs_;
  std::map<std::string, WorkerSlot> workers_;
  std::deque<std::string> ready_queue_;  // one entry per credit, oldest first; always in step
  int64_t frames_resent_ = 0;
  double round_trip_ms_ = 0;  // frame sent -> worker reports it filtered, recent mean
  double filter_ms_ = 0;
};

}  // namespace framepipe::ventilator
