// Slows down password guessing without letting an attacker lock an account's owner out.
//
// Failures are counted under two keys: the pair (account, address) and the address alone (across
// all accounts: one address spraying many names). Each key gets a number of free failures (5 for
// a pair, 20 for an address); every failure past them delays the key's next attempt, doubling:
// 1 s, 2 s, 4 s ... up to 15 min. An attempt is refused, with the time to wait (a Retry-After),
// while either of its keys is delayed. There is no key for an account alone, so failures from
// address A never delay the account's owner at address B. A correct password forgets its pair's
// failures but not its address's: otherwise an attacker who owns one account could wipe their
// address's count by signing in to it between guesses. A key is forgotten once a whole window
// (15 min) has passed after its last failure and the delay that failure caused.
//
// Parallel requests: admit() counts the attempts it lets through as in flight until failed() or
// succeeded() reports them, and past a key's free failures lets through one attempt at a time, so
// that a burst of simultaneous guesses gets no more tries than the same guesses one after another.
// An attempt never reported (the caller threw) stops counting after attempt_timeout.
//
// Memory is bounded: at most max_keys keys, the one whose last attempt is oldest evicted first;
// accounts are keyed by their first 256 bytes (ASCII case folded, as user names compare) and
// addresses by their first 64. The caller passes an IPv6 client's /64 prefix as its address: one
// host has a whole /64 to itself.
//
// Time is the caller's (`now` arguments); the class reads no clock. Thread-safe.
#pragma once
#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace framepipe::http {

struct ThrottleRules {
  int free_failures_per_pair = 5;
  int free_failures_per_address = 20;
  std::chrono::seconds window = std::chrono::minutes(15);
  std::chrono::seconds first_delay = std::chrono::seconds(1);
  std::chrono::seconds max_delay = std::chrono::minutes(15);
  std::chrono::seconds attempt_timeout = std::chrono::seconds(60);
  size_t max_keys = 100'000;  // about 200 bytes each; at least 2
};

class LoginThrottle {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit LoginThrottle(ThrottleRules rules = {});

  // Asks to check a password for `account` from `address` at `now`. Nothing: check it, then
  // report the outcome with failed() or succeeded(). Else the attempt is refused and counts for
  // nothing: the seconds to wait (at least 1).
  std::optional<std::chrono::seconds> admit(std::string_view account, std::string_view address,
                                            TimePoint now);
  // The password was wrong (or the account unknown): counts a failure for the pair and the address.
  void failed(std::string_view account, std::string_view address, TimePoint now);
  // The password was right: forgets the pair's failures; ends the address's attempt in flight.
  void succeeded(std::string_view account, std::string_view address);

  // The number of keys remembered (for tests and metrics).
  size_t tracked_keys() const;

 private:
  struct Entry {
    int failures = 0;
    int in_flight = 0;
    TimePoint last_admitted{};
    TimePoint delayed_until{};                  // the last failure plus the delay it caused
    std::list<std::string>::iterator position;  // in order_
  };
  struct Key {
    std::string name;
    int free_failures = 0;
  };

  Key pair_key(std::string_view account, std::string_view address) const;
  Key address_key(std::string_view address) const;
  // The attempts admitted and not reported, not counting those older than attempt_timeout.
  int in_flight(const Entry& entry, TimePoint now) const;
  bool forgotten(const Entry& entry, TimePoint now) const;
  std::chrono::seconds delay_after(int failures, int free_failures) const;
  // The key's entry, a fresh one if it was unknown or forgotten; marked as the newest.
  Entry& touch(const std::string& name, TimePoint now);
  void erase(std::unordered_map<std::string, Entry>::iterator it);
  // Drops forgotten entries from the oldest end, then the oldest beyond max_keys.
  void trim(TimePoint now);

  ThrottleRules rules_;
  mutable std::mutex mutex_;  // guards entries_ and order_
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // keys, least recently attempted first
};

}  // namespace framepipe::http
