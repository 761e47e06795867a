#include "framepipe/http/frontend.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "accounts_api.hpp"
#include "cluster_link.hpp"
#include "framepipe/chain/chain.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/signals.hpp"
#include "guarded_server.hpp"
#include "job_changes.hpp"
#include "job_recovery.hpp"
#include "job_store.hpp"
#include "log.hpp"
#include "metrics.hpp"
#include "names.hpp"
#include "posters.hpp"
#include "render.hpp"
#include "replies.hpp"
#include "reply_waits.hpp"
#include "share_page.hpp"
#include "static_files.hpp"
#include "task_pool.hpp"
#include "unique_fd.hpp"
#include "upload.hpp"

namespace framepipe::http {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kMaxCrf = 51;
constexpr std::string_view kJobsRoute = "/api/jobs";
// A Content-Length may exceed the file limit by this much: multipart headers and small fields.
constexpr int64_t kMultipartAllowanceBytes = 1 << 20;
// Connections the kernel completes and holds for the acceptor (httplib's own listen() asks for 5:
// a burst of new connections overflowed it, and the clients waited for SYN retries of 1 s and 3 s).
// Linux caps it at net.core.somaxconn.
constexpr int kListenBacklog = 1024;
// A result is streamed from disk in pieces of this size.
constexpr size_t kResultChunkBytes = 256 << 10;
constexpr std::string_view kEventsRoute = "/api/events";
// An upload of an audio format waits this long for the ventilator's probe (bounded; a file without
// audio is refused with 400). Without an answer by then, the job is queued as any other.
constexpr auto kProbeWait = std::chrono::seconds(15);
// Uploads named like audio files wait for the probe too, so that an audio file asked to become a
// video (or filtered) is refused with 400. The name only decides the wait; the probe decides.
constexpr std::array<std::string_view, 8> kAudioFileExtensions = {".mp3", ".flac", ".wav", ".aac",
                                                                  ".m4a", ".ogg",  ".oga", ".opus"};

bool named_like_audio_file(std::string_view name) {
  std::string lower(name.substr(name.size() > 8 ? name.size() - 8 : 0));
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::any_of(kAudioFileExtensions.begin(), kAudioFileExtensions.end(),
                     [&](std::string_view extension) { return lower.ends_with(extension); });
}
// A live stream sends the worker list this often (also its keep-alive).
constexpr auto kWorkersEventInterval = std::chrono::milliseconds(1000);
constexpr auto kWorkersEventShare = std::chrono::milliseconds(250);
constexpr auto kStopPollInterval = std::chrono::milliseconds(100);
// A job's event stream checks for changes (and for shutdown) this often, and sends a comment line
// when it has been silent this long, so that proxies and clients keep the connection.
constexpr auto kJobStreamWait = std::chrono::milliseconds(1000);
constexpr auto kKeepAliveInterval = std::chrono::seconds(15);
// The pages' policy: scripts, styles, media and connections from this server only; inline style
// attributes are allowed (the dashboard colours its rows), inline scripts are not.
constexpr std::string_view kPageSecurityPolicy =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

// When the current request started (0: not recorded), for the request log line. Each request is
// handled from start to end on one pool thread.
thread_local int64_t request_started_ms = 0;

// ----------------------------------------------------------------------------------------------
// Small helpers

std::optional<int64_t> parse_non_negative(std::string_view text) {
  text = trim(text);
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// The request's Content-Length: nothing when absent, an error when malformed.
std::variant<std::optional<int64_t>, Refusal> content_length(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) return std::optional<int64_t>{};
  auto value = parse_non_negative(req.get_header_value("Content-Length"));
  if (!value) return Refusal{400, "malformed Content-Length"};
  return value;
}

// The output formats for GET /api/cluster: name, kind, file extension, MIME type, encoders.
json formats_json() {
  json out = json::array();
  for (const protocol::OutputFormat& format : protocol::output_formats()) {
    out.push_back({{"name", format.name},
                   {"kind", format.kind == protocol::MediaKind::video ? "video" : "audio"},
                   {"extension", format.extension},
                   {"mime_type", format.mime_type},
                   {"video_encoder", format.video_encoder},
                   {"audio_encoder", format.audio_encoder}});
  }
  return out;
}

// The routes that serve a result, with Range: a job's, and a share link's.
bool is_result_path(std::string_view path) {
  return (path.starts_with("/api/jobs/") && path.ends_with("/result")) || path.starts_with("/s/");
}

// A browser navigating, rather than a player or a script fetching.
bool wants_html(const httplib::Request& req) {
  return req.get_header_value("Accept").find("text/html") != std::string::npos;
}

// A download from the first byte (no Range, or one from 0): counted as one use of a share link.
bool from_the_start(const httplib::Request& req) {
  const std::string range(trim(req.get_header_value("Range")));
  return range.empty() || range.starts_with("bytes=0-");
}

// Routes a browser opens without being able to add headers (<video src>, <a href>, EventSource):
// they also take the API token in the query.
bool takes_query_token(const httplib::Request& req) {
  const std::string_view route = route_of(req.path);
  return req.method == "GET" && (route == "/api/jobs/{id}/result" || route == kEventsRoute ||
                                 route == "/api/jobs/{id}/events");
}

// Where the gate hands a request whose head is in: event streams live long and get a thread of
// their own; uploads, and results (a job's, a share link's: any size, read at the client's
// pace), are capped per address; the rest is served by the pool.
Lane lane_of(const RequestHead& head) {
  const std::string_view route = route_of(head.path);
  if (head.method == "GET" && (route == kEventsRoute || route == "/api/jobs/{id}/events")) {
    return Lane::stream;
  }
  if (head.has_body) return Lane::upload;
  if ((head.method == "GET" || head.method == "HEAD") && is_result_path(head.path)) {
    return Lane::download;
  }
  return Lane::quick;
}

bool write_event_text(httplib::DataSink& sink, std::string_view name, std::string_view data) {
  std::string text = "event: ";
  text += name;
  text += "\ndata: ";
  text += data;  // one line: JSON as dump() writes it has no raw newline
  text += "\n\n";
  return sink.write(text.data(), text.size());
}

bool write_event(httplib::DataSink& sink, std::string_view name, const json& data) {
  return write_event_text(sink, name, dump(data));
}

// An If-None-Match header names `etag` (or is "*"). Weak comparison, as for GET.
bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const size_t comma = if_none_match.find(',');
    std::string_view candidate = trim(if_none_match.substr(0, comma));
    if_none_match =
        comma == std::string_view::npos ? std::string_view{} : if_none_match.substr(comma + 1);
    if (candidate.starts_with("W/")) candidate.remove_prefix(2);
    if (candidate == "*" || candidate == etag) return true;
  }
  return false;
}

// One open GET /api/events stream.
struct LiveStream {
  LiveStream(uint64_t last_change, Principal who) : since(last_change), viewer(std::move(who)) {}
  uint64_t since;  // the last job change sent
  std::chrono::steady_clock::time_point next_workers_event{};
  const Principal viewer;                // sees only their own jobs, unless an admin
  std::unordered_set<std::string> sent;  // jobs it has shown: only their deletions are told
};

// One open GET /api/jobs/{id}/events stream.
struct JobStream {
  JobStream(std::string id, uint64_t last_change) : job_id(std::move(id)), since(last_change) {}
  std::string job_id;
  uint64_t since;         // the last job change looked at
  bool started = false;   // the job's state on connection has been sent
  std::string last_sent;  // the last `job` event's data: an unchanged job is not sent again
  std::chrono::steady_clock::time_point next_keep_alive{};
};

// What a job looks like to clients, and its state.
struct JobView {
  JobState state = JobState::queued;
  json body;
};

// httplib 0.11 applies the request's Range header to every response body (even JSON and error
// bodies) and does not check ranges against the content length. Ranges are handled here, on the
// one route that supports them, so httplib's parsed copy is taken out of its (non-const) request
// object before it can act on it.
httplib::Ranges take_ranges(const httplib::Request& req) {
  return std::exchange(const_cast<httplib::Request&>(req).ranges, {});
}

