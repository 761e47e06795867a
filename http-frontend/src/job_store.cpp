#include "job_store.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "sqlite.hpp"

namespace framepipe::http {
namespace {

using sqlite::Connection;
using sqlite::execute;
using sqlite::Statement;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  filters TEXT NOT NULL,
  preset TEXT NOT NULL,
  crf INTEGER NOT NULL,
  frames_done INTEGER NOT NULL,
  frames_total INTEGER NOT NULL,
  frames_total_exact INTEGER NOT NULL,
  fps REAL NOT NULL,
  error TEXT,
  created_unix_ms INTEGER NOT NULL,
  started_unix_ms INTEGER,
  finished_unix_ms INTEGER,
  input_name TEXT NOT NULL,
  input_path TEXT NOT NULL,
  output_path TEXT NOT NULL,
  input_bytes INTEGER NOT NULL,
  output_bytes INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  out_width INTEGER NOT NULL,
  out_height INTEGER NOT NULL,
  duration_seconds REAL NOT NULL,
  video_codec TEXT NOT NULL,
  audio_codec TEXT NOT NULL,
  skipped_packets INTEGER NOT NULL DEFAULT 0,
  format TEXT NOT NULL DEFAULT 'mp4',
  distribution TEXT NOT NULL DEFAULT 'auto',
  distribution_used TEXT NOT NULL DEFAULT '',
  distribution_why TEXT NOT NULL DEFAULT '',
  owner INTEGER NOT NULL DEFAULT 0
);
)sql";

constexpr std::string_view kColumns =
    "id, state, filters, preset, crf, frames_done, frames_total, frames_total_exact, fps, error, "
    "created_unix_ms, started_unix_ms, finished_unix_ms, input_name, input_path, output_path, "
    "input_bytes, output_bytes, width, height, out_width, out_height, duration_seconds, "
    "video_codec, audio_codec, skipped_packets, format, distribution, distribution_used, "
    "distribution_why, owner";

// A database written by an older framepipe lacks the columns added since: add them.
void add_missing_columns(sqlite3* connection) {
  bool has_skipped_packets = false;
  bool has_format = false;
  bool has_distribution = false;
  bool has_owner = false;
  {
    Statement columns(connection, "PRAGMA table_info(jobs)");
    while (columns.step()) {
      has_skipped_packets |= columns.text(1) == "skipped_packets";
      has_format |= columns.text(1) == "format";
      has_distribution |= columns.text(1) == "distribution";
      has_owner |= columns.text(1) == "owner";
    }
  }
  // Every job before distributions existed was dealt as frames, unasked.
  if (!has_distribution) {
    execute(connection, "ALTER TABLE jobs ADD COLUMN distribution TEXT NOT NULL DEFAULT 'auto'");
    execute(connection,
            "ALTER TABLE jobs ADD COLUMN distribution_used TEXT NOT NULL DEFAULT 'frames'");
    execute(connection, "ALTER TABLE jobs ADD COLUMN distribution_why TEXT NOT NULL DEFAULT ''");
  }
  if (!has_skipped_packets) {
    execute(connection, "ALTER TABLE jobs ADD COLUMN skipped_packets INTEGER NOT NULL DEFAULT 0");
  }
  // Every job before formats existed was an MP4.
  if (!has_format) {
    execute(connection, "ALTER TABLE jobs ADD COLUMN format TEXT NOT NULL DEFAULT 'mp4'");
  }
  // Every job before accounts belonged to the server (user 0), which only an admin sees.
  if (!has_owner) {
    execute(connection, "ALTER TABLE jobs ADD COLUMN owner INTEGER NOT NULL DEFAULT 0");
  }
}

std::string column_list_placeholders() {
  const auto count = std::count(kColumns.begin(), kColumns.end(), ',') + 1;
  std::string placeholders;
  for (int i = 0; i < count; ++i) placeholders += i == 0 ? "?" : ", ?";
  return placeholders;
}

