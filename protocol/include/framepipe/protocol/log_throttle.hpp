// Log lines about what untrusted peers send (garbage, lies, floods) are rate-limited: a hostile
// peer must not be able to fill the disk or drown the lines that matter. A LogThrottle lets a
// burst of lines through per interval, drops the rest, and says how many it dropped on the next
// line it lets through. Not thread-safe: one per loop, like the sockets it reports on.
#pragma once
#include <chrono>
#include <cstdint>
#include <utility>

#include <spdlog/spdlog.h>

namespace framepipe::protocol {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(int burst = 5, std::chrono::milliseconds interval = std::chrono::seconds(10))
      : burst_(burst), interval_(interval) {}

  // Logs a warning through `logger` unless this interval's burst is spent.
  template <class... Args>
  void warn(spdlog::logger& logger, spdlog::format_string_t<Args...> format, Args&&... args) {
    write(logger, spdlog::level::warn, format, std::forward<Args>(args)...);
  }
  // Through the default logger.
  template <class... Args>
  void warn(spdlog::format_string_t<Args...> format, Args&&... args) {
    write(*spdlog::default_logger_raw(), spdlog::level::warn, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  void error(spdlog::format_string_t<Args...> format, Args&&... args) {
    write(*spdlog::default_logger_raw(), spdlog::level::err, format, std::forward<Args>(args)...);
  }

  // True when a line may be written at `now`; counts it as dropped otherwise.
  bool admit(Clock::time_point now) {
    if (now - window_start_ >= interval_) {
      window_start_ = now;
      admitted_ = 0;
    }
    if (admitted_ < burst_) {
      ++admitted_;
      return true;
    }
    ++dropped_;
    return false;
  }
  uint64_t dropped() const { return dropped_; }

 private:
  template <class... Args>
  void write(spdlog::logger& logger, spdlog::level::level_enum level,
             spdlog::format_string_t<Args...> format, Args&&... args) {
    if (!admit(Clock::now())) return;
    if (dropped_ > 0) {
      logger.log(level, "({} similar line(s) dropped)", dropped_);
      dropped_ = 0;
    }
    logger.log(level, format, std::forward<Args>(args)...);
  }

  const int burst_;
  const std::chrono::milliseconds interval_;
  Clock::time_point window_start_{};
  int admitted_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace framepipe::protocol
