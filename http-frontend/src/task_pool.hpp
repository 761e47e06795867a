// The HTTP server's thread pool: a fixed number of threads and a bounded queue of requests whose
// heads are in (see connection_gate.hpp). A full queue refuses more rather than blocking the gate.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace framepipe::http {

class BoundedTaskPool final {
 public:
  BoundedTaskPool(size_t threads, size_t queue_capacity);
  ~BoundedTaskPool();
  BoundedTaskPool(const BoundedTaskPool&) = delete;
  BoundedTaskPool& operator=(const BoundedTaskPool&) = delete;

  // False, and `task` untouched, when the queue is full or the pool is stopping.
  bool try_enqueue(std::function<void()>& task);
  // Runs what is queued, then joins the threads. Idempotent.
  void shutdown();

 private:
  void work();

  const size_t capacity_;
  std::mutex mutex_;  // guards tasks_ and stopping_
  std::condition_variable not_empty_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace framepipe::http
