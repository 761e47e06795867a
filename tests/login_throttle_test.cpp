#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

// The throttle is private to the http-frontend; its header needs only the standard library.
#include "../http-frontend/src/login_throttle.hpp"

using namespace framepipe::http;
using namespace std::chrono_literals;
using Seconds = std::chrono::seconds;

namespace {

// Fake time: an arbitrary start, moved by hand.
const LoginThrottle::TimePoint kStart{std::chrono::hours(1000)};

// One wrong password, if the throttle admits it. Returns the refusal's wait, if any.
std::optional<Seconds> fail(LoginThrottle& throttle, std::string_view account,
                            std::string_view address, LoginThrottle::TimePoint now) {
  if (auto wait = throttle.admit(account, address, now)) return wait;
  throttle.failed(account, address, now);
  return std::nullopt;
}

bool admitted_and_succeeds(LoginThrottle& throttle, std::string_view account,
                           std::string_view address, LoginThrottle::TimePoint now) {
  if (throttle.admit(account, address, now)) return false;
  throttle.succeeded(account, address);
  return true;
}

}  // namespace

TEST_CASE("throttle: five free failures per account and address, then 1 s", "[throttle]") {
  LoginThrottle throttle;
  auto now = kStart;
  for (int i = 0; i < 5; ++i) {
    CHECK_FALSE(fail(throttle, "alice", "10.0.0.1", now));
    now += 10ms;
  }
  // The fifth failure was free: the sixth attempt is admitted at once, and its failure costs 1 s.
  CHECK_FALSE(fail(throttle, "alice", "10.0.0.1", now));
  CHECK(throttle.admit("alice", "10.0.0.1", now) == Seconds(1));
  CHECK(throttle.admit("alice", "10.0.0.1", now + 999ms) == Seconds(1));  // rounded up
  // A refused attempt counts for nothing: refusing it a hundred times changes no delay.
  for (int i = 0; i < 100; ++i) CHECK(throttle.admit("alice", "10.0.0.1", now + 500ms));
  CHECK_FALSE(fail(throttle, "alice", "10.0.0.1", now + 1s));
  CHECK(throttle.admit("alice", "10.0.0.1", now + 1s) == Seconds(2));
}

TEST_CASE("throttle: the delay doubles up to 15 minutes and stays there", "[throttle]") {
  LoginThrottle throttle;
  auto now = kStart;
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(fail(throttle, "alice", "10.0.0.1", now));
  std::vector<int64_t> delays;
  for (int i = 0; i < 14; ++i) {
    REQUIRE_FALSE(fail(throttle, "alice", "10.0.0.1", now));
    const auto wait = throttle.admit("alice", "10.0.0.1", now);
    REQUIRE(wait);
    delays.push_back(wait->count());
    // Refused until the delay is over to the millisecond, admitted from then on.
    CHECK(throttle.admit("alice", "10.0.0.1", now + *wait - 1ms) == Seconds(1));
    now += *wait;
  }
  CHECK(delays == std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900});
}

TEST_CASE("throttle: an attacker at one address does not lock the owner out at another",
          "[throttle]") {
  LoginThrottle throttle;
  auto now = kStart;
  for (int i = 0; i < 12; ++i) {
    if (auto wait = fail(throttle, "alice", "203.0.113.9", now)) {
      now += *wait;
      REQUIRE_FALSE(fail(throttle, "alice", "203.0.113.9", now));
    }
  }
  REQUIRE(throttle.admit("alice", "203.0.113.9", now));
  // The owner, elsewhere, at the same moment: admitted, and in.
  CHECK(admitted_and_succeeds(throttle, "alice", "198.51.100.7", now));
  // Even after mistyping a few times.
  for (int i = 0; i < 3; ++i) CHECK_FALSE(fail(throttle, "alice", "198.51.100.7", now));
  CHECK(admitted_and_succeeds(throttle, "alice", "198.51.100.7", now));
  // The attacker is still delayed.
  CHECK(throttle.admit("alice", "203.0.113.9", now));
}

