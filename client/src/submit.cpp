#include "framepipe/client/submit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include <httplib.h>
#include <spdlog/fmt/fmt.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "framepipe/client/event_stream.hpp"
#include "framepipe/client/progress.hpp"
#include "framepipe/protocol/formats.hpp"
#include "framepipe/protocol/signals.hpp"

namespace framepipe::client {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The event stream sends a comment every 15 s: a stream silent for this long is lost.
constexpr auto kStreamReadTimeout = 45s;
// Reconnecting to a head that went away (an http-frontend restarted by `up` comes back in about a
// second and follows its jobs to the end) is tried for this long before giving up.
constexpr auto kReconnectFor = 60s;
constexpr size_t kUploadPiece = 256 << 10;

// Raised when a stop (Ctrl-C, SIGTERM) ends what was under way.
struct Interrupted {};

// Ends a request blocked in the network when a stop is requested: the handlers only set a flag,
// and httplib retries a read that a signal interrupted, so a thread watches the flag and shuts the
// attached client's socket down.
class Interrupter {
 public:
  Interrupter()
      : thread_([this](const std::stop_token& token) {
          while (!token.stop_requested()) {
            std::this_thread::sleep_for(50ms);
            if (!stop_requested()) continue;
            const std::lock_guard lock(mutex_);
            if (client_ != nullptr) client_->stop();
          }
        }) {}

  // While the returned guard lives, a stop ends `client`'s request.
  auto attach(httplib::Client& client) {
    {
      const std::lock_guard lock(mutex_);
      client_ = &client;
    }
    auto detach = [this](httplib::Client*) {
      const std::lock_guard lock(mutex_);
      client_ = nullptr;
    };
    return std::unique_ptr<httplib::Client, decltype(detach)>(&client, detach);
  }

 private:
  std::mutex mutex_;
  httplib::Client* client_ = nullptr;
  std::jthread thread_;  // last: stopped and joined before the members it uses go
};

// What the user sees on stderr. On a terminal one live line is redrawn in place (at most ten
// times a second); otherwise a line is printed only when its `step` changes, so that a log file
// gets a dozen lines per job, not one per event.
class Screen {
 public:
  explicit Screen(bool quiet) : quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1) {}
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
  ~Screen() { end_live(); }

  void live(const std::string& line, const std::string& step) {
    if (quiet_) return;
    if (!terminal_) {
      if (step == last_step_) return;
      last_step_ = step;
      std::fprintf(stderr, "%s\n", line.c_str());
      return;
    }
    const auto now = Clock::now();
    if (live_shown_ && step == last_step_ && now - last_drawn_ < 100ms) return;
    last_step_ = step;
    last_drawn_ = now;
    live_shown_ = true;
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    std::fflush(stderr);
  }

  // A line that stays: errors always, the rest unless quiet.
  void say(const std::string& text, bool error = false) {
    if (quiet_ && !error) return;
    end_live();
    std::fprintf(stderr, "%s\n", text.c_str());
  }

  void end_live() {
    if (!live_shown_) return;
    live_shown_ = false;
    std::fputc('\n', stderr);
  }

 private:
  bool quiet_;
  bool terminal_;
  bool live_shown_ = false;
  std::string last_step_;
  Clock::time_point last_drawn_{};
};

struct HeadUrl {
  std::string origin;  // "http://host:port"
  std::string prefix;  // a path the head is served under behind a proxy, "" or "/base"
};

HeadUrl parse_head(std::string text) {
  if (text.find("://") == std::string::npos) text = "http://" + text;
  if (!text.starts_with("http://")) {
    throw std::invalid_argument("--head " + text +
                                ": only http:// is spoken (put TLS in a proxy in front of the "
                                "head, and give the proxy's http address here)");
  }
  const auto path = text.find('/', 7);
  HeadUrl url{text.substr(0, path), path == std::string::npos ? "" : text.substr(path)};
  while (!url.prefix.empty() && url.prefix.back() == '/') url.prefix.pop_back();
  if (url.origin.size() <= 7) throw std::invalid_argument("--head " + text + ": no host");
  return url;
}