std::string new_job_id() {
  std::random_device device;  // 32 bits per call, from the OS (/dev/urandom or RDRAND)
  std::string id;
  for (int i = 0; i < 4; ++i) {
    char text[9];
    std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(device()));
    id += text;
  }
  return id;
}

bool looks_like_job_id(std::string_view name) {
  return name.size() == 32 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Removes a directory tree; failures are logged, never thrown.
void remove_tree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) log().warn("cannot remove {}: {}", path.string(), error.message());
}

void remove_file(const fs::path& path) {
  std::error_code error;
  fs::remove(path, error);
  if (error) log().warn("cannot remove {}: {}", path.string(), error.message());
}

// Removes a directory when it goes out of scope, unless kept.
class DirectoryGuard {
 public:
  explicit DirectoryGuard(fs::path path) : path_(std::move(path)) {}
  ~DirectoryGuard() {
    if (!kept_) remove_tree(path_);
  }
  DirectoryGuard(const DirectoryGuard&) = delete;
  DirectoryGuard& operator=(const DirectoryGuard&) = delete;
  void keep() { kept_ = true; }

 private:
  fs::path path_;
  bool kept_ = false;
};

// Unfinished jobs created before each job of `jobs` (sorted newest first), in the same order.
std::vector<int> jobs_ahead(const std::vector<Job>& jobs) {
  std::vector<int> ahead(jobs.size(), 0);
  int unfinished = 0;
  for (size_t i = jobs.size(); i-- > 0;) {
    ahead[i] = unfinished;
    if (!is_final(jobs[i].state)) ++unfinished;
  }
  return ahead;
}

// Resolves one parsed range (-1 for an absent bound) against a size: the first and last byte, or
// nothing when it cannot be satisfied.
std::optional<std::pair<int64_t, int64_t>> resolve_range(const httplib::Range& range,
                                                         int64_t size) {
  int64_t first = range.first;
  int64_t last = range.second;
  if (first < 0 && last < 0) return std::nullopt;
  if (first < 0) {  // "-N": the last N bytes
    if (last == 0 || size == 0) return std::nullopt;
    first = std::max<int64_t>(0, size - last);
    last = size - 1;
  } else {
    if (first >= size) return std::nullopt;
    if (last < 0 || last >= size) last = size - 1;
  }
  return std::make_pair(first, last);
}

// Streams a byte range of a finished job's mp4 from disk, one buffer at a time, as the
// response's content provider (httplib copies providers, so it is shared).
class ResultReader {
 public:
  ResultReader(UniqueFd fd, int64_t first_byte, int64_t length)
      : fd_(std::move(fd)),
        first_byte_(first_byte),
        buffer_(static_cast<size_t>(std::min<int64_t>(length, kResultChunkBytes))) {}

  // httplib asks for `wanted` bytes from `offset` within the range. False ends the response.
  bool provide(size_t offset, size_t wanted, httplib::DataSink& sink) {
    if (stop_requested()) return false;
    const size_t count = std::min(wanted, buffer_.size());
    const ssize_t got =
        ::pread(fd_.get(), buffer_.data(), count, first_byte_ + static_cast<off_t>(offset));
    if (got <= 0) return false;  // the file shrank, or an I/O error
    return sink.write(buffer_.data(), static_cast<size_t>(got));
  }

 private:
  UniqueFd fd_;
  int64_t first_byte_;
  std::vector<char> buffer_;
};

// ----------------------------------------------------------------------------------------------

class Frontend {
 public:
  explicit Frontend(const Config& config);
  void install(GuardedServer& server);

 private:
  // Checks every request before routing, and records who sends it (current_principal()).
  // Nothing means "go on".
  std::optional<Refusal> gate(const httplib::Request& req);
  // Whether the caller may see the job; another user's job is "no such job" (404), never 403.
  static bool visible(const Job& job) { return current_principal().may_see(job.owner); }
  std::optional<Job> find_visible(const std::string& id) const;
  // Bytes a user's jobs hold on disk: results, and inputs of jobs not finished.
  int64_t bytes_used(int64_t user_id) const;
  // 507 with the figures when `bytes` more would take the caller over their quota.
  std::optional<Refusal> over_quota(int64_t bytes) const;
  // Deletes a job and its files, or cancels it first when it runs. The caller checked access.
  // True when it was running: it is then kept, as canceled.
  bool remove_job(const Job& job);
  void get_share(const httplib::Request& req, const std::string& token, httplib::Response& res);
  void get_poster(const std::string& id, httplib::Response& res);
  void serve_result(const httplib::Request& req, const Job& job, httplib::Response& res);
  // Checks an upload before its body is read.
  std::optional<Refusal> precheck_upload(const httplib::Request& req) const;

  void create_job(const httplib::Request& req, httplib::Response& res,
                  const httplib::ContentReader& reader);
  void list_jobs(httplib::Response& res) const;
  void get_job(const std::string& id, httplib::Response& res) const;
  void delete_job(const std::string& id, httplib::Response& res);
  void get_result(const httplib::Request& req, const std::string& id, httplib::Response& res);
  void get_workers(httplib::Response& res) const;
  void get_health(httplib::Response& res) const;
  void get_cluster(httplib::Response& res) const;
  void get_metrics(httplib::Response& res) const;
  // A page or asset of the web directory; `page` adds the pages' security headers.
  void serve_file(const httplib::Request& req, httplib::Response& res, std::string_view name,
                  bool page) const;
  void open_event_stream(httplib::Response& res);
  // Purges expired sessions and gone shares at most once a minute.
  void purge_accounts_now_and_then();
  // Writes what a live stream has not seen yet; waits for changes up to its next workers event.
  bool continue_event_stream(LiveStream& stream, httplib::DataSink& sink) const;
  // The `workers` event's data, shared by every live stream: computed at most once per
  // kWorkersEventShare, so that hundreds of streams cost one job list and one snapshot.
  // Users who are not admins see how many workers there are, not which.
  std::string workers_event(bool admin) const;
  void open_job_event_stream(const std::string& id, httplib::Response& res);
  // Sends the job's state if it changed; the final state as `end`, which closes the stream.
  bool continue_job_event_stream(JobStream& stream, httplib::DataSink& sink) const;
  bool send_job_state(JobStream& stream, httplib::DataSink& sink) const;
  // Called once per answered request (httplib's logger): counts it, logs it.
  void log_request(const httplib::Request& req, const httplib::Response& res);

  void on_submit_reply(const protocol::SubmitReply& reply);
  // Records the media facts of a job the ventilator accepted.
  void accept_reply(const protocol::SubmitReply& reply);
  // The ventilator's answer to a job just submitted, when it comes within kProbeWait.
  std::optional<protocol::SubmitReply> wait_for_reply(const std::string& id);
  void on_progress(const protocol::JobProgress& progress);
  void on_pong(const protocol::Pong& pong);
  // Acts on JobRecovery's decisions about jobs the cluster lost.
  void recover(const std::vector<JobRecovery::Decision>& decisions);
  protocol::SubmitJob submission(const Job& job) const;

  ViewContext view_context(const ClusterSnapshot& cluster) const;
  // The job as GET /api/jobs/{id} shows it; nothing when there is no such job.
  std::optional<JobView> job_view(const std::string& id) const;
  fs::path job_directory(const std::string& id) const { return jobs_directory_ / id; }
  void sweep_job_directories();

  int64_t min_free_disk_bytes() const { return config_.min_free_disk_mb * 1024 * 1024; }
  const Config config_;
  const GuardedServer* server_ = nullptr;   // set by install(), for its connection figures
  mutable std::mutex workers_event_mutex_;  // guards the three below
  mutable std::string workers_event_data_;
  mutable std::string workers_event_count_only_;
  mutable std::chrono::steady_clock::time_point workers_event_at_;
  const fs::path data_directory_;  // absolute
  const fs::path jobs_directory_;  // data_directory_/jobs
  const std::string filter_catalogue_;
  const StaticFiles static_files_;
  RequestCounters request_counters_;
  JobCounters job_counters_;
  JobStore store_;
  JobRecovery recovery_;    // used on the cluster link's thread once it runs
  JobChanges changes_;      // noted by every job update, read by the live streams
  ReplyWaits reply_waits_;  // uploads waiting for the ventilator's probe
  ClusterEndpoints endpoints_;
  AccountsApi accounts_;
  std::atomic<int64_t> accounts_purged_ms_{0};
  Posters posters_;
  std::unique_ptr<ClusterLink> link_;  // last: its thread calls back into store_ and changes_
};

