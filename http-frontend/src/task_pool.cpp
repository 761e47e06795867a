#include "task_pool.hpp"

#include <exception>
#include <utility>

#include "log.hpp"

namespace framepipe::http {

BoundedTaskPool::BoundedTaskPool(size_t threads, size_t queue_capacity)
    : capacity_(queue_capacity) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

BoundedTaskPool::~BoundedTaskPool() {
  shutdown();
}

bool BoundedTaskPool::try_enqueue(std::function<void()>& task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || tasks_.size() >= capacity_) return false;
    tasks_.push_back(std::move(task));
  }
  not_empty_.notify_one();
  return true;
}

void BoundedTaskPool::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void BoundedTaskPool::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      not_empty_.wait(lock, [&] { return !tasks_.empty() || stopping_; });
      if (tasks_.empty()) return;  // stopping, and nothing left: the requests were all served
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      log().error("HTTP request task failed: {}", e.what());
    } catch (...) {
      log().error("HTTP request task failed with an unknown exception");
    }
  }
}

}  // namespace framepipe::http
