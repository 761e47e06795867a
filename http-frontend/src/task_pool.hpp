// The HTTP server's thread pool: a fixed number of threads and a bounded queue of accepted
// connections. Policy when the queue is full: enqueue() blocks the accepting thread until a slot
// frees, so further clients wait in the kernel's listen backlog instead of in our memory.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace framepipe::http {

class BoundedTaskPool final : public httplib::TaskQueue {
 public:
  BoundedTaskPool(size_t threads, size_t queue_capacity);
  ~BoundedTaskPool() override;
  BoundedTaskPool(const BoundedTaskPool&) = delete;
  BoundedTaskPool& operator=(const BoundedTaskPool&) = delete;

  // Blocks while the queue is full.
  void enqueue(std::function<void()> task) override;
  // Runs what is queued, then joins the threads. Idempotent.
  void shutdown() override;

  // When the task running on the calling thread was queued (for a connection: when it was
  // accepted); now() outside a pool task.
  static std::chrono::steady_clock::time_point current_task_queued_at();

 private:
  struct Task {
    std::chrono::steady_clock::time_point queued_at;
    std::function<void()> run;
  };
  void work();

  const size_t capacity_;
  std::mutex mutex_;  // guards tasks_ and stopping_
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace framepipe::http