fs::path prepare_data_directory(const std::string& data_dir) {
  const fs::path absolute = fs::absolute(data_dir).lexically_normal();
  std::error_code error;
  fs::create_directories(absolute / "jobs", error);
  if (error) {
    throw std::runtime_error("cannot use the data directory " + absolute.string() + ": " +
                             error.message());
  }
  return absolute;
}

AccountSettings account_settings(const Config& config) {
  AccountSettings settings;
  settings.mode = config.accounts ? AuthMode::accounts : AuthMode::none;
  settings.signup_open = config.signup_open;
  settings.default_quota_bytes = config.quota_mb * 1024 * 1024;
  settings.share_max_ttl_ms = config.share_max_ttl_seconds * 1000;
  settings.admin_token = config.api_token;
  return settings;
}

fs::path web_directory(const Config& config) {
  if (config.web_dir.empty()) return default_web_directory();
  return fs::absolute(config.web_dir).lexically_normal();
}

Frontend::Frontend(const Config& config)
    : config_(config),
      data_directory_(prepare_data_directory(config.data_dir)),
      jobs_directory_(data_directory_ / "jobs"),
      filter_catalogue_(chain::catalogue_json()),
      static_files_(web_directory(config)),
      store_(data_directory_ / "framepipe.db"),
      recovery_(store_.unfinished(), protocol::now_ms()),
      endpoints_{config.registry_endpoint, config.control_endpoint, config.progress_endpoint,
                 config.curve},
      accounts_(account_settings(config), data_directory_) {
  if (accounts_.enabled()) {
    log().info("http: accounts on: sign-up {}, quota {}, share links up to {} s",
               config.signup_open ? "open" : "closed (an admin creates accounts)",
               config.quota_mb > 0 ? std::to_string(config.quota_mb) + " MiB per user" : "none",
               config.share_max_ttl_seconds);
  } else {
    log().warn(
        "http: accounts off (--auth none): single-user mode, everyone who reaches this "
        "server{} sees and changes every job",
        config.api_token.empty() ? "" : " with the API token");
  }
  if (recovery_.pending() > 0) {
    log().info(
        "{} job(s) were unfinished when the head stopped: asking the cluster which still run",
        recovery_.pending());
  }
  if (static_files_.has_pages()) {
    log().info("http: serving the web pages from {}", static_files_.directory().string());
  } else {
    log().warn(
        "http: no web pages in {} (no index.html): GET / and /dashboard answer 404, the API works; "
        "build the framepipe_web target or pass --web-dir",
        static_files_.directory().string());
  }
  sweep_job_directories();
  link_ = std::make_unique<ClusterLink>(
      endpoints_, ClusterEvents{[this](const auto& reply) { on_submit_reply(reply); },
                                [this](const auto& progress) { on_progress(progress); },
                                [this](const auto& pong) { on_pong(pong); },
                                [this](int64_t now) { recover(recovery_.decide(now)); }});
  link_->start();
}

// Leftovers of a previous run: uploads cut off by a crash, inputs of finished jobs, files of failed
// or canceled jobs.
void Frontend::sweep_job_directories() {
  std::error_code error;
  std::vector<fs::path> directories;
  for (const auto& entry : fs::directory_iterator(jobs_directory_, error)) {
    if (looks_like_job_id(entry.path().filename().string())) directories.push_back(entry.path());
  }
  if (error) log().warn("cannot list {}: {}", jobs_directory_.string(), error.message());
  for (const fs::path& directory : directories) {
    const auto job = store_.find(directory.filename().string());
    if (!job || job->state == JobState::failed || job->state == JobState::canceled) {
      remove_tree(directory);
    } else if (job->state == JobState::done && fs::exists(job->input_path, error)) {
      remove_file(job->input_path);
    }
  }
}

ViewContext Frontend::view_context(const ClusterSnapshot& cluster) const {
  return ViewContext{protocol::now_ms(), &cluster, config_.worker_command,
                     config_.control_endpoint};
}

std::optional<Refusal> Frontend::gate(const httplib::Request& req) {
  const std::string_view path = req.path;
  // Who is asking. Pages, assets, /health, /metrics and share links need nobody; signing up and
  // in need nobody yet; /api/auth/me answers anybody (401 with how to sign in).
  Principal anonymous;
  anonymous.admin = !accounts_.enabled() && config_.api_token.empty();  // single-user mode
  set_current_principal(std::move(anonymous));
  const bool api = path == "/api" || path.starts_with("/api/");
  if (api && req.method != "OPTIONS") {
    const bool signing_in =
        req.method == "POST" && (path == "/api/auth/signup" || path == "/api/auth/login");
    auto who = accounts_.authenticate(req, takes_query_token(req));
    if (auto* principal = std::get_if<Principal>(&who)) {
      set_current_principal(std::move(*principal));
    } else if (!signing_in && path != "/api/auth/me") {
      return std::get<Refusal>(who);
    }
    if (signing_in && req.has_header("Origin") && !same_origin(req)) {
      return Refusal{403, "cross-site request refused: the Origin is not this server"};
    }
    purge_accounts_now_and_then();
  }
  if (req.has_header("Transfer-Encoding") &&
      !equals_ignoring_case(trim(req.get_header_value("Transfer-Encoding")), "chunked")) {
    return Refusal{501, "unsupported Transfer-Encoding"};
  }
  if (req.has_header("Content-Encoding") &&
      !equals_ignoring_case(trim(req.get_header_value("Content-Encoding")), "identity")) {
    // httplib would inflate a compressed body in memory, without a limit.
    return Refusal{415, "compressed request bodies (Content-Encoding) are not accepted"};
  }
  const bool upload = req.method == "POST" && path == kJobsRoute;
  if (!upload) {
    auto length = content_length(req);
    if (auto* refusal = std::get_if<Refusal>(&length)) return *refusal;
    const auto& declared = std::get<std::optional<int64_t>>(length);
    const bool json_body = api && (req.method == "POST" || req.method == "PATCH");
    if (json_body && req.has_header("Transfer-Encoding")) {
      return Refusal{411, "send a JSON body with a Content-Length"};
    }
    if (json_body && declared && *declared > static_cast<int64_t>(kMaxJsonBodyBytes)) {
      return Refusal{413, "a JSON body is at most " + std::to_string(kMaxJsonBodyBytes) + " bytes"};
    }
    if (!json_body && (req.has_header("Transfer-Encoding") || (declared && *declared > 0))) {
      return Refusal{413, "this request takes no body"};
    }
  }
  return std::nullopt;
}

int64_t Frontend::bytes_used(int64_t user_id) const {
  int64_t used = 0;
  for (const Job& job : store_.list()) {
    if (job.owner != user_id) continue;
    used += job.output_bytes;
    if (!is_final(job.state)) used += job.input_bytes;
  }
  return used;
}

std::optional<Refusal> Frontend::over_quota(int64_t bytes) const {
  const Principal& who = current_principal();
  const auto quota = accounts_.quota_of(who);
  if (!quota) return std::nullopt;
  const int64_t used = bytes_used(who.user_id);
  if (used + bytes <= *quota) return std::nullopt;
  auto mib = [](int64_t value) { return std::to_string((value + (1 << 20) - 1) >> 20) + " MiB"; };
  return Refusal{507, "over your quota: " + mib(used) + " used of " + mib(*quota) +
                          ", and this upload is " + mib(bytes) + "; delete results to make room"};
}

std::optional<Job> Frontend::find_visible(const std::string& id) const {
  auto job = store_.find(id);
  if (!job || !visible(*job)) return std::nullopt;
  return job;
}

