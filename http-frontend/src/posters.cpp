#include "posters.hpp"

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
    if (queue_.size() >= kMaxQueued) {
      if (!overflow_logged_) log().warn("posters: {} waiting, the next go without", kMaxQueued);
      overflow_logged_ = true;
      return;
    }
    queue_.push_back({std::move(job_id), std::move(result), std::move(directory)});
  }
  wake_.notify_one();
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
    const media::PosterResult made =
        media::write_poster(request.result, request.directory / kFileName);
    if (const auto* none = std::get_if<media::NoPoster>(&made)) {
      if (none->reason == media::NoPosterReason::no_picture) {
        log().debug("job {}: no poster: {}", request.job_id, none->message);
      } else {
        log().warn("job {}: no poster: {}", request.job_id, none->message);
      }
    }
  }
}

}  // namespace framepipe::http