Job read_job(const Statement& row) {
  Job job;
  int column = 0;
  job.id = row.text(column++);
  const auto state = parse_job_state(row.text(column++));
  job.state = state.value_or(JobState::failed);
  job.filters = row.text(column++);
  job.preset = row.text(column++);
  job.crf = static_cast<int>(row.integer(column++));
  job.frames_done = row.integer(column++);
  job.frames_total = row.integer(column++);
  job.frames_total_exact = row.integer(column++) != 0;
  job.fps = row.real(column++);
  if (!row.is_null(column)) job.error = row.text(column);
  ++column;
  job.created_unix_ms = row.integer(column++);
  if (!row.is_null(column)) job.started_unix_ms = row.integer(column);
  ++column;
  if (!row.is_null(column)) job.finished_unix_ms = row.integer(column);
  ++column;
  job.input_name = row.text(column++);
  job.input_path = row.text(column++);
  job.output_path = row.text(column++);
  job.input_bytes = row.integer(column++);
  job.output_bytes = row.integer(column++);
  job.width = static_cast<int>(row.integer(column++));
  job.height = static_cast<int>(row.integer(column++));
  job.out_width = static_cast<int>(row.integer(column++));
  job.out_height = static_cast<int>(row.integer(column++));
  job.duration_seconds = row.real(column++);
  job.video_codec = row.text(column++);
  job.audio_codec = row.text(column++);
  job.skipped_packets = row.integer(column++);
  job.format = row.text(column++);
  job.distribution = row.text(column++);
  job.distribution_used = row.text(column++);
  job.distribution_why = row.text(column++);
  job.owner = row.integer(column++);
  if (!state) job.error = "unknown state in the database";
  return job;
}

int64_t not_negative(int64_t value) {
  return std::max<int64_t>(value, 0);
}

}  // namespace

// The SQLite connection and the statements reused for every write.
class JobStore::Database {
 public:
  explicit Database(const std::filesystem::path& path)
      : connection_(sqlite::open(path, "the job database")),
        base_(std::filesystem::absolute(path).lexically_normal().parent_path()) {
    sqlite3* raw = connection_.get();
    execute(raw, kSchema);
    add_missing_columns(raw);
    upsert_.emplace(raw, "INSERT OR REPLACE INTO jobs (" + std::string(kColumns) + ") VALUES (" +
                             column_list_placeholders() + ")");
    erase_.emplace(raw, "DELETE FROM jobs WHERE id = ?");
  }

  std::vector<Job> load() {
    Statement select(connection_.get(), "SELECT " + std::string(kColumns) + " FROM jobs");
    std::vector<Job> jobs;
    while (select.step()) {
      Job job = read_job(select);
      job.input_path = resolved(job.input_path, job.id);
      job.output_path = resolved(job.output_path, job.id);
      jobs.push_back(std::move(job));
    }
    return jobs;
  }

  void upsert(const Job& job) {
    Statement& statement = *upsert_;
    int index = 1;
    statement.bind(index++, std::string_view(job.id));
    statement.bind(index++, to_string(job.state));
    statement.bind(index++, std::string_view(job.filters));
    statement.bind(index++, std::string_view(job.preset));
    statement.bind(index++, int64_t{job.crf});
    statement.bind(index++, job.frames_done);
    statement.bind(index++, job.frames_total);
    statement.bind(index++, int64_t{job.frames_total_exact ? 1 : 0});
    statement.bind(index++, job.fps);
    statement.bind(index++, job.error);
    statement.bind(index++, job.created_unix_ms);
    statement.bind(index++, job.started_unix_ms);
    statement.bind(index++, job.finished_unix_ms);
    statement.bind(index++, std::string_view(job.input_name));
    statement.bind(index++, std::string_view(stored(job.input_path)));
    statement.bind(index++, std::string_view(stored(job.output_path)));
    statement.bind(index++, job.input_bytes);
    statement.bind(index++, job.output_bytes);
    statement.bind(index++, int64_t{job.width});
    statement.bind(index++, int64_t{job.height});
    statement.bind(index++, int64_t{job.out_width});
    statement.bind(index++, int64_t{job.out_height});
    statement.bind(index++, job.duration_seconds);
    statement.bind(index++, std::string_view(job.video_codec));
    statement.bind(index++, std::string_view(job.audio_codec));
    statement.bind(index++, job.skipped_packets);
    statement.bind(index++, std::string_view(job.format));
    statement.bind(index++, std::string_view(job.distribution));
    statement.bind(index++, std::string_view(job.distribution_used));
    statement.bind(index++, std::string_view(job.distribution_why));
    statement.bind(index++, job.owner);
    statement.run();
  }