void Frontend::purge_accounts_now_and_then() {
  constexpr int64_t kPurgeIntervalMs = 60'000;
  const int64_t now = protocol::unix_ms();
  int64_t last = accounts_purged_ms_.load();
  if (now - last < kPurgeIntervalMs || !accounts_purged_ms_.compare_exchange_strong(last, now)) {
    return;
  }
  accounts_.purge(now);
}

std::optional<Refusal> Frontend::precheck_upload(const httplib::Request& req) const {
  if (!req.is_multipart_form_data()) {
    return Refusal{415, "expected multipart/form-data with a file field"};
  }
  auto length = content_length(req);
  if (auto* refusal = std::get_if<Refusal>(&length)) return *refusal;
  const auto& declared = std::get<std::optional<int64_t>>(length);
  if (declared && *declared > config_.max_upload_bytes + kMultipartAllowanceBytes) {
    return Refusal{413, "the upload is larger than the limit of " +
                            std::to_string(config_.max_upload_bytes) + " bytes"};
  }
  if (auto refusal = over_quota(declared.value_or(0))) return refusal;
  const auto available = free_disk_bytes(jobs_directory_);
  if (available && *available - declared.value_or(0) < min_free_disk_bytes()) {
    return Refusal{507, "not enough free disk space for this upload (" +
                            std::to_string(*available) + " bytes free, " +
                            std::to_string(min_free_disk_bytes()) + " kept in reserve)"};
  }
  return std::nullopt;
}

void Frontend::install(GuardedServer& server) {
  server_ = &server;
  server.set_expect_100_continue_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        request_started_ms = protocol::now_ms();
        auto refusal = gate(req);
        if (!refusal && req.method == "POST" && req.path == kJobsRoute) {
          refusal = precheck_upload(req);
        }
        if (!refusal) return 100;
        take_ranges(req);
        if (refusal->status == 401) {
          res.set_header("WWW-Authenticate", "Bearer realm=\"framepipe\"");
        }
        refuse(res, *refusal);
        return refusal->status;
      });

  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_started_ms = protocol::now_ms();
    if (!is_result_path(req.path)) take_ranges(req);
    if (auto refusal = gate(req)) {
      if (refusal->status == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"framepipe\"");
      refuse(res, *refusal);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  server.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.has_header("X-Content-Type-Options")) {
      res.set_header("X-Content-Type-Options", "nosniff");
    }
    if (req.path.starts_with("/api/") && !is_result_path(req.path) &&
        !res.has_header("Cache-Control")) {
      res.set_header("Cache-Control", "no-store");
    }
    if (!config_.cors_origin.empty() && !res.has_header("Access-Control-Allow-Origin")) {
      res.set_header("Access-Control-Allow-Origin", config_.cors_origin);
      res.set_header("Vary", "Origin");
      res.set_header("Access-Control-Expose-Headers",
                     "Content-Range, Content-Length, Accept-Ranges, Location");
    }
  });

  server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        take_ranges(req);
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Handled;
        std::string message;
        switch (res.status) {
          case 400:
            message = "bad request";
            break;
          case 404:
            message = "not found: " + req.method + " " + req.path;
            break;
          case 413:
            message = "request body too large";
            break;
          case 414:
            message = "request URI too long";
            break;
          case 416:
            message = "invalid Range header";
            break;
          default:
            message = "HTTP error " + std::to_string(res.status);
            break;
        }
        send_json(res, res.status, json{{"error", message}});
        return httplib::Server::HandlerResponse::Handled;
      }));

  server.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        log().error("{} {}: {}", req.method, printable(req.path), what);
        refuse(res, Refusal{500, "internal error"});
      });

  server.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) { log_request(req, res); });

  server.Options(R"(.*)", [this](const httplib::Request&, httplib::Response& res) {
    res.status = 204;
    res.set_header("Allow", "GET, HEAD, POST, DELETE, OPTIONS");
    if (!config_.cors_origin.empty()) {
      res.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, Range");
      res.set_header("Access-Control-Max-Age", "600");
    }
  });

  server.Post(std::string(kJobsRoute),
              [this](const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) { create_job(req, res, reader); });
  server.Get(std::string(kJobsRoute),
             [this](const httplib::Request&, httplib::Response& res) { list_jobs(res); });
  server.Get(R"(/api/jobs/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    get_job(req.matches[1], res);
  });
  server.Delete(R"(/api/jobs/([^/]+))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  delete_job(req.matches[1], res);
                });
  server.Get(R"(/api/jobs/([^/]+)/result)",
             [this](const httplib::Request& req, httplib::Response& res) {
               get_result(req, req.matches[1], res);
             });
  accounts_.install(
      server, JobAccess{[this](const std::string& id) -> std::optional<std::pair<int64_t, bool>> {
                          const auto job = store_.find(id);
                          if (!job) return std::nullopt;
                          return std::make_pair(job->owner, job->state == JobState::done);
                        },
                        [this](int64_t user_id) { return bytes_used(user_id); },
                        [this](int64_t user_id) {
                          for (const Job& job : store_.list()) {
                            if (job.owner != user_id) continue;
                            remove_job(job);
                            store_.erase(job.id);  // a canceled one too: nothing is left
                          }
                        }});
  server.Get(R"(/api/jobs/([^/]+)/poster)",
             [this](const httplib::Request& req, httplib::Response& res) {
               get_poster(req.matches[1], res);
             });
  server.Get(R"(/s/([A-Za-z0-9_-]{1,256}))",
             [this](const httplib::Request& req, httplib::Response& res) {
               get_share(req, req.matches[1], res);
             });
  server.Get("/api/workers",
             [this](const httplib::Request&, httplib::Response& res) { get_workers(res); });
  server.Get("/api/filters", [this](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(filter_catalogue_, "application/json");
  });
  server.Get("/health",
             [this](const httplib::Request&, httplib::Response& res) { get_health(res); });
  server.Get("/api/cluster",
             [this](const httplib::Request&, httplib::Response& res) { get_cluster(res); });
  server.Get(std::string(kEventsRoute),
             [this](const httplib::Request&, httplib::Response& res) { open_event_stream(res); });
  server.Get(R"(/api/jobs/([^/]+)/events)",
             [this](const httplib::Request& req, httplib::Response& res) {
               open_job_event_stream(req.matches[1], res);
             });
  server.Get("/metrics",
             [this](const httplib::Request&, httplib::Response& res) { get_metrics(res); });

  // The web pages. Their URLs are relative, so /dashboard/ would load assets from the wrong place.
  server.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
    serve_file(req, res, "index.html", true);
  });
  server.Get("/dashboard", [this](const httplib::Request& req, httplib::Response& res) {
    serve_file(req, res, "dashboard.html", true);
  });
  server.Get("/dashboard/", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("../dashboard", 301);
  });
  server.Get(R"(/assets/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    // Pages are served at their routes only; their asset names stay unlisted.
    if (name.ends_with(".html")) return refuse(res, Refusal{404, "no such asset"});
    serve_file(req, res, name, false);
  });
}

