// The per-job window of frames between the ventilator and the sink, by index: frames enter it when
// decoded, stay while they travel (so that any of them can be sent again), and leave when the sink
// reports them encoded. Its size bounds memory whatever the video's length; when full, decoding
// waits (policy: block the producer). The frames themselves are the caller's; it frees [0, done()).
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <set>

namespace framepipe::ventilator {

class FrameWindow {
 public:
  explicit FrameWindow(int64_t capacity) : capacity_(capacity > 0 ? capacity : 1) {}

  // Frames decoded so far (the next index to decode).
  int64_t decoded() const { return decoded_; }
  // Frames the sink has encoded: [0, done) are released.
  int64_t done() const { return done_; }
  int64_t in_window() const { return decoded_ - done_; }
  bool has_room() const { return in_window() < capacity_; }

  // Adds the next decoded frame (index decoded()) and queues it for sending. Precondition: room.
  int64_t add() {
    const int64_t index = decoded_++;
    to_send_.push_back(index);
    return index;
  }

  // The next frame to send (re-sends first), or nothing. It leaves the line.
  std::optional<int64_t> next_to_send() {
    while (!resend_.empty()) {
      const int64_t index = *resend_.begin();
      resend_.erase(resend_.begin());
      if (index >= done_) return index;
    }
    while (!to_send_.empty()) {
      const int64_t index = to_send_.front();
      to_send_.pop_front();
      if (index >= done_) return index;
    }
    return std::nullopt;
  }
  bool has_to_send() const { return !resend_.empty() || !to_send_.empty(); }
  std::size_t pending_sends() const { return resend_.size() + to_send_.size(); }

  // Puts a frame back in line (it was lost or is late). Ignored if released or never decoded.
  void resend(int64_t index) {
    if (index >= done_ && index < decoded_) resend_.insert(index);
  }

  // The sink has encoded [0, done): those frames leave the window. Returns how many left.
  int64_t acknowledge(int64_t done) {
    if (done <= done_) return 0;
    if (done > decoded_) done = decoded_;  // a confused or hostile report cannot release the future
    const int64_t released = done - done_;
    done_ = done;
    return released;
  }

 private:
  int64_t capacity_;
  int64_t decoded_ = 0;
  int64_t done_ = 0;
  std::deque<int64_t> to_send_;
  std::set<int64_t> resend_;
};

}  // namespace framepipe::ventilator
