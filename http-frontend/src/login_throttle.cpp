#include "login_throttle.hpp"

#include <algorithm>
#include <array>
#include <iterator>

#include "framepipe/protocol/net.hpp"

namespace framepipe::http {
namespace {

constexpr size_t kMaxAccountKeyBytes = 256;  // no valid user name is longer
constexpr size_t kMaxAddressKeyBytes = 64;   // an IPv6 address in text is at most 45

char fold_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

LoginThrottle::LoginThrottle(ThrottleRules rules) : rules_(rules) {
  // An attempt touches two keys; fewer than two would evict one of them at once.
  rules_.max_keys = std::max<size_t>(rules_.max_keys, 2);
}

LoginThrottle::Key LoginThrottle::pair_key(std::string_view account,
                                           std::string_view address) const {
  account = account.substr(0, kMaxAccountKeyBytes);
  // Length-prefixed, so that no account and address run together into another pair.
  std::string name = "p" + std::to_string(account.size()) + ":";
  std::transform(account.begin(), account.end(), std::back_inserter(name), fold_ascii);
  name += protocol::client_network(address.substr(0, kMaxAddressKeyBytes));
  return Key{std::move(name), rules_.free_failures_per_pair};
}

LoginThrottle::Key LoginThrottle::address_key(std::string_view address) const {
  return Key{"a" + protocol::client_network(address.substr(0, kMaxAddressKeyBytes)),
             rules_.free_failures_per_address};
}

int LoginThrottle::in_flight(const Entry& entry, TimePoint now) const {
  return now - entry.last_admitted < rules_.attempt_timeout ? entry.in_flight : 0;
}

bool LoginThrottle::forgotten(const Entry& entry, TimePoint now) const {
  if (in_flight(entry, now) > 0) return false;
  return entry.failures == 0 || now >= entry.delayed_until + rules_.window;
}

std::chrono::seconds LoginThrottle::delay_after(int failures, int free_failures) const {
  if (failures <= free_failures) return std::chrono::seconds(0);
  const int doublings = failures - free_failures - 1;
  // 2^31 s is far beyond any sensible cap; stop doubling before the shift overflows.
  if (doublings >= 31) return rules_.max_delay;
  return std::min(rules_.first_delay * (int64_t{1} << doublings), rules_.max_delay);
}

LoginThrottle::Entry& LoginThrottle::touch(const std::string& name, TimePoint now) {
  auto it = entries_.find(name);
  if (it != entries_.end() && forgotten(it->second, now)) {
    erase(it);
    it = entries_.end();
  }
  if (it == entries_.end()) {
    order_.push_back(name);
    it = entries_.emplace(name, Entry{}).first;
    it->second.position = std::prev(order_.end());
  } else {
    order_.splice(order_.end(), order_, it->second.position);
  }
  return it->second;
}

void LoginThrottle::erase(std::unordered_map<std::string, Entry>::iterator it) {
  order_.erase(it->second.position);
  entries_.erase(it);
}

void LoginThrottle::trim(TimePoint now) {
  while (!order_.empty()) {
    auto oldest = entries_.find(order_.front());
    if (!forgotten(oldest->second, now) && entries_.size() <= rules_.max_keys) break;
    erase(oldest);
  }
}

std::optional<std::chrono::seconds> LoginThrottle::admit(std::string_view account,
                                                         std::string_view address, TimePoint now) {
  const std::array keys{pair_key(account, address), address_key(address)};
  std::lock_guard lock(mutex_);
  trim(now);
  std::chrono::seconds wait(0);
  for (const Key& key : keys) {
    auto it = entries_.find(key.name);
    if (it == entries_.end() || forgotten(it->second, now)) continue;
    const Entry& entry = it->second;
    if (now < entry.delayed_until) {
      wait = std::max(wait, std::chrono::ceil<std::chrono::seconds>(entry.delayed_until - now));
    } else if (const int pending = in_flight(entry, now);
               pending > 0 && entry.failures + pending >= key.free_failures) {
      // Past the free failures, one attempt at a time: wait for the one in flight to report.
      wait = std::max(wait, std::chrono::seconds(1));
    }
  }
  if (wait > std::chrono::seconds(0)) return wait;
  for (const Key& key : keys) {
    Entry& entry = touch(key.name, now);
    entry.in_flight = in_flight(entry, now) + 1;
    entry.last_admitted = now;
  }
  trim(now);
  return std::nullopt;
}

void LoginThrottle::failed(std::string_view account, std::string_view address, TimePoint now) {
  const std::array keys{pair_key(account, address), address_key(address)};
  std::lock_guard lock(mutex_);
  for (const Key& key : keys) {
    Entry& entry = touch(key.name, now);
    entry.in_flight = std::max(in_flight(entry, now) - 1, 0);
    ++entry.failures;
    entry.delayed_until =
        std::max(entry.delayed_until, now + delay_after(entry.failures, key.free_failures));
  }
  trim(now);
}

void LoginThrottle::succeeded(std::string_view account, std::string_view address) {
  const Key pair = pair_key(account, address);
  const Key address_only = address_key(address);
  std::lock_guard lock(mutex_);
  if (auto it = entries_.find(pair.name); it != entries_.end()) erase(it);
  if (auto it = entries_.find(address_only.name); it != entries_.end()) {
    Entry& entry = it->second;
    entry.in_flight = std::max(entry.in_flight - 1, 0);
    if (entry.failures == 0 && entry.in_flight == 0) erase(it);
  }
}

size_t LoginThrottle::tracked_keys() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace framepipe::http