// The head's reason for an answer other than success: its {"error": ...}, else the body's start.
std::string reason_of(const httplib::Response& response) {
  try {
    const auto body = nlohmann::json::parse(response.body);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
      return body["error"].get<std::string>();
    }
  } catch (const nlohmann::json::exception&) {
  }
  std::string text = response.body.substr(0, 200);
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text.empty() ? "no reason given" : text;
}

std::string file_name_field(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (char& c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\' || c == 0x7F) c = '_';
  }
  return name.empty() ? "upload" : name;
}

std::string random_boundary() {
  std::random_device device;
  std::string boundary = "framepipe-";
  constexpr std::string_view kHex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) boundary += kHex[device() % 16];
  return boundary;
}

// A transfer's step for Screen::live: tenths of a large file; a small one has a single step (a log
// gets one line for it, not ten).
std::string upload_step(size_t done, size_t total) {
  constexpr size_t kLarge = 64 << 20;
  if (total < kLarge) return "small";
  return std::to_string(done * 10 / total);
}

// Sleeps `duration`, or less when a stop is requested.
void pause(std::chrono::milliseconds duration) {
  const auto until = Clock::now() + duration;
  while (Clock::now() < until && !stop_requested()) std::this_thread::sleep_for(50ms);
}

class Submission {
 public:
  Submission(const SubmitConfig& config, Screen& screen)
      : config_(config), screen_(screen), head_(parse_head(config.head)) {
    if (!config.token.empty()) headers_.emplace("Authorization", "Bearer " + config.token);
  }

  int run() {
    const protocol::OutputFormat& format = choose_format();
    open_input();
    open_part_file();
    std::string job_id;
    try {
      check_head();
      job_id = upload(format);
      const JobStatus final = follow(job_id);
      if (final.state != "done") return report_unfinished(final);
      download(job_id);
      screen_.say(fmt::format("{}: {}", config_.output, final.message));
      return 0;
    } catch (const Interrupted&) {
      discard_part_file();
      return interrupted(job_id);
    } catch (...) {
      discard_part_file();
      throw;
    }
  }

 private:
  const protocol::OutputFormat& choose_format() {
    const protocol::OutputFormat* by_name = protocol::format_for_file_name(config_.output);
    if (config_.format.empty()) {
      if (by_name == nullptr) {
        throw std::invalid_argument("the name " + config_.output +
                                    " ends in no format's extension: give --format (" +
                                    protocol::format_choices() + ")");
      }
      return *by_name;
    }
    const protocol::OutputFormat* format = protocol::find_output_format(config_.format);
    if (format == nullptr) {
      throw std::invalid_argument("unknown --format " + config_.format +
                                  "; use one of: " + protocol::format_choices());
    }
    if (by_name != format) {
      screen_.say(fmt::format("note: writing {} into {}, whose name says otherwise", format->name,
                              config_.output));
    }
    return *format;
  }