void Frontend::log_request(const httplib::Request& req, const httplib::Response& res) {
  const int64_t started = std::exchange(request_started_ms, 0);
  const int64_t elapsed_ms = started == 0 ? -1 : protocol::now_ms() - started;
  const std::string_view route = route_of(req.path);
  request_counters_.count(method_label(req.method), route, res.status);
  if (elapsed_ms < 0) {
    log().debug("{} {} -> {} from {}", req.method, printable(req.path), res.status,
                req.remote_addr);
  } else {
    log().debug("{} {} -> {} from {} in {} ms", req.method, printable(req.path), res.status,
                req.remote_addr, elapsed_ms);
  }
  if (!config_.access_log_json) return;
  // The path only: a query may hold the API token.
  const nlohmann::ordered_json line = {
      {"time", iso8601(protocol::unix_ms())},
      {"method", req.method},
      {"route", route},
      {"path", req.path},
      {"status", res.status},
      {"bytes", res.body.empty() ? res.content_length_ : res.body.size()},
      {"ms", elapsed_ms < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(elapsed_ms)},
      {"remote", req.remote_addr}};
  access_log().info(line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void Frontend::create_job(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) {
  if (auto refusal = precheck_upload(req)) {
    // Answered before the body is read: the gate's lingering close takes what the client still
    // sends, so the answer is not lost to a reset.
    return refuse(res, *refusal);
  }

  const std::string id = new_job_id();
  const fs::path directory = job_directory(id);
  std::error_code error;
  if (!fs::create_directory(directory, error)) {
    log().error("cannot create {}: {}", directory.string(), error ? error.message() : "exists");
    return refuse(res, Refusal{500, "cannot create the job directory"});
  }
  DirectoryGuard guard(directory);  // an upload that fails leaves nothing behind

  auto received =
      receive_upload(reader, directory, {config_.max_upload_bytes, min_free_disk_bytes()});
  if (auto* refusal = std::get_if<Refusal>(&received)) {
    log().debug("upload refused ({}): {}", refusal->status, refusal->message);
    return refuse(res, *refusal);
  }
  const UploadForm& form = std::get<UploadForm>(received);

  const auto parsed = chain::parse_chain(form.filters.value_or(""));
  if (!parsed.ok()) return refuse(res, Refusal{400, parsed.error});
  const std::string preset(trim(form.preset.value_or(config_.default_preset)));
  if (!protocol::is_x264_preset(preset)) {
    return refuse(res, Refusal{400, "unknown preset \"" + preset + "\"; use one of " +
                                        protocol::x264_preset_choices()});
  }
  int crf = config_.default_crf;
  if (form.crf && !trim(*form.crf).empty()) {
    const auto value = parse_non_negative(*form.crf);
    if (!value || *value > kMaxCrf) return refuse(res, Refusal{400, "crf must be 0..51"});
    crf = static_cast<int>(*value);
  }
  std::string format_name(trim(form.format.value_or("")));
  if (format_name.empty()) format_name = protocol::kDefaultFormat;
  std::transform(format_name.begin(), format_name.end(), format_name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string distribution(trim(form.distribution.value_or("")));
  if (distribution.empty()) distribution = "auto";
  if (!protocol::is_distribution(distribution)) {
    return refuse(res, Refusal{400, "unknown distribution \"" + distribution.substr(0, 32) +
                                        "\"; use one of auto, frames, segments"});
  }
  const std::string filters = chain::canonical(parsed.chain);
  // What the file holds is known only after the ventilator's probe: it checks the rest.
  if (auto refusal =
          protocol::format_refusal({format_name, chain::is_identity(parsed.chain), std::nullopt})) {
    return refuse(res, Refusal{400, *refusal});
  }
  const protocol::OutputFormat& format = *protocol::find_output_format(format_name);

  Job job;
  job.id = id;
  job.state = JobState::queued;
  job.filters = filters;
  job.preset = preset;
  job.crf = crf;
  job.format = format_name;
  job.distribution = distribution;
  job.created_unix_ms = protocol::unix_ms();
  job.input_name = form.input_name;
  job.input_path = form.input_path.string();
  job.output_path = (directory / ("output." + std::string(format.extension))).string();
  job.input_bytes = form.input_bytes;
  job.owner = current_principal().user_id;
  // A chunked upload said no length: its size is known now.
  if (auto refusal = over_quota(form.input_bytes)) return refuse(res, *refusal);
  // An audio format needs an audio track, and an audio file only an audio format: only the probe
  // sees either, so wait for its answer.
  const bool waits_for_probe =
      format.kind == protocol::MediaKind::audio || named_like_audio_file(job.input_name);
  if (waits_for_probe) reply_waits_.expect(id);
  store_.add(job);

  if (!link_->submit(submission(job))) {
    reply_waits_.forget(id);
    store_.erase(id);
    return refuse(res, Refusal{503, "the cluster link is overloaded; try again shortly"});
  }
  if (waits_for_probe) {
    if (const auto reply = wait_for_reply(id)) {
      if (!reply->accepted) {
        store_.erase(id);
        log().info("upload refused: {}", reply->error);
        // Busy is not the upload's fault: 503, to come again (a client's retry does the rest).
        if (reply->retry_later) res.set_header("Retry-After", "5");
        return refuse(res, Refusal{reply->retry_later ? 503 : 400, reply->error});
      }
      accept_reply(*reply);
      if (auto accepted = store_.find(id)) job = *accepted;
    }
  }
  guard.keep();
  changes_.note(id);
  job_counters_.count_enqueued();
  log().info("job {} created: \"{}\" ({} bytes), filters {}, format {}, preset {}, crf {}", id,
             printable(job.input_name), job.input_bytes, job.filters, job.format, job.preset,
             job.crf);

  const ClusterSnapshot cluster = link_->snapshot();
  const auto jobs = store_.list();
  const auto ahead = jobs_ahead(jobs);
  int mine = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].id == id) mine = ahead[i];
  }
  res.set_header("Location", std::string(kJobsRoute) + "/" + id);
  send_json(res, 201, job_json(job, view_context(cluster), mine));
}

void Frontend::list_jobs(httplib::Response& res) const {
  const ClusterSnapshot cluster = link_->snapshot();
  const ViewContext context = view_context(cluster);
  const auto jobs = store_.list();
  const auto ahead = jobs_ahead(jobs);
  json out = json::array();
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (visible(jobs[i])) out.push_back(job_json(jobs[i], context, ahead[i]));
  }
  send_json(res, 200, out);
}

void Frontend::get_job(const std::string& id, httplib::Response& res) const {
  if (auto view = job_view(id)) return send_json(res, 200, view->body);
  refuse(res, Refusal{404, "no such job"});
}

void Frontend::delete_job(const std::string& id, httplib::Response& res) {
  const auto job = find_visible(id);
  if (!job) return refuse(res, Refusal{404, "no such job"});
  const ClusterSnapshot cluster = link_->snapshot();
  if (remove_job(*job)) {
    const auto canceled = store_.find(id);
    return send_json(res, 200, job_json(canceled.value_or(*job), view_context(cluster), 0));
  }
  json out = job_json(*job, view_context(cluster), 0);
  out["deleted"] = true;
  out.erase("result_url");
  send_json(res, 200, out);
}

void Frontend::get_poster(const std::string& id, httplib::Response& res) {
  const auto job = find_visible(id);
  if (!job) return refuse(res, Refusal{404, "no such job"});
  const std::filesystem::path directory = job_directory(id);
  std::ifstream file(directory / Posters::kFileName, std::ios::binary);
  if (job->state == JobState::done && !file && Posters::never_tried(directory)) {
    // Finished before the head made posters, or in a burst beyond its queue: made now.
    posters_.make(job->id, job->output_path, directory);
    res.set_header("Retry-After", "1");
    return refuse(res, Refusal{404, "the poster is being made; ask again in a moment"});
  }
  if (job->state != JobState::done || !file) {
    return refuse(res, Refusal{404, "no poster for this job (not done, or no picture in it)"});
  }
  std::ostringstream jpeg;
  jpeg << file.rdbuf();
  res.status = 200;
  res.set_header("Cache-Control", "private, max-age=86400");
  res.set_content(jpeg.str(), "image/jpeg");
}

bool Frontend::remove_job(const Job& job) {
  const std::string& id = job.id;
  accounts_.job_deleted(id);
  const Update update = store_.cancel(id, protocol::unix_ms());
  if (update == Update::state_changed) {
    // Active: stop it in the cluster and keep the record, as canceled.
    if (!link_->cancel(id)) log().warn("job {}: command queue full, CancelJob not sent", id);
    changes_.note(id);
    job_counters_.count_final(JobState::canceled);
    remove_tree(job_directory(id));
    log().info("job {} canceled", id);
    return true;
  }
  // Finished (or it finished meanwhile): forget it and its files.
  store_.erase(id);
  changes_.note(id);
  remove_tree(job_directory(id));
  log().info("job {} deleted", id);
  return false;
}

