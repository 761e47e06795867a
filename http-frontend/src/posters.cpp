#include "posters.hpp"

#include <fstream>
#include <system_error>
#include <variant>

#include "framepipe/media/poster.hpp"
#include "log.hpp"

namespace framepipe::http {

Posters::Posters() : thread_([this] { run(); }) {}

Posters::~Posters() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

void Posters::make(std::string job_id, std::filesystem::path result,
                   std::filesystem::path directory) {
  {
    std::lock_guard lock(mutex_);
    if (queued_.contains(job_id)) return;
    if (queue_.size() >= kMaxQueued) {
      if (!overflow_logged_) log().warn("posters: {} waiting, the next go without", kMaxQueued);
      overflow_logged_ = true;
      return;
    }
    queued_.insert(job_id);
    queue_.push_back({std::move(job_id), std::move(result), std::move(directory)});
  }
  wake_.notify_one();
}

bool Posters::never_tried(const std::filesystem::path& directory) {
  std::error_code error;
  return !std::filesystem::exists(directory / kFileName, error) &&
         !std::filesystem::exists(directory / kNoneFileName, error);
}

void Posters::run() {
  for (;;) {
    Request request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      request = std::move(queue_.front());
      queue_.pop_front();
      overflow_logged_ = false;
    }
    std::error_code missing;
    const bool result_there = std::filesystem::exists(request.result, missing);
    const media::PosterResult made =
        result_there ? media::write_poster(request.result, request.directory / kFileName)
                     : media::PosterResult{};
    {
      std::lock_guard lock(mutex_);
      queued_.erase(request.job_id);
    }
    if (!result_there) continue;  // deleted meanwhile
    if (const auto* none = std::get_if<media::NoPoster>(&made)) {
      // Tried once: asking again would only decode the same result again. (A poster that could
      // not be written may be asked for again.)
      if (none->reason != media::NoPosterReason::output_failed) {
        std::ofstream(request.directory / kNoneFileName).put('\n');
      }
      if (none->reason == media::NoPosterReason::no_picture) {
        log().debug("job {}: no poster: {}", request.job_id, none->message);
      } else {
        log().warn("job {}: no poster: {}", request.job_id, none->message);
      }
    }
  }
}

}  // namespace framepipe::http