  void open_input() {
    input_fd_ = ::open(config_.input.c_str(), O_RDONLY | O_CLOEXEC);
    if (input_fd_ < 0) {
      throw std::runtime_error(
          fmt::format("cannot read {}: {}", config_.input, std::strerror(errno)));
    }
    struct stat info {};
    if (::fstat(input_fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
      throw std::runtime_error(config_.input + " is not a regular file");
    }
    input_bytes_ = info.st_size;
    struct stat out {};
    if (::stat(config_.output.c_str(), &out) == 0 && out.st_dev == info.st_dev &&
        out.st_ino == info.st_ino) {
      throw std::invalid_argument("the output " + config_.output + " is the input itself");
    }
  }

  // Made before the upload, so that an output that cannot be written fails in a second, not
  // after the whole job.
  void open_part_file() {
    part_path_ = config_.output + ".part";
    part_ = std::fopen(part_path_.c_str(), "wb");
    if (part_ == nullptr) {
      throw std::runtime_error(
          fmt::format("cannot write {}: {}", part_path_, std::strerror(errno)));
    }
  }

  void discard_part_file() {
    if (part_ != nullptr) std::fclose(part_);
    part_ = nullptr;
    if (!part_path_.empty()) std::remove(part_path_.c_str());
  }

  httplib::Client client(std::chrono::seconds read_timeout) const {
    httplib::Client client(head_.origin);
    client.set_connection_timeout(10s);
    client.set_read_timeout(read_timeout);
    client.set_write_timeout(60s);
    client.set_keep_alive(false);
    return client;
  }

  std::string route(const std::string& path) const { return head_.prefix + path; }

  // GET `path` with its body handed to `on_data` as it arrives, after `on_response` has seen the
  // status and headers. A stop (Ctrl-C) ends it and raises Interrupted.
  httplib::Result get_streamed(const std::string& path, std::chrono::seconds read_timeout,
                               const httplib::ResponseHandler& on_response,
                               const httplib::ContentReceiver& on_data) {
    auto http = client(read_timeout);
    httplib::Result result{nullptr, httplib::Error::Unknown};
    {
      const auto guard = interrupter_.attach(http);
      result = http.Get(path, headers_, on_response, on_data);
    }
    if (stop_requested()) throw Interrupted{};
    return result;
  }

  [[noreturn]] void unreachable(const httplib::Error error, const std::string& doing) const {
    throw std::runtime_error(fmt::format("{} {}: {} (is `framepipe up` running there? --head)",
                                         doing, head_.origin, httplib::to_string(error)));
  }

  // Before the upload: is the head there, and does it take our token? A head refuses a bad token
  // at the request's headers and closes the connection, which an HTTP client sending a body only
  // sees as a broken write, so the reason is asked for first, with a request that has no body.
  void check_head() {
    auto http = client(30s);
    const auto guard = interrupter_.attach(http);
    const auto result = http.Get(route("/api/filters"), headers_);
    if (stop_requested()) throw Interrupted{};
    if (!result) unreachable(result.error(), "reaching the head at");
    if (result->status == 401 || result->status == 403) {
      throw std::runtime_error(fmt::format("the head refused {} (HTTP {}): {}",
                                           config_.token.empty()
                                               ? "a request without a token (set FRAMEPIPE_TOKEN)"
                                               : "the token in FRAMEPIPE_TOKEN",
                                           result->status, reason_of(*result)));
    }
  }

  // POST /api/jobs: a multipart body of known length, so that a head can refuse it at the
  // headers, with the file streamed from disk. Returns the job's id.
  std::string upload(const protocol::OutputFormat& format) {
    const std::string boundary = random_boundary();
    std::string head;
    const auto field = [&](const char* name, const std::string& value) {
      head += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name +
              "\"\r\n\r\n" + value + "\r\n";
    };
    field("format", std::string(format.name));
    if (!config_.filters.empty()) field("filters", config_.filters);
    if (!config_.preset.empty()) field("preset", config_.preset);
    if (config_.crf) field("crf", std::to_string(*config_.crf));
    if (!config_.distribution.empty()) field("distribution", config_.distribution);
    head += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
            file_name_field(config_.input) + "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    const std::string tail = "\r\n--" + boundary + "--\r\n";
    const auto file_bytes = static_cast<size_t>(input_bytes_);
    const size_t total = head.size() + file_bytes + tail.size();
    const std::string shown_name = file_name_field(config_.input);

    std::vector<char> buffer(kUploadPiece);
    const auto provide = [&](size_t offset, size_t length, httplib::DataSink& sink) {
      if (stop_requested()) return false;
      if (offset < head.size()) {
        return sink.write(head.data() + offset, std::min(length, head.size() - offset));
      }
      const size_t in_file = offset - head.size();
      if (in_file < file_bytes) {
        const size_t want = std::min({length, buffer.size(), file_bytes - in_file});
        const ssize_t got = ::pread(input_fd_, buffer.data(), want, static_cast<off_t>(in_file));
        if (got <= 0) return false;  // the file shrank or failed: the request ends as an error
        screen_.live(upload_line(shown_name, static_cast<int64_t>(in_file) + got, input_bytes_),
                     upload_step(in_file + static_cast<size_t>(got), file_bytes));
        return sink.write(buffer.data(), static_cast<size_t>(got));
      }
      const size_t in_tail = in_file - file_bytes;
      const size_t piece = std::min(length, tail.size() - in_tail);
      sent_all_ = in_tail + piece == tail.size();
      return sink.write(tail.data() + in_tail, piece);
    };

    // The head answers after it has the whole file on disk; a long probe queue may hold it.
    auto http = client(300s);
    const auto guard = interrupter_.attach(http);
    const auto result = http.Post(route("/api/jobs"), headers_, total, provide,
                                  "multipart/form-data; boundary=" + boundary);
    if (stop_requested()) {
      // The job may exist: the head answered before the stop was seen.
      if (result && result->status == 201) job_id_after_stop_ = job_id_of(result->body);
      throw Interrupted{};
    }
    if (!result && sent_all_ == false) {
      throw std::runtime_error(fmt::format(
          "the head at {} closed the connection while the file was sent ({}): it refuses an "
          "upload over its size limit (--max-upload-bytes) or one that would fill its disk that "
          "way; its log says which",
          head_.origin, httplib::to_string(result.error())));
    }
    if (!result) unreachable(result.error(), "uploading to");
    if (result->status != 201) {
      throw std::runtime_error(fmt::format("the head refused the job (HTTP {}): {}", result->status,
                                           reason_of(*result)));
    }
    const JobStatus job = parse_job_status(result->body);
    screen_.say(fmt::format("job {} submitted to {}: {} ({} MiB) as {}", job.id, head_.origin,
                            shown_name, fmt::format("{:.1f}", input_bytes_ / 1048576.0),
                            format.name));
    return job.id;
  }

  static std::string job_id_of(const std::string& body) {
    try {
      return parse_job_status(body).id;
    } catch (const std::exception&) {
      return {};
    }
  }

  void show(const JobStatus& job) {
    std::string step = job.state;
    if (job.state == "running" && job.frames_total > 0) {
      step += std::to_string(10 * job.frames_done / job.frames_total);
    }
    screen_.live(progress_line(job), step);
  }

  // Follows the job's event stream to its end, reconnecting when the head goes away for a while;
  // polls when the head has no stream to spare (503).
  JobStatus follow(const std::string& id) {
    const std::string events = route("/api/jobs/" + id + "/events");
    auto failing_since = std::optional<Clock::time_point>{};
    std::string last_failure;
    while (true) {
      EventStreamParser parser;
      std::optional<JobStatus> final;
      bool deleted = false;
      std::string garbled;
      int status = 0;
      const httplib::Result result = get_streamed(
          events, kStreamReadTimeout,
          [&](const httplib::Response& response) {
            status = response.status;
            return response.status == 200;
          },
          [&](const char* data, size_t length) {
            try {
              for (const ServerEvent& event : parser.feed({data, length})) {
                if (event.name != "job" && event.name != "end") continue;
                const auto body = nlohmann::json::parse(event.data, nullptr, false);
                if (body.is_object() && body.value("deleted", false)) {
                  deleted = true;
                  return false;
                }
                JobStatus job = parse_job_status(event.data);
                show(job);
                if (event.name == "end" || is_final(job)) final = std::move(job);
              }
            } catch (const std::runtime_error& e) {  // not an event stream of jobs
              garbled = e.what();
              return false;
            }
            failing_since.reset();
            return !stop_requested();
          });
      if (!garbled.empty()) throw std::runtime_error("following job " + id + ": " + garbled);
      if (final) return *final;
      if (deleted || status == 404) {
        throw std::runtime_error("job " + id + " was deleted on the head");
      }
      if (status == 401 || status == 403) {
        throw std::runtime_error(
            fmt::format("the head refused to show job {} (HTTP {})", id, status));
      }
      if (status == 503) return poll(id);
      // The stream broke (the head restarted, the network dropped): try again for a while.
      last_failure = result ? fmt::format("HTTP {}", status) : httplib::to_string(result.error());
      if (!failing_since) failing_since = Clock::now();
      if (Clock::now() - *failing_since > kReconnectFor) {
        throw std::runtime_error(
            fmt::format("lost the head at {} for {} s ({}); job {} may still be running there",
                        head_.origin, kReconnectFor.count(), last_failure, id));
      }
      pause(1s);
    }
  }

  // GET /api/jobs/{id} once a second, for a head whose event streams are all taken.
  JobStatus poll(const std::string& id) {
    const std::string path = route("/api/jobs/" + id);
    while (true) {
      auto http = client(30s);
      {
        const auto guard = interrupter_.attach(http);
        const auto result = http.Get(path, headers_);
        if (stop_requested()) throw Interrupted{};
        if (result && result->status == 404) {
          throw std::runtime_error("job " + id + " was deleted on the head");
        }
        if (result && result->status == 200) {
          JobStatus job = parse_job_status(result->body);
          show(job);
          if (is_final(job)) return job;
        }
      }
      pause(1s);
    }
  }

  int report_unfinished(const JobStatus& job) {
    discard_part_file();
    if (job.state == "failed") {
      screen_.say(fmt::format("framepipe submit: job {} failed: {}", job.id,
                              job.error.empty() ? job.message : job.error),
                  true);
    } else {
      screen_.say(fmt::format("framepipe submit: job {} was canceled on the head", job.id), true);
    }
    return kExitFailed;
  }

  // GET the result into OUT.part, then rename it to OUT.
  void download(const std::string& id) {
    const std::string path = route("/api/jobs/" + id + "/result");
    int status = 0;
    int64_t expected = -1;
    int64_t received = 0;
    std::string error_body;
    bool write_failed = false;
    const httplib::Result result = get_streamed(
        path, 60s,
        [&](const httplib::Response& response) {
          status = response.status;
          if (response.has_header("Content-Length")) {
            expected = std::stoll(response.get_header_value("Content-Length"));
          }
          return true;
        },
        [&](const char* data, size_t length) {
          if (status != 200) {
            if (error_body.size() < 4096) error_body.append(data, length);
            return true;
          }
          if (std::fwrite(data, 1, length, part_) != length) {
            write_failed = true;
            return false;
          }
          received += static_cast<int64_t>(length);
          if (expected > 0) {
            screen_.live(
                fmt::format("downloading {:3.0f}%  {:.1f}/{:.1f} MiB",
                            100.0 * static_cast<double>(received) / static_cast<double>(expected),
                            received / 1048576.0, expected / 1048576.0),
                "download " +
                    upload_step(static_cast<size_t>(received), static_cast<size_t>(expected)));
          }
          return !stop_requested();
        });
    if (write_failed) {
      throw std::runtime_error(fmt::format("writing {}: {}", part_path_, std::strerror(errno)));
    }
    if (!result) unreachable(result.error(), "downloading the result from");
    if (status != 200) {
      httplib::Response response;
      response.status = status;
      response.body = error_body;
      throw std::runtime_error(fmt::format("the head did not give the result (HTTP {}): {}", status,
                                           reason_of(response)));
    }
    if (expected >= 0 && received != expected) {
      throw std::runtime_error(
          fmt::format("the result ended after {} of {} bytes", received, expected));
    }
    const bool flushed = std::fflush(part_) == 0 && ::fsync(::fileno(part_)) == 0;
    const bool closed = std::fclose(part_) == 0;
    part_ = nullptr;
    if (!flushed || !closed) {
      throw std::runtime_error(fmt::format("writing {}: {}", part_path_, std::strerror(errno)));
    }
    if (std::rename(part_path_.c_str(), config_.output.c_str()) != 0) {
      throw std::runtime_error(
          fmt::format("renaming {} to {}: {}", part_path_, config_.output, std::strerror(errno)));
    }
    part_path_.clear();
  }

  // Ctrl-C: cancel the job on the head, unless it is done (its result then stays there).
  int interrupted(std::string job_id) {
    if (job_id.empty()) job_id = job_id_after_stop_;
    if (job_id.empty()) {
      screen_.say("framepipe submit: stopped during the upload; no job was made", true);
      return kExitInterrupted;
    }
    auto http = client(15s);
    const auto state = http.Get(route("/api/jobs/" + job_id), headers_);
    if (state && state->status == 200 && job_id_of(state->body) == job_id &&
        parse_job_status(state->body).state == "done") {
      screen_.say(fmt::format("framepipe submit: stopped; job {} is done, its result stays at "
                              "{}{}",
                              job_id, head_.origin, route("/api/jobs/" + job_id + "/result")),
                  true);
      return kExitInterrupted;
    }
    const auto canceled = http.Delete(route("/api/jobs/" + job_id), headers_);
    if (canceled && canceled->status == 200) {
      screen_.say(fmt::format("framepipe submit: stopped; job {} canceled on the head", job_id),
                  true);
    } else {
      screen_.say(
          fmt::format("framepipe submit: stopped, but job {} could not be canceled: {}", job_id,
                      canceled ? fmt::format("HTTP {} {}", canceled->status, reason_of(*canceled))
                               : httplib::to_string(canceled.error())),
          true);
    }
    return kExitInterrupted;
  }

  const SubmitConfig& config_;
  Screen& screen_;
  HeadUrl head_;
  httplib::Headers headers_;
  Interrupter interrupter_;
  int input_fd_ = -1;
  int64_t input_bytes_ = 0;
  std::string part_path_;
  std::FILE* part_ = nullptr;
  std::string job_id_after_stop_;
  bool sent_all_ = false;  // the upload's last byte went out

 public:
  ~Submission() {
    if (input_fd_ >= 0) ::close(input_fd_);
    if (part_ != nullptr) std::fclose(part_);
  }
};

}  // namespace

