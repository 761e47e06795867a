// The sink's rules for one job, without sockets or codecs: results come back in order however they
// arrive, duplicates and results that do not belong are dropped, the job is complete when every
// frame the ventilator counted is encoded, the ventilator hears how far encoding got (never past a
// frame the encoder still reads in its shared memory), and a job the ventilator stopped listing
// is lost. Time and events are inputs; the reactor (sink.cpp) owns the sockets and the encoder.
#pragma once
#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>

#include "framepipe/sink/reorder.hpp"

namespace framepipe::sink {

enum class Verdict { accepted, duplicate, too_far_ahead, out_of_range };

template <class Item>
class JobTracker {
 public:
  JobTracker(int64_t reorder_capacity, int64_t now_ms)
      : reorder_(reorder_capacity), fps_sample_ms_(now_ms) {}

  // A result already encoded (or buffered) is a duplicate: cheap to ask before reading its planes.
  bool is_duplicate(int64_t index) const { return index >= 0 && index < encoded(); }

  // A result arrives. Duplicates are counted; everything but `accepted` drops the item.
  Verdict offer(int64_t index, Item item) {
    if (index < 0 || (total_ >= 0 && index >= total_)) return Verdict::out_of_range;
    switch (reorder_.insert(index, std::move(item))) {
      case Admission::accepted:
        return Verdict::accepted;
      case Admission::duplicate:
        ++duplicates_;
        return Verdict::duplicate;
      case Admission::too_far_ahead:
        return Verdict::too_far_ahead;
    }
    return Verdict::out_of_range;
  }
  void count_duplicate() { ++duplicates_; }

  // The next result to encode, in index order; its index is encoded() before the call.
  std::optional<Item> next() { return reorder_.pop(); }
  // Results handed to the encoder: [0, encoded()).
  int64_t encoded() const { return reorder_.next_index(); }

  // A frame the encoder reads in the ventilator's shared memory, until it lets go of it.
  void hold(int64_t index) { held_.insert(index); }
  void release(int64_t index) { held_.erase(index); }

  // The ventilator's count of frames (JobEnd). The first count stands; a negative one is refused.
  bool set_total(int64_t total) {
    if (total < 0 || total_ >= 0) return false;
    total_ = total;
    return true;
  }
  int64_t total() const { return total_; }
  bool complete() const { return total_ >= 0 && encoded() >= total_; }

  // Frames the ventilator may forget: encoded, and not past one whose shared buffer the encoder
  // still reads (it reuses the buffers of frames reported done).
  int64_t frames_done() const {
    return held_.empty() ? encoded() : std::min(encoded(), *held_.begin());
  }
  // frames_done() if it moved since the last call: the ventilator hears it at once, so that
  // frames flow at the encoder's pace rather than at the pace of progress reports.
  std::optional<int64_t> take_acknowledgement() {
    const int64_t done = frames_done();
    if (done <= acknowledged_) return std::nullopt;
    acknowledged_ = done;
    return done;
  }

  // One VentilatorAlive: true when it has not listed this job twice in a row (a restart lost it).
  bool lost_by_ventilator(bool listed) {
    unlisted_ = listed ? 0 : unlisted_ + 1;
    return unlisted_ >= 2;
  }

  // Frames per second over the last second or more (a half-life of one sample).
  void sample_fps(int64_t now_ms) {
    const int64_t elapsed = now_ms - fps_sample_ms_;
    if (elapsed < 1000) return;
    const double recent = static_cast<double>(encoded() - fps_sample_frames_) * 1000.0 / elapsed;
    fps_ = fps_ == 0 ? recent : 0.5 * fps_ + 0.5 * recent;
    fps_sample_ms_ = now_ms;
    fps_sample_frames_ = encoded();
  }
  double fps() const { return fps_; }
  int64_t duplicates() const { return duplicates_; }

 private:
  ReorderBuffer<Item> reorder_;
  std::set<int64_t> held_;
  int64_t total_ = -1;
  int64_t acknowledged_ = 0;
  int unlisted_ = 0;
  int64_t duplicates_ = 0;
  int64_t fps_sample_ms_ = 0;
  int64_t fps_sample_frames_ = 0;
  double fps_ = 0;
};

}  // namespace framepipe::sink