TEST_CASE("throttle: one address trying many accounts is slowed after 20 failures", "[throttle]") {
  LoginThrottle throttle;
  const auto now = kStart;
  // One failure per name: no pair gets near its five, the address reaches its twenty.
  for (int i = 0; i < 20; ++i)
    CHECK_FALSE(fail(throttle, "user" + std::to_string(i), "10.9.9.9", now));
  CHECK_FALSE(fail(throttle, "user20", "10.9.9.9", now));  // the 21st failure costs 1 s
  CHECK(throttle.admit("someone-new", "10.9.9.9", now) == Seconds(1));
  CHECK(throttle.admit("user0", "10.9.9.9", now) == Seconds(1));
  // Another address is not concerned, even for the same names.
  CHECK_FALSE(throttle.admit("someone-new", "10.9.9.10", now));
  CHECK_FALSE(throttle.admit("user0", "10.9.9.10", now));
}

TEST_CASE("throttle: an IPv6 client counts with its whole /64", "[throttle]") {
  LoginThrottle throttle;
  const auto now = kStart;
  // Each guess from another address of the same /64, as a host given a /64 can do at will.
  const auto address = [](int i) { return "2001:db8:1:2::" + std::to_string(i + 1); };
  for (int i = 0; i < 6; ++i) CHECK_FALSE(fail(throttle, "alice", address(i), now));
  CHECK(throttle.admit("alice", "2001:db8:1:2:ffff::9", now) == Seconds(1));  // the pair's
  for (int i = 6; i < 21; ++i)
    CHECK_FALSE(fail(throttle, "user" + std::to_string(i), address(i), now));
  CHECK(throttle.admit("bob", "2001:db8:1:2:ffff::9", now) == Seconds(1));  // the address's
  CHECK_FALSE(throttle.admit("alice", "2001:db8:1:3::1", now));             // the next /64
  // An IPv4-mapped address is its IPv4 one.
  for (int i = 0; i < 6; ++i) CHECK_FALSE(fail(throttle, "carol", "::ffff:10.1.1.1", now));
  CHECK(throttle.admit("carol", "10.1.1.1", now) == Seconds(1));
}

TEST_CASE("throttle: a right password clears its pair, not its address", "[throttle]") {
  LoginThrottle throttle;
  auto now = kStart;
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(fail(throttle, "alice", "10.0.0.1", now));
  CHECK(admitted_and_succeeds(throttle, "alice", "10.0.0.1", now));
  // Five free failures again, then the delay starts over at 1 s.
  for (int i = 0; i < 6; ++i) CHECK_FALSE(fail(throttle, "alice", "10.0.0.1", now));
  CHECK(throttle.admit("alice", "10.0.0.1", now) == Seconds(1));

  // An attacker with an account of their own cannot wipe their address's count by signing in to
  // it between guesses at other names.
  LoginThrottle sprayed;
  for (int i = 0; i < 21; ++i) {
    REQUIRE_FALSE(fail(sprayed, "victim" + std::to_string(i), "10.6.6.6", now));
    if (i < 20) REQUIRE(admitted_and_succeeds(sprayed, "mallory", "10.6.6.6", now));
  }
  CHECK(sprayed.admit("victim99", "10.6.6.6", now) == Seconds(1));
  CHECK(sprayed.admit("mallory", "10.6.6.6", now) == Seconds(1));
}

TEST_CASE("throttle: account names compare ignoring ASCII case", "[throttle]") {
  LoginThrottle throttle;
  const auto now = kStart;
  for (const char* name : {"alice", "Alice", "ALICE", "aLiCe", "alicE", "ALIce"}) {
    REQUIRE_FALSE(fail(throttle, name, "10.0.0.1", now));
  }
  CHECK(throttle.admit("alice", "10.0.0.1", now) == Seconds(1));
}