void add_options(CLI::App& command, SubmitConfig& config) {
  command.add_option("input", config.input, "the video or audio file to upload")
      ->required()
      ->check(CLI::ExistingFile);
  command.add_option("-o,--output", config.output, "where to write the result")->required();
  command.add_option("--head", config.head, "the head's HTTP address")
      ->envname("FRAMEPIPE_HEAD")
      ->capture_default_str();
  command.add_option("--filters", config.filters, "the filter chain, e.g. grayscale|blur:5");
  command.add_option(
      "--format", config.format,
      "the output format (default: from the output's extension): " + protocol::format_choices());
  command.add_option("--preset", config.preset, "x264 preset (default: the head's)");
  command.add_option("--crf", config.crf, "x264 CRF 0-51 (default: the head's)")
      ->check(CLI::Range(0, 51));
  command.add_option("--distribution", config.distribution, "auto, frames or segments")
      ->check(CLI::IsMember({"auto", "frames", "segments"}));
  command.add_flag("-q,--quiet", config.quiet, "print errors only");
  // The token comes only from the environment (FRAMEPIPE_TOKEN): a command line shows in `ps`.
}

int run(const SubmitConfig& given) {
  SubmitConfig config = given;
  if (const char* token = std::getenv("FRAMEPIPE_TOKEN"); config.token.empty() && token) {
    config.token = token;
  }
  Screen screen(config.quiet);
  try {
    Submission submission(config, screen);
    return submission.run();
  } catch (const std::exception& e) {
    screen.say(std::string("framepipe submit: ") + e.what(), true);
    return kExitFailed;
  }
}

}  // namespace framepipe::client