void Frontend::get_share(const httplib::Request& req, const std::string& token,
                         httplib::Response& res) {
  const bool page = wants_html(req) && !req.has_param("raw") && !req.has_param("download");
  // A page view and a HEAD are no download; nor is a range after the first byte (a player
  // seeking, or going on with what it started).
  const bool counted = !page && req.method == "GET" && from_the_start(req);
  // A range after the first byte may go on from a used-up link's last download (a player
  // seeking); a page view or a new download may not.
  const bool continuation = !page && !counted;
  const Redemption redemption = accounts_.redeem_share(token, counted, continuation);
  std::string gone;
  switch (redemption.outcome) {
    case Redemption::Outcome::redeemed:
      break;
    case Redemption::Outcome::unknown:
      take_ranges(req);
      return refuse(res, Refusal{404, "no such share link"});
    case Redemption::Outcome::expired:
      gone = "expired";
      break;
    case Redemption::Outcome::revoked:
      gone = "revoked";
      break;
    case Redemption::Outcome::used_up:
      gone = "used up";
      break;
  }
  const auto job = gone.empty() ? store_.find(redemption.job_id) : std::nullopt;
  if (gone.empty() && (!job || job->state != JobState::done)) gone = "gone";
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
  if (!gone.empty()) {
    take_ranges(req);
    if (wants_html(req)) {
      res.status = 410;
      res.set_header("Content-Security-Policy", std::string(kPageSecurityPolicy));
      return res.set_content(share_gone_page(gone), "text/html; charset=utf-8");
    }
    return refuse(res, Refusal{410, "this share link is " + gone});
  }
  if (!page) return serve_result(req, *job, res);

  take_ranges(req);
  const auto* format = protocol::find_output_format(job->format);
  if (format == nullptr) format = protocol::find_output_format(protocol::kDefaultFormat);
  const auto shares = std::string("/s/") + token;
  SharedResult shared{job->input_name,
                      shares + "?raw=1",
                      shares + "?download=1",
                      std::string(format->mime_type),
                      format->kind == protocol::MediaKind::audio,
                      job->output_bytes,
                      iso8601(redemption.expires_ms)};
  res.status = 200;
  res.set_header("Content-Security-Policy", std::string(kPageSecurityPolicy));
  res.set_header("X-Frame-Options", "DENY");
  res.set_content(share_page(shared), "text/html; charset=utf-8");
}

void Frontend::get_result(const httplib::Request& req, const std::string& id,
                          httplib::Response& res) {
  const auto job = find_visible(id);
  if (!job) {
    take_ranges(req);
    return refuse(res, Refusal{404, "no such job"});
  }
  serve_result(req, *job, res);
}