TEST_CASE("throttle: failures are forgotten a window after the last delay ended", "[throttle]") {
  LoginThrottle throttle;
  auto now = kStart;
  for (int i = 0; i < 7; ++i) REQUIRE_FALSE(fail(throttle, "alice", "10.0.0.1", now + Seconds(i)));
  now += 6s;  // the 7th failure, delayed 2 s: until now + 2 s
  CHECK(throttle.tracked_keys() == 2);
  const auto forgotten_at = now + 2s + 15min;
  // Just before: remembered; the failure there costs 4 s.
  CHECK_FALSE(fail(throttle, "alice", "10.0.0.1", forgotten_at - 1ms));
  CHECK(throttle.admit("alice", "10.0.0.1", forgotten_at - 1ms) == Seconds(4));

  LoginThrottle quiet;
  for (int i = 0; i < 7; ++i)
    REQUIRE_FALSE(fail(quiet, "alice", "10.0.0.1", now - 6s + Seconds(i)));
  // At the moment itself: forgotten, five free failures again.
  for (int i = 0; i < 5; ++i) CHECK_FALSE(fail(quiet, "alice", "10.0.0.1", forgotten_at));
  CHECK_FALSE(quiet.admit("alice", "10.0.0.1", forgotten_at));
  // And forgotten keys do not stay in memory: another address's attempt drops them.
  LoginThrottle tidy;
  REQUIRE_FALSE(fail(tidy, "alice", "10.0.0.1", kStart));
  CHECK(tidy.tracked_keys() == 2);
  REQUIRE_FALSE(fail(tidy, "bob", "10.0.0.2", kStart + 15min));
  CHECK(tidy.tracked_keys() == 2);  // alice's two went, bob's two came
}

TEST_CASE("throttle: memory is bounded, the oldest keys go first", "[throttle]") {
  ThrottleRules rules;
  rules.max_keys = 10;
  LoginThrottle throttle(rules);
  auto now = kStart;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE_FALSE(fail(throttle, "alice",
                       "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250), now));
    now += 1ms;
    CHECK(throttle.tracked_keys() <= 10);
  }
  CHECK(throttle.tracked_keys() == 10);
  // The newest are remembered: the last address spent its five free failures, the sixth costs.
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(fail(throttle, "alice", "10.0.3.249", now));
  CHECK(throttle.admit("alice", "10.0.3.249", now) == Seconds(1));

  // Huge names and addresses from a client do not make huge keys: only their first bytes count.
  LoginThrottle bounded;
  const std::string long_name(100'000, 'x');
  for (int i = 0; i < 6; ++i) REQUIRE_FALSE(fail(bounded, long_name + std::to_string(i), "a", now));
  CHECK(bounded.admit(long_name, "a", now) == Seconds(1));
}

TEST_CASE("throttle: a burst of parallel guesses gets no more tries than one after another",
          "[throttle]") {
  LoginThrottle throttle;
  const auto now = kStart;
  // Five admitted at once (the free ones), in flight; the sixth waits for them.
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(throttle.admit("alice", "10.0.0.1", now));
  CHECK(throttle.admit("alice", "10.0.0.1", now) == Seconds(1));
  for (int i = 0; i < 5; ++i) throttle.failed("alice", "10.0.0.1", now);
  // Past the free failures, one at a time.
  REQUIRE_FALSE(throttle.admit("alice", "10.0.0.1", now));
  CHECK(throttle.admit("alice", "10.0.0.1", now) == Seconds(1));
  throttle.failed("alice", "10.0.0.1", now);
  CHECK(throttle.admit("alice", "10.0.0.1", now) == Seconds(1));  // now the 1 s delay

  // An attempt never reported (its caller threw) stops counting after attempt_timeout.
  LoginThrottle abandoned;
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(abandoned.admit("bob", "10.0.0.2", now));
  CHECK(abandoned.admit("bob", "10.0.0.2", now + 59s));
  CHECK_FALSE(abandoned.admit("bob", "10.0.0.2", now + 60s));
}
