// When a role gives its free heap back to the system: once per idle period, after it has had no
// job for a while. While jobs run, freed frames stay in the heap to be reused (app/runtime.cpp
// raises glibc's trim threshold on purpose); after a burst that heap is hundreds of MB nobody uses.
// Pure: the caller passes the time and does the trimming. Not thread-safe: one per loop.
#pragma once
#include <cstdint>

namespace framepipe::protocol {

// How long a role must have had no job before it trims its heap: long enough that a client
// submitting jobs one after the other does not make it trim between each, short enough that the
// memory is back within seconds.
constexpr int64_t kIdleTrimMs = 1500;

class IdleTrim {
 public:
  explicit IdleTrim(int64_t quiet_ms = kIdleTrimMs) : quiet_ms_(quiet_ms) {}

  // Called on every pass of the loop with whether the role has a job and the time in ms. True
  // once per idle period: on the first call at least `quiet_ms` after the period's first idle
  // call (and never before the role has been busy: a role that has not worked has nothing to
  // give back).
  bool due(bool busy, int64_t now_ms) {
    if (busy) {
      pending_ = true;
      idle_ = false;
      return false;
    }
    if (!pending_) return false;
    if (!idle_) {
      idle_ = true;
      idle_since_ms_ = now_ms;
    }
    if (now_ms - idle_since_ms_ < quiet_ms_) return false;
    pending_ = false;
    return true;
  }

 private:
  const int64_t quiet_ms_;
  bool pending_ = false;  // busy since the last trim
  bool idle_ = false;     // idle since idle_since_ms_, the first idle pass of this period
  int64_t idle_since_ms_ = 0;
};

}  // namespace framepipe::protocol
