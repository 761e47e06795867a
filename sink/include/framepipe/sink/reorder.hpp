// Puts results back in order. Results arrive in any order from many workers; pop() gives them in
// index order without gaps. Duplicates (a frame sent again after a worker was presumed lost) are
// refused, and so is anything too far ahead: capacity bounds memory (policy when full: refuse the
// newcomer; the ventilator's window never sends that far ahead, so only a hostile or broken peer
// hits it).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace framepipe::sink {

enum class Admission { accepted, duplicate, too_far_ahead };

template <class Item>
class ReorderBuffer {
 public:
  explicit ReorderBuffer(int64_t capacity) : capacity_(capacity) {}

  Admission insert(int64_t index, Item item) {
    if (index < next_ || pending_.count(index)) return Admission::duplicate;
    if (index >= next_ + capacity_) return Admission::too_far_ahead;
    pending_.emplace(index, std::move(item));
    return Admission::accepted;
  }

  // The item with the next index, if it has arrived.
  std::optional<Item> pop() {
    auto it = pending_.find(next_);
    if (it == pending_.end()) return std::nullopt;
    Item item = std::move(it->second);
    pending_.erase(it);
    ++next_;
    return item;
  }

  int64_t next_index() const { return next_; }
  std::size_t buffered() const { return pending_.size(); }

 private:
  int64_t capacity_;
  int64_t next_ = 0;
  std::map<int64_t, Item> pending_;
};

}  // namespace framepipe::sink