  void erase(const std::string& id) {
    erase_->bind(1, std::string_view(id));
    erase_->run();
  }

  // Files under the data directory are stored relative to it, so that a data directory moved or
  // mounted elsewhere keeps its results.
  std::string stored(const std::string& path) const {
    const std::filesystem::path absolute(path);
    if (!absolute.is_absolute()) return path;
    const std::filesystem::path relative = absolute.lexically_normal().lexically_relative(base_);
    if (relative.empty() || *relative.begin() == "..") return path;
    return relative.string();
  }

  // The reverse; an absolute path from an older database that no longer exists is looked for at
  // the same place under the data directory (jobs/ID/...), where a move would have put it.
  std::string resolved(const std::string& text, const std::string& id) const {
    const std::filesystem::path path(text);
    if (path.is_relative()) return (base_ / path).string();
    std::error_code error;
    if (std::filesystem::exists(path, error)) return text;
    const std::string marker = "/jobs/" + id + "/";
    const auto at = text.rfind(marker);
    if (at == std::string::npos) return text;
    const std::filesystem::path moved = base_ / text.substr(at + 1);
    return std::filesystem::exists(moved, error) ? moved.string() : text;
  }

 private:
  Connection connection_;
  std::optional<Statement> upsert_;  // borrow connection_, so declared after it
  std::optional<Statement> erase_;
  const std::filesystem::path base_;  // the data directory: the database's own
};

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::queued:
      return "queued";
    case JobState::running:
      return "running";
    case JobState::done:
      return "done";
    case JobState::failed:
      return "failed";
    case JobState::canceled:
      return "canceled";
  }
  return "failed";
}

std::optional<JobState> parse_job_state(std::string_view text) {
  for (JobState state : {JobState::queued, JobState::running, JobState::done, JobState::failed,
                         JobState::canceled}) {
    if (text == to_string(state)) return state;
  }
  return std::nullopt;
}

bool is_final(JobState state) {
  return state == JobState::done || state == JobState::failed || state == JobState::canceled;
}

JobStore::JobStore(const std::filesystem::path& database_path)
    : database_(std::make_unique<Database>(database_path)) {
  for (Job& job : database_->load()) {
    if (!is_final(job.state)) {
      job.fps = 0;  // live only
      unfinished_[job.id] = job.state == JobState::running;
    }
    std::string id = job.id;
    jobs_.emplace(std::move(id), std::move(job));
  }
}

JobStore::~JobStore() = default;

void JobStore::persist(const Job& job) {
  database_->upsert(job);
}

void JobStore::add(const Job& job) {
  std::lock_guard lock(mutex_);
  if (jobs_.count(job.id) != 0) throw std::runtime_error("job " + job.id + " exists already");
  persist(job);
  jobs_.emplace(job.id, job);
}

bool JobStore::erase(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  database_->erase(id);
  jobs_.erase(it);
  return true;
}

std::optional<Job> JobStore::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return it->second;
}

std::vector<Job> JobStore::list() const {
  std::vector<Job> jobs;
  {
    std::lock_guard lock(mutex_);
    jobs.reserve(jobs_.size());
    for (const auto& [id, job] : jobs_) jobs.push_back(job);
  }
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    if (a.created_unix_ms != b.created_unix_ms) return a.created_unix_ms > b.created_unix_ms;
    return a.id > b.id;
  });
  return jobs;
}

