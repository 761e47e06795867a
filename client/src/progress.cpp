#include "framepipe/client/progress.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <spdlog/fmt/fmt.h>
#include <nlohmann/json.hpp>

namespace framepipe::client {
namespace {

constexpr int kBarWidth = 24;

std::string bar(double fraction) {
  const int filled = static_cast<int>(std::floor(std::clamp(fraction, 0.0, 1.0) * kBarWidth));
  return "[" + std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(kBarWidth - filled), '.') + "]";
}

template <class T>
T value_or(const nlohmann::json& object, const char* key, T fallback) {
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return fallback;
  return found->get<T>();
}

}  // namespace

JobStatus parse_job_status(std::string_view json_text) {
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error("the head sent a job that is not JSON");
  }
  if (!body.is_object() || !body.contains("id") || !body.contains("state")) {
    throw std::runtime_error("the head sent JSON that is not a job");
  }
  try {
    JobStatus job;
    job.id = body.at("id").get<std::string>();
    job.state = body.at("state").get<std::string>();
    job.message = value_or<std::string>(body, "message", "");
    job.error = value_or<std::string>(body, "error", "");
    job.frames_done = value_or<int64_t>(body, "frames_done", 0);
    job.frames_total = value_or<int64_t>(body, "frames_total", 0);
    job.frames_total_exact = value_or<bool>(body, "frames_total_exact", false);
    job.fps = value_or<double>(body, "fps", 0.0);
    job.output_bytes = value_or<int64_t>(body, "output_bytes", 0);
    if (const auto found = body.find("distribution"); found != body.end() && found->is_object()) {
      job.distribution = value_or<std::string>(*found, "mode", "");
    }
    return job;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("the head sent a job with a field of the wrong type: ") +
                             e.what());
  }
}

bool is_final(const JobStatus& job) {
  return job.state == "done" || job.state == "failed" || job.state == "canceled";
}

std::string clock_text(double seconds) {
  const auto whole = static_cast<long long>(std::ceil(std::max(0.0, seconds)));
  const long long hours = whole / 3600;
  const long long minutes = whole / 60 % 60;
  const long long rest = whole % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, rest);
  return fmt::format("{}:{:02}", minutes, rest);
}

std::string progress_line(const JobStatus& job) {
  if (job.state == "queued") return job.message.empty() ? "queued" : job.message;
  if (job.frames_total <= 0) {
    if (job.frames_done == 0) return job.message.empty() ? job.state : job.message;
    return fmt::format("{} frames  {:.1f} fps", job.frames_done, job.fps);
  }
  const double fraction =
      static_cast<double>(job.frames_done) / static_cast<double>(job.frames_total);
  std::string line =
      fmt::format("{} {:3.0f}%  {}/{}{} frames", bar(fraction),
                  std::floor(std::clamp(fraction, 0.0, 1.0) * 100.0), job.frames_done,
                  job.frames_total_exact ? "" : "~", job.frames_total);
  if (job.fps > 0) {
    line += fmt::format("  {:.1f} fps", job.fps);
    const int64_t left = std::max<int64_t>(0, job.frames_total - job.frames_done);
    if (left > 0) line += "  " + clock_text(static_cast<double>(left) / job.fps) + " left";
  }
  return line;
}

std::string upload_line(std::string_view name, int64_t sent, int64_t total) {
  constexpr double kMiB = 1024.0 * 1024.0;
  const double fraction = total > 0 ? static_cast<double>(sent) / static_cast<double>(total) : 1;
  return fmt::format("uploading {} {:3.0f}%  {:.1f}/{:.1f} MiB", name,
                     std::floor(std::clamp(fraction, 0.0, 1.0) * 100.0),
                     static_cast<double>(sent) / kMiB, static_cast<double>(total) / kMiB);
}

}  // namespace framepipe::client
