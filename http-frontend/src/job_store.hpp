// The http-frontend's job list: every job's state and numbers, kept in memory and persisted to
// SQLite (WAL mode) so that the list and the results of finished jobs survive a restart. It owns
// the state machine: queued -> running -> done | failed | canceled, and nothing leaves a final
// state. Thread-safe; every public function may be called from any thread.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "framepipe/protocol/formats.hpp"

namespace framepipe::http {

enum class JobState { queued, running, done, failed, canceled };

std::string_view to_string(JobState state);
std::optional<JobState> parse_job_state(std::string_view text);
// done, failed and canceled: the job will not change any more.
bool is_final(JobState state);

inline constexpr std::string_view kInterruptedError =
    "interrupted: the cluster lost the job when the head restarted";

struct Job {
  std::string id;
  int64_t owner = 0;  // the user id of accounts_api.hpp; 0: the server's own (single-user mode)
  JobState state = JobState::queued;
  std::string filters;  // canonical chain
  std::string preset;
  int crf = 0;
  std::string format{protocol::kDefaultFormat};  // an OutputFormat's name
  std::string distribution = "auto";             // asked for: auto, frames or segments
  std::string distribution_used;  // frames, segments or copied (streams), once the job started
  std::string distribution_why;   // why, from the cluster
  int64_t frames_done = 0;
  int64_t frames_total = 0;         // the ventilator's estimate until the sink knows it exactly
  bool frames_total_exact = false;  // frames_total came from the sink
  double fps = 0;
  double encode_ms = 0;         // the sink's recent mean per frame; live only (not stored)
  bool shared_memory = false;   // frames reached the sink by shared memory; live only
  int64_t skipped_packets = 0;  // damaged video the decoder skipped (known once decoded)
  std::optional<std::string> error;
  int64_t created_unix_ms = 0;
  std::optional<int64_t> started_unix_ms;
  std::optional<int64_t> finished_unix_ms;
  std::string input_name;   // the client's file name, sanitized for display
  std::string input_path;   // absolute
  std::string output_path;  // absolute
  int64_t input_bytes = 0;
  int64_t output_bytes = 0;
  // Media facts from the ventilator's SubmitReply; 0 or "" while unknown.
  int width = 0;
  int height = 0;
  int out_width = 0;
  int out_height = 0;
  double duration_seconds = 0;
  std::string video_codec;
  std::string audio_codec;
};

// What the ventilator learned when it accepted a job.
struct MediaInfo {
  int64_t frames_estimate = 0;
  int width = 0;
  int height = 0;
  int out_width = 0;
  int out_height = 0;
  double duration_seconds = 0;
  std::string video_codec;
  std::string audio_codec;
};

// One progress report of the sink.
struct ProgressReport {
  JobState state = JobState::running;  // running, done, failed or canceled
  std::string distribution;            // frames or segments ("" when not said)
  std::string distribution_why;
  int64_t frames_done = 0;
  int64_t frames_total = 0;  // 0 while unknown
  double fps = 0;
  std::string error;
  int64_t output_bytes = 0;
  double encode_ms = 0;
  int64_t skipped_packets = 0;
  bool shared_memory = false;
};

// The outcome of an update, so that callers log state changes and act on them.
enum class Update {
  unknown_job,    // no such job: nothing changed
  ignored,        // the job is final, or the update does not apply to its state
  applied,        // numbers changed, the state did not
  state_changed,  // the job moved to another state
};

class JobStore {
 public:
  // A running job's progress is written to the database at most this often.
  static constexpr int64_t kProgressSaveIntervalMs = 1000;

  // Opens (creating if needed) the database at `database_path` and loads every job. Jobs that were
  // queued or running when the previous process stopped keep their state and numbers: the cluster
  // may still be working on them (JobRecovery finds out). Throws std::runtime_error if the
  // database cannot be opened or read.
  explicit JobStore(const std::filesystem::path& database_path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // The jobs that were queued or running when the store was opened, each with whether it had
  // started (was running).
  const std::map<std::string, bool>& unfinished() const { return unfinished_; }

  // Adds a new job (its state as given, normally queued). Throws std::runtime_error if the id
  // exists or the database write fails.
  void add(const Job& job);
  // Forgets a job. Returns false if it was unknown. Throws std::runtime_error on a database error.
  bool erase(const std::string& id);

  std::optional<Job> find(const std::string& id) const;
  // Every job, newest first.
  std::vector<Job> list() const;

  // The ventilator accepted the job: records the media facts (the state stays as it is).
  Update accept(const std::string& id, const MediaInfo& info);
  // The ventilator refused the job: failed with `error`.
  Update reject(const std::string& id, const std::string& error, int64_t now_unix_ms);
  // A progress report of the sink. A report for a final job is ignored, so a late "running"
  // cannot move a finished job back. State changes are written at once, progress at most every
  // kProgressSaveIntervalMs.
  Update report(const std::string& id, const ProgressReport& progress, int64_t now_unix_ms);
  // The user canceled the job. Ignored when the job is already final.
  Update cancel(const std::string& id, int64_t now_unix_ms);
  // The cluster lost the job (a restart): failed with kInterruptedError. Ignored when final.
  Update interrupt(const std::string& id, int64_t now_unix_ms);

 private:
  class Database;
  // Moves a job that is not final to the final `state` (with `error`, if any). Locks mutex_.
  Update end(const std::string& id, JobState state, std::optional<std::string> error,
             int64_t now_unix_ms);
  // Writes `job` to the database; called with mutex_ held.
  void persist(const Job& job);

  mutable std::mutex mutex_;            // guards jobs_ and database_
  std::unique_ptr<Database> database_;  // owned; one connection
  std::unordered_map<std::string, Job> jobs_;
  std::map<std::string, bool> unfinished_;
  // When each running job's progress was last written; a job's entry goes with its state change.
  std::unordered_map<std::string, int64_t> progress_saved_unix_ms_;
};

}  // namespace framepipe::http