void Frontend::serve_result(const httplib::Request& req, const Job& found, httplib::Response& res) {
  const httplib::Ranges ranges = take_ranges(req);
  const std::string& id = found.id;
  const Job* job = &found;
  if (job->state != JobState::done) {
    return refuse(res, Refusal{409, "the job is " + std::string(to_string(job->state)) +
                                        "; there is no result"});
  }
  UniqueFd fd(::open(job->output_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0 && errno == ENOENT) return refuse(res, Refusal{410, "the result file is gone"});
  struct stat info {};
  if (fd.get() < 0 || ::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    log().error("job {}: cannot read {}", id, job->output_path);
    return refuse(res, Refusal{500, "cannot read the result"});
  }
  const int64_t size = info.st_size;
  const std::string whole = "bytes */" + std::to_string(size);
  // A job stored by a framepipe before formats is an MP4.
  const auto* format = protocol::find_output_format(job->format);
  if (format == nullptr) format = protocol::find_output_format(protocol::kDefaultFormat);
  const std::string content_type(format->mime_type);
  const std::string extension(format->extension);

  int64_t first = 0;
  int64_t length = size;
  res.status = 200;
  if (ranges.size() > 1) {
    res.set_header("Content-Range", whole);
    return refuse(res, Refusal{416, "only a single byte range is supported"});
  }
  if (ranges.size() == 1) {
    const auto resolved = resolve_range(ranges.front(), size);
    if (!resolved) {
      res.set_header("Content-Range", whole);
      return refuse(res, Refusal{416, "the range is outside the file"});
    }
    first = resolved->first;
    length = resolved->second - resolved->first + 1;
    res.status = 206;
    res.set_header("Content-Range", "bytes " + std::to_string(resolved->first) + "-" +
                                        std::to_string(resolved->second) + "/" +
                                        std::to_string(size));
  }
  res.set_header("Accept-Ranges", "bytes");
  const bool attachment = req.has_param("download") && req.get_param_value("download") != "0";
  res.set_header("Content-Disposition", std::string(attachment ? "attachment" : "inline") +
                                            "; filename=\"" +
                                            download_name(job->input_name, id, extension) + "\"");
  if (length == 0) return res.set_content("", content_type);

  auto reader = std::make_shared<ResultReader>(std::move(fd), first, length);
  res.set_content_provider(static_cast<size_t>(length), content_type,
                           [reader](size_t offset, size_t wanted, httplib::DataSink& sink) {
                             return reader->provide(offset, wanted, sink);
                           });
}

void Frontend::get_workers(httplib::Response& res) const {
  if (!current_principal().admin)
    return refuse(res, Refusal{403, "only an admin sees the workers"});
  const ClusterSnapshot cluster = link_->snapshot();
  send_json(res, 200, workers_json(cluster, protocol::now_ms()));
}

void Frontend::get_health(httplib::Response& res) const {
  const ClusterSnapshot cluster = link_->snapshot();
  bool healthy = false;
  const json body = health_json(cluster, endpoints_, protocol::now_ms(), healthy);
  send_json(res, healthy ? 200 : 503, body);
}

void Frontend::get_cluster(httplib::Response& res) const {
  send_json(res, 200,
            json{{"version", protocol::kSoftwareVersion},
                 {"worker_command", config_.worker_command},
                 {"max_upload_bytes", config_.max_upload_bytes},
                 {"presets", protocol::x264_presets()},
                 {"default_preset", config_.default_preset},
                 {"default_crf", config_.default_crf},
                 {"formats", formats_json()},
                 {"default_format", protocol::kDefaultFormat}});
}

void Frontend::get_metrics(httplib::Response& res) const {
  const ClusterSnapshot cluster = link_->snapshot();
  MetricsView view;
  view.now_ms = protocol::now_ms();
  view.cluster = &cluster;
  view.requests = request_counters_.entries();
  view.jobs = job_counters_.counts();
  for (const Job& job : store_.list()) ++view.jobs_by_state[static_cast<size_t>(job.state)];
  if (server_) {
    view.gate = server_->gate_counts();
    view.slow_bodies_cut = server_->slow_clients_cut();
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-store");
  res.set_content(render_metrics(view), std::string(kMetricsContentType));
}

void Frontend::serve_file(const httplib::Request& req, httplib::Response& res,
                          std::string_view name, bool page) const {
  auto file = static_files_.read(name);
  if (!file) {
    if (!static_files_.has_pages()) {
      return refuse(res, Refusal{404, "the web pages are not installed on this server (no " +
                                          static_files_.directory().string() +
                                          "/index.html); the API is under /api"});
    }
    return refuse(res, Refusal{404, "no such asset"});
  }
  // Names are not versioned: browsers keep a copy but ask whether it changed (304 if not).
  res.set_header("Cache-Control", "no-cache");
  res.set_header("ETag", file->etag);
  if (page) {
    res.set_header("Content-Security-Policy", std::string(kPageSecurityPolicy));
    res.set_header("Referrer-Policy", "same-origin");
  }
  if (etag_matches(req.get_header_value("If-None-Match"), file->etag)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.body = std::move(file->body);
  res.set_header("Content-Type", file->content_type);
}

std::optional<JobView> Frontend::job_view(const std::string& id) const {
  const ClusterSnapshot cluster = link_->snapshot();
  const auto jobs = store_.list();
  const auto ahead = jobs_ahead(jobs);
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (jobs[i].id == id) {
      if (!visible(jobs[i])) return std::nullopt;
      return JobView{jobs[i].state, job_json(jobs[i], view_context(cluster), ahead[i])};
    }
  }
  return std::nullopt;
}

void Frontend::open_job_event_stream(const std::string& id, httplib::Response& res) {
  // Changes after this point are seen by the stream; its first turn sends the state as it is.
  const uint64_t since = changes_.last();
  if (!find_visible(id)) return refuse(res, Refusal{404, "no such job"});
  auto stream = std::make_shared<JobStream>(id, since);
  stream->next_keep_alive = std::chrono::steady_clock::now() + kKeepAliveInterval;
  res.status = 200;
  res.set_header("X-Accel-Buffering", "no");  // proxies must not hold events back
  res.set_chunked_content_provider("text/event-stream",
                                   [this, stream](size_t, httplib::DataSink& sink) {
                                     return continue_job_event_stream(*stream, sink);
                                   });
}

bool Frontend::continue_job_event_stream(JobStream& stream, httplib::DataSink& sink) const {
  if (stop_requested()) {
    sink.done();
    return true;
  }
  if (!stream.started) {
    stream.started = true;
    return send_job_state(stream, sink);
  }
  const JobChanges::Batch batch = changes_.wait(stream.since, kJobStreamWait);
  stream.since = batch.last;
  if (batch.missed ||
      std::find(batch.job_ids.begin(), batch.job_ids.end(), stream.job_id) != batch.job_ids.end()) {
    return send_job_state(stream, sink);
  }
  const auto now = std::chrono::steady_clock::now();
  if (now < stream.next_keep_alive) return true;
  stream.next_keep_alive = now + kKeepAliveInterval;
  constexpr std::string_view kComment = ": keep-alive\n\n";
  return sink.write(kComment.data(), kComment.size());
}

bool Frontend::send_job_state(JobStream& stream, httplib::DataSink& sink) const {
  const auto view = job_view(stream.job_id);
  if (!view) {  // deleted meanwhile
    if (!write_event(sink, "end", json{{"id", stream.job_id}, {"deleted", true}})) return false;
    sink.done();
    return true;
  }
  std::string data = dump(view->body);
  if (is_final(view->state)) {
    if (!write_event_text(sink, "end", data)) return false;
    sink.done();
    return true;
  }
  // The store only moves a job forward (frames_done never decreases), so events come in order.
  if (data == stream.last_sent) return true;
  if (!write_event_text(sink, "job", data)) return false;
  stream.last_sent = std::move(data);
  return true;
}

std::string Frontend::workers_event(bool admin) const {
  std::lock_guard lock(workers_event_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (!workers_event_data_.empty() && now - workers_event_at_ < kWorkersEventShare) {
    return admin ? workers_event_data_ : workers_event_count_only_;
  }
  const ClusterSnapshot cluster = link_->snapshot();
  double throughput = 0;
  for (const Job& job : store_.list()) {
    if (job.state == JobState::running) throughput += job.fps;
  }
  const json workers = workers_json(cluster, protocol::now_ms());
  json anonymous = json::array();
  for (const json& worker : workers) anonymous.push_back({{"state", worker.value("state", "")}});
  const bool registry_ok = cluster.registry.alive(protocol::now_ms());
  workers_event_data_ = dump(
      json{{"workers", workers}, {"registry_ok", registry_ok}, {"throughput_fps", throughput}});
  workers_event_count_only_ = dump(
      json{{"workers", anonymous}, {"registry_ok", registry_ok}, {"throughput_fps", throughput}});
  workers_event_at_ = now;
  return admin ? workers_event_data_ : workers_event_count_only_;
}

void Frontend::open_event_stream(httplib::Response& res) {
  auto stream = std::make_shared<LiveStream>(changes_.last(), current_principal());
  res.status = 200;
  res.set_chunked_content_provider("text/event-stream",
                                   [this, stream](size_t, httplib::DataSink& sink) {
                                     return continue_event_stream(*stream, sink);
                                   });
}

bool Frontend::continue_event_stream(LiveStream& stream, httplib::DataSink& sink) const {
  if (stop_requested()) {
    sink.done();
    return true;
  }
  auto now = std::chrono::steady_clock::now();
  if (now >= stream.next_workers_event) {
    stream.next_workers_event = now + kWorkersEventInterval;
    if (!write_event_text(sink, "workers", workers_event(stream.viewer.admin))) return false;
  }
  const auto wait =
      std::chrono::duration_cast<std::chrono::milliseconds>(stream.next_workers_event - now);
  const JobChanges::Batch batch = changes_.wait(stream.since, wait);
  stream.since = batch.last;
  if (batch.job_ids.empty() && !batch.missed) return true;

  const ClusterSnapshot cluster = link_->snapshot();
  const ViewContext context = view_context(cluster);
  const auto jobs = store_.list();
  const auto ahead = jobs_ahead(jobs);
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (!stream.viewer.may_see(jobs[i].owner)) continue;
    const bool changed = batch.missed || std::find(batch.job_ids.begin(), batch.job_ids.end(),
                                                   jobs[i].id) != batch.job_ids.end();
    if (!changed) continue;
    if (!write_event(sink, "job", job_json(jobs[i], context, ahead[i]))) return false;
    stream.sent.insert(jobs[i].id);
  }
  // Jobs that changed and are gone were deleted: the pages drop them (only those this stream
  // showed: another user's job ids are not told).
  for (const std::string& id : batch.job_ids) {
    const bool listed =
        std::any_of(jobs.begin(), jobs.end(), [&](const Job& job) { return job.id == id; });
    if (listed || stream.sent.erase(id) == 0) continue;
    if (!write_event(sink, "job", json{{"id", id}, {"deleted", true}})) return false;
  }
  return true;
}

void Frontend::on_submit_reply(const protocol::SubmitReply& reply) {
  if (reply_waits_.deliver(reply)) return;  // the upload that waits for it answers it
  if (reply.accepted) {
    accept_reply(reply);
    return;
  }
  if (store_.reject(reply.job_id, reply.error, protocol::unix_ms()) == Update::state_changed) {
    changes_.note(reply.job_id);
    job_counters_.count_final(JobState::failed);
    log().info("job {} failed: the ventilator refused it: {}", reply.job_id, reply.error);
    remove_tree(job_directory(reply.job_id));
  }
}

std::optional<protocol::SubmitReply> Frontend::wait_for_reply(const std::string& id) {
  const auto deadline = std::chrono::steady_clock::now() + kProbeWait;
  while (!stop_requested() && std::chrono::steady_clock::now() < deadline) {
    if (auto reply = reply_waits_.wait(id, kStopPollInterval)) return reply;
  }
  auto reply = reply_waits_.forget(id);
  if (!reply) {
    log().warn("job {}: no answer from the ventilator within {} s; queued", id,
               std::chrono::duration_cast<std::chrono::seconds>(kProbeWait).count());
  }
  return reply;
}

void Frontend::accept_reply(const protocol::SubmitReply& reply) {
  MediaInfo info;
  info.frames_estimate = reply.frames_estimate;
  info.width = reply.width;
  info.height = reply.height;
  info.out_width = reply.out_width;
  info.out_height = reply.out_height;
  info.duration_seconds = reply.duration_seconds;
  info.video_codec = reply.video_codec;
  info.audio_codec = reply.audio_codec;
  const Update update = store_.accept(reply.job_id, info);
  if (update == Update::unknown_job) {
    log().debug("SubmitReply for unknown job {}", printable(reply.job_id));
  } else if (update == Update::applied) {
    log().debug("job {} accepted by the ventilator", reply.job_id);
    changes_.note(reply.job_id);
  }
}

protocol::SubmitJob Frontend::submission(const Job& job) const {
  protocol::SubmitJob submit;
  submit.job_id = job.id;
  submit.input_path = job.input_path;
  submit.output_path = job.output_path;
  submit.chain = job.filters;
  submit.preset = job.preset;
  submit.crf = job.crf;
  submit.format = job.format;
  submit.distribution = job.distribution;
  return submit;
}

void Frontend::on_pong(const protocol::Pong& pong) {
  for (const std::string& id : pong.jobs) {
    if (recovery_.is_pending(id)) log().info("job {} still runs in the cluster: following it", id);
  }
  const auto given_up = [this](const std::string& id) {
    const auto job = store_.find(id);
    return !job || is_final(job->state);
  };
  for (const std::string& id : recovery_.on_cluster_jobs(pong.jobs, given_up, protocol::now_ms())) {
    log().info("job {}: the cluster works on a job this head has ended or never had: canceling it",
               printable(id));
    if (!link_->cancel(id)) log().warn("job {}: command queue full, CancelJob not sent", id);
  }
  recover(recovery_.decide(protocol::now_ms()));
}

void Frontend::recover(const std::vector<JobRecovery::Decision>& decisions) {
  for (const auto& decision : decisions) {
    const std::string& id = decision.job_id;
    if (decision.verdict == JobRecovery::Verdict::resubmit) {
      const auto job = store_.find(id);
      if (!job || is_final(job->state)) continue;
      log().info(
          "job {} had not started when the head stopped and the cluster does not have it: "
          "submitted again",
          id);
      if (!link_->submit(submission(*job))) {
        log().warn("job {}: command queue full, SubmitJob not sent", id);
      }
      continue;
    }
    if (store_.interrupt(id, protocol::unix_ms()) != Update::state_changed) continue;
    changes_.note(id);
    job_counters_.count_final(JobState::failed);
    remove_tree(job_directory(id));
    log().info("job {} failed: {}", id, kInterruptedError);
  }
}

// The sink's job states are the http-frontend's, less `queued` (the sink does not know a job
// before it runs). Body decoding refuses any other value.
JobState from_sink(protocol::JobState state) {
  switch (state) {
    case protocol::JobState::running:
      return JobState::running;
    case protocol::JobState::done:
      return JobState::done;
    case protocol::JobState::failed:
      return JobState::failed;
    case protocol::JobState::canceled:
      return JobState::canceled;
  }
  return JobState::failed;
}

void Frontend::on_progress(const protocol::JobProgress& progress) {
  const JobState state = from_sink(progress.state);
  if (recovery_.is_pending(progress.job_id)) {
    log().info("job {}: the sink reports on it after the restart: following it", progress.job_id);
    recovery_.on_report(progress.job_id);
  }
  ProgressReport report;
  report.state = state;
  report.frames_done = progress.frames_done;
  report.frames_total = progress.frames_total;
  report.fps = progress.fps;
  report.encode_ms = std::isfinite(progress.encode_ms) ? progress.encode_ms : 0;
  report.error = progress.error;
  report.output_bytes = progress.output_bytes;
  report.skipped_packets = progress.skipped_packets;
  report.shared_memory = progress.shared_memory;
  report.distribution = progress.distribution;
  report.distribution_why = progress.distribution_why;
  const Update update = store_.report(progress.job_id, report, protocol::unix_ms());
  if (update == Update::applied || update == Update::state_changed) changes_.note(progress.job_id);
  if (update != Update::state_changed) return;

  const auto job = store_.find(progress.job_id);
  if (!job) return;
  job_counters_.count_final(job->state);
  switch (job->state) {
    case JobState::running:
      log().info("job {} running", job->id);
      break;
    case JobState::done:
      log().info("job {} done: {} frames, {} bytes", job->id, job->frames_done, job->output_bytes);
      remove_file(job->input_path);
      posters_.make(job->id, job->output_path, job_directory(job->id));
      break;
    case JobState::failed:
      log().info("job {} failed: {}", job->id, job->error.value_or(""));
      remove_tree(job_directory(job->id));
      break;
    case JobState::canceled:
      log().info("job {} canceled by the cluster", job->id);
      remove_tree(job_directory(job->id));
      break;
    case JobState::queued:
      break;
  }
}

void validate(const Config& config) {
  if (config.port < 1 || config.port > 65535) {
    throw std::invalid_argument("port must be 1..65535");
  }
  if (config.threads < 1 || config.threads > 1024) {
    throw std::invalid_argument("threads must be 1..1024");
  }
  if (config.max_upload_bytes < 1) throw std::invalid_argument("max_upload_bytes must be positive");
  if (config.min_free_disk_mb < 0) {
    throw std::invalid_argument("min_free_disk_mb must not be negative");
  }
  if (!protocol::is_x264_preset(config.default_preset)) {
    throw std::invalid_argument("unknown default preset " + config.default_preset);
  }
  if (config.default_crf < 0 || config.default_crf > kMaxCrf) {
    throw std::invalid_argument("default crf must be 0..51");
  }
}

// The backlog the kernel grants: kListenBacklog, or net.core.somaxconn when that is lower.
int listen_backlog() {
  int somaxconn = kListenBacklog;
  if (std::FILE* file = std::fopen("/proc/sys/net/core/somaxconn", "r")) {
    if (std::fscanf(file, "%d", &somaxconn) != 1 || somaxconn <= 0) somaxconn = kListenBacklog;
    std::fclose(file);
  }
  return std::min(kListenBacklog, somaxconn);
}

void log_config(const Config& config) {
  log().info(
      "http: listening on {}:{}, data {}, registry {}, ventilator {}, sink {}, max upload {} "
      "bytes, min free disk {} MiB, default preset {} crf {}, {} threads, API token {}, CORS "
      "origin {}, web pages {}, JSON access log {}",
      config.bind_host, config.port, config.data_dir, config.registry_endpoint,
      config.control_endpoint, config.progress_endpoint, config.max_upload_bytes,
      config.min_free_disk_mb, config.default_preset, config.default_crf, config.threads,
      config.api_token.empty() ? "off" : "on",
      config.cors_origin.empty() ? "off" : config.cors_origin,
      config.web_dir.empty() ? "beside the binary" : config.web_dir,
      config.access_log_json ? "on" : "off");
}

}  // namespace

int run(const Config& config) {
  validate(config);
  log_config(config);
  Frontend frontend(config);

  // Each connection is served under a budget for waiting on its client (see guarded_server.hpp),
  // so that slow or stalled clients cannot keep the pool's threads from everyone else.
  GuardedServer server{ClientBudget{},
                       gate_limits_for(static_cast<size_t>(config.threads),
                                       static_cast<size_t>(config.max_event_streams)),
                       lane_of};
  // httplib's default sets SO_REUSEPORT, which would let a second server bind the same port.
  // The socket is remembered for its backlog: httplib keeps it private. It creates one socket per
  // address it tries and stops at the first it can bind, so the last one given here is it.
  int listening_socket = -1;
  server.set_socket_options([&listening_socket](int socket) {
    int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening_socket = socket;
  });
  server.set_payload_max_length(
      static_cast<size_t>(config.max_upload_bytes + kMultipartAllowanceBytes));
  frontend.install(server);

  if (!server.bind_to_port(config.bind_host, config.port)) {
    throw std::runtime_error("cannot listen on " + config.bind_host + ":" +
                             std::to_string(config.port));
  }
  // listen() on a listening socket sets its backlog anew (Linux), in place of httplib's 5.
  const int backlog = listen_backlog();
  if (listening_socket < 0 || ::listen(listening_socket, backlog) != 0) {
    throw std::runtime_error(
        "cannot set the listen backlog of " + config.bind_host + ":" + std::to_string(config.port) +
        ": " + (listening_socket < 0 ? "the socket is unknown" : std::strerror(errno)));
  }
  log().info("http: listen backlog {} connections", backlog);

  std::jthread watcher([&server](std::stop_token stop) {
    while (!stop.stop_requested() && !stop_requested())
      std::this_thread::sleep_for(kStopPollInterval);
    // stop() only acts on a running server: wait until listening has begun.
    while (!stop.stop_requested()) {
      if (server.is_running()) {
        server.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const bool clean = server.listen_after_bind();
  watcher.request_stop();
  watcher.join();
  if (!clean && !stop_requested()) throw std::runtime_error("the HTTP server stopped accepting");
  log().info("http: stopped");
  return 0;
}

}  // namespace framepipe::http
