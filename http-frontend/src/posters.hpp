// The library's poster thumbnails: a JPEG per finished result (media::write_poster), made on a
// thread of its own so that neither the cluster link nor a request waits for a decode. One at a
// time, in order; a bounded queue (a burst beyond it goes without posters, logged once).
#pragma once
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

namespace framepipe::http {

class Posters {
 public:
  static constexpr size_t kMaxQueued = 256;
  static constexpr const char* kFileName = "poster.jpg";

  Posters();
  ~Posters();  // finishes the poster in progress, drops the rest
  Posters(const Posters&) = delete;
  Posters& operator=(const Posters&) = delete;

  // Makes `directory`/poster.jpg from `result`, later.
  void make(std::string job_id, std::filesystem::path result, std::filesystem::path directory);

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
  bool stopping_ = false;
  bool overflow_logged_ = false;
  std::thread thread_;
};

}  // namespace framepipe::http
