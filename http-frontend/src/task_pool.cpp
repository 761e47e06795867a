#include "task_pool.hpp"

#include <exception>
#include <optional>
#include <utility>

#include "log.hpp"

namespace framepipe::http {

namespace {
thread_local std::optional<std::chrono::steady_clock::time_point> running_task_queued_at;
}  // namespace

std::chrono::steady_clock::time_point BoundedTaskPool::current_task_queued_at() {
  return running_task_queued_at.value_or(std::chrono::steady_clock::now());
}

BoundedTaskPool::BoundedTaskPool(size_t threads, size_t queue_capacity)
    : capacity_(queue_capacity) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

BoundedTaskPool::~BoundedTaskPool() {
  shutdown();
}

void BoundedTaskPool::enqueue(std::function<void()> task) {
  {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return tasks_.size() < capacity_ || stopping_; });
    tasks_.push_back({std::chrono::steady_clock::now(), std::move(task)});
  }
  not_empty_.notify_one();
}

void BoundedTaskPool::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void BoundedTaskPool::work() {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mutex_);
      not_empty_.wait(lock, [&] { return !tasks_.empty() || stopping_; });
      if (tasks_.empty()) return;  // stopping, and nothing left: the connections were all served
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    not_full_.notify_one();
    running_task_queued_at = task.queued_at;
    try {
      task.run();
    } catch (const std::exception& e) {
      log().error("HTTP connection task failed: {}", e.what());
    } catch (...) {
      log().error("HTTP connection task failed with an unknown exception");
    }
  }
}

}  // namespace framepipe::http