Update JobStore::accept(const std::string& id, const MediaInfo& info) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Update::unknown_job;
  Job& job = it->second;
  if (is_final(job.state)) return Update::ignored;
  if (!job.frames_total_exact) job.frames_total = not_negative(info.frames_estimate);
  job.width = info.width;
  job.height = info.height;
  job.out_width = info.out_width;
  job.out_height = info.out_height;
  job.duration_seconds = std::max(info.duration_seconds, 0.0);
  job.video_codec = info.video_codec;
  job.audio_codec = info.audio_codec;
  persist(job);
  return Update::applied;
}

Update JobStore::reject(const std::string& id, const std::string& error, int64_t now_unix_ms) {
  return end(id, JobState::failed, error.empty() ? "the ventilator refused the job" : error,
             now_unix_ms);
}

Update JobStore::report(const std::string& id, const ProgressReport& progress,
                        int64_t now_unix_ms) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Update::unknown_job;
  Job& job = it->second;
  if (is_final(job.state) || progress.state == JobState::queued) return Update::ignored;

  job.frames_done = std::max(job.frames_done, not_negative(progress.frames_done));
  if (progress.frames_total > 0) {
    job.frames_total = progress.frames_total;
    job.frames_total_exact = true;
  }
  job.fps = std::max(progress.fps, 0.0);
  if (progress.encode_ms > 0) job.encode_ms = progress.encode_ms;
  job.shared_memory = progress.shared_memory;
  if (progress.distribution == "frames" || progress.distribution == "segments" ||
      progress.distribution == "copied") {
    job.distribution_used = progress.distribution;
    job.distribution_why = progress.distribution_why.substr(0, 256);
  }
  job.skipped_packets = std::max(job.skipped_packets, not_negative(progress.skipped_packets));
  job.output_bytes = not_negative(progress.output_bytes);
  if (progress.state == job.state) {
    // Progress only: written now and then, so that a restarted http-frontend that follows the
    // job on shows how far it got instead of 0, without a write per report.
    int64_t& saved = progress_saved_unix_ms_[id];
    if (now_unix_ms - saved >= kProgressSaveIntervalMs) {
      saved = now_unix_ms;
      persist(job);
    }
    return Update::applied;
  }
  if (progress.state == JobState::running) {
    progress_saved_unix_ms_[id] = now_unix_ms;  // written below
  } else {
    progress_saved_unix_ms_.erase(id);
  }

  if (!job.started_unix_ms) job.started_unix_ms = now_unix_ms;
  job.state = progress.state;
  switch (progress.state) {
    case JobState::done:
      // fps stays: the sink's final report is the job's mean rate from first to last frame.
      if (job.frames_total_exact) job.frames_done = job.frames_total;
      job.finished_unix_ms = now_unix_ms;
      break;
    case JobState::failed:
      job.error = progress.error.empty() ? "the sink reported a failure" : progress.error;
      job.fps = 0;
      job.finished_unix_ms = now_unix_ms;
      break;
    case JobState::canceled:
      job.fps = 0;
      job.finished_unix_ms = now_unix_ms;
      break;
    case JobState::queued:
    case JobState::running:
      break;
  }
  persist(job);
  return Update::state_changed;
}

Update JobStore::cancel(const std::string& id, int64_t now_unix_ms) {
  return end(id, JobState::canceled, std::nullopt, now_unix_ms);
}

Update JobStore::interrupt(const std::string& id, int64_t now_unix_ms) {
  return end(id, JobState::failed, std::string(kInterruptedError), now_unix_ms);
}

Update JobStore::end(const std::string& id, JobState state, std::optional<std::string> error,
                     int64_t now_unix_ms) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Update::unknown_job;
  Job& job = it->second;
  if (is_final(job.state)) return Update::ignored;
  job.state = state;
  if (error) job.error = std::move(error);
  job.fps = 0;
  job.finished_unix_ms = now_unix_ms;
  progress_saved_unix_ms_.erase(id);
  persist(job);
  return Update::state_changed;
}

}  // namespace framepipe::http
