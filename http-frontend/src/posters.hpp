// The library's poster thumbnails: a JPEG per finished result (media::write_poster), made on a
// thread of its own so that neither the cluster link nor a request waits for a decode. One at a
// time, in order; a bounded queue (a burst beyond it goes without posters, logged once, until
// someone asks for them). A result that gives none (audio, or undecodable) leaves a marker file
// instead, so that it is tried once: a result without either (finished before posters, or
// beyond the queue) is made when its poster is first asked for.
#pragma once
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

namespace framepipe::http {

class Posters {
 public:
  static constexpr size_t kMaxQueued = 256;
  static constexpr const char* kFileName = "poster.jpg";
  static constexpr const char* kNoneFileName = "poster.none";  // tried: the result gives none

  Posters();
  ~Posters();  // finishes the poster in progress, drops the rest
  Posters(const Posters&) = delete;
  Posters& operator=(const Posters&) = delete;

  // Makes `directory`/poster.jpg from `result`, later (once, however often it is asked while
  // queued).
  void make(std::string job_id, std::filesystem::path result, std::filesystem::path directory);
  // Neither a poster nor the marker of a result that gives none is in `directory`.
  static bool never_tried(const std::filesystem::path& directory);

 private:
  struct Request {
    std::string job_id;
    std::filesystem::path result;
    std::filesystem::path directory;
  };
  void run();

  std::mutex mutex_;  // guards queue_ and stopping_
  std::condition_variable wake_;
  std::deque<Request> queue_;
  std::unordered_set<std::string> queued_;  // job ids in queue_
  bool stopping_ = false;
  bool overflow_logged_ = false;
  std::thread thread_;
};

}  // namespace framepipe::http
