#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// The account store is private to the http-frontend; its header needs only the standard library.
#include "../http-frontend/src/account_store.hpp"
#include "temporary_directory.hpp"

using namespace framepipe::http;
using framepipe::testing::TemporaryDirectory;

namespace {

constexpr int64_t kNow = 1'700'000'000'000;  // unix ms
constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

// Hashes at the minimal cost, once per password, so that each test takes milliseconds.
std::string hash_of(const std::string& password) {
  return hash_password(password, PasswordCost::minimal);
}

User add_user(AccountStore& store, const std::string& name, int64_t now = kNow) {
  const UserCreation creation = store.create_user(name, hash_of(name + "-password"), now);
  REQUIRE(creation.outcome == UserCreation::Outcome::created);
  REQUIRE(creation.user);
  return *creation.user;
}

std::string file_text(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("accounts: the first user is an admin, the next are not; names ignore case",
          "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  CHECK(store.user_count() == 0);
  const User ada = add_user(store, "Ada");
  CHECK(ada.is_admin);
  CHECK_FALSE(ada.disabled);
  CHECK(ada.name == "Ada");
  CHECK(ada.created_ms == kNow);
  CHECK_FALSE(ada.quota_bytes);
  const User bob = add_user(store, "bob", kNow + 1);
  CHECK_FALSE(bob.is_admin);
  CHECK(bob.id != ada.id);
  CHECK(store.user_count() == 2);

  for (const char* taken : {"Ada", "ada", "ADA", "aDa"}) {
    const UserCreation again = store.create_user(taken, hash_of("x"), kNow);
    CHECK(again.outcome == UserCreation::Outcome::name_taken);
    CHECK_FALSE(again.user);
  }
  CHECK(store.create_user("ada/bob", hash_of("x"), kNow).outcome ==
        UserCreation::Outcome::invalid_name);
  CHECK(store.create_user(std::string(65, 'a'), hash_of("x"), kNow).outcome ==
        UserCreation::Outcome::invalid_name);
  // Beyond ASCII, case counts (SQLite's NOCASE folds ASCII only).
  CHECK(store.create_user("\xC3\x89mile", hash_of("x"), kNow).outcome ==
        UserCreation::Outcome::created);
  CHECK(store.create_user("\xC3\xA9mile", hash_of("x"), kNow).outcome ==
        UserCreation::Outcome::created);
  CHECK(store.user_count() == 4);

  REQUIRE(store.find_user_by_name("ADA"));
  CHECK(store.find_user_by_name("ADA")->id == ada.id);
  CHECK(store.find_user_by_name("ADA")->name == "Ada");
  CHECK_FALSE(store.find_user_by_name("carol"));
  REQUIRE(store.find_user(bob.id));
  CHECK(store.find_user(bob.id)->name == "bob");
  CHECK_FALSE(store.find_user(9999));
  const auto users = store.list_users();
  REQUIRE(users.size() == 4);
  CHECK(users[0].name == "Ada");
  CHECK(users[1].name == "bob");

  // A deleted user's id is never given to somebody else.
  CHECK(store.delete_user(bob.id));
  CHECK_FALSE(store.delete_user(bob.id));
  const User carol = add_user(store, "carol");
  CHECK(carol.id > bob.id);
  CHECK_FALSE(carol.is_admin);

  // An admin makes another one, who may take the first's rights back.
  CHECK(store.set_admin(carol.id, true));
  CHECK(store.find_user(carol.id)->is_admin);
  CHECK(store.set_admin(ada.id, false));
  CHECK_FALSE(store.find_user(ada.id)->is_admin);
  CHECK_FALSE(store.set_admin(9999, true));
}

TEST_CASE("accounts: closed sign-up lets only the first user in", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const UserCreation first = store.create_user("root", hash_of("p"), kNow, Signup::first_user_only);
  CHECK(first.outcome == UserCreation::Outcome::created);
  REQUIRE(first.user);
  CHECK(first.user->is_admin);
  const UserCreation second =
      store.create_user("late", hash_of("p"), kNow, Signup::first_user_only);
  CHECK(second.outcome == UserCreation::Outcome::signup_closed);
  CHECK_FALSE(second.user);
  CHECK(store.create_user("late", hash_of("p"), kNow, Signup::open).outcome ==
        UserCreation::Outcome::created);
}

TEST_CASE("accounts: racing first sign-ups make exactly one admin", "[accounts]") {
  const std::string hash = hash_of("password");
  for (const Signup signup : {Signup::first_user_only, Signup::open}) {
    TemporaryDirectory directory;
    // Two stores on one file, as two processes would be: the transaction decides, not the mutex.
    AccountStore first(directory.path());
    AccountStore second(directory.path());
    constexpr int kThreads = 8;
    std::atomic<int> ready{0};
    std::vector<UserCreation> creations(kThreads);
    std::vector<std::string> errors(kThreads);
    {
      std::vector<std::jthread> threads;
      for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
          AccountStore& store = i % 2 == 0 ? first : second;
          ready.fetch_add(1);
          while (ready.load() < kThreads) std::this_thread::yield();
          try {
            creations[i] = store.create_user("user" + std::to_string(i), hash, kNow, signup);
          } catch (const std::exception& error) {
            errors[i] = error.what();
          }
        });
      }
    }
    CHECK(errors == std::vector<std::string>(kThreads));
    const auto outcomes = [&](UserCreation::Outcome outcome) {
      return std::count_if(creations.begin(), creations.end(),
                           [&](const UserCreation& c) { return c.outcome == outcome; });
    };
    const auto admins = std::count_if(creations.begin(), creations.end(),
                                      [](const auto& c) { return c.user && c.user->is_admin; });
    CHECK(admins == 1);
    const auto users = second.list_users();
    CHECK(std::count_if(users.begin(), users.end(), [](const User& u) { return u.is_admin; }) == 1);
    if (signup == Signup::first_user_only) {
      CHECK(outcomes(UserCreation::Outcome::created) == 1);
      CHECK(outcomes(UserCreation::Outcome::signup_closed) == kThreads - 1);
      CHECK(users.size() == 1);
    } else {
      CHECK(outcomes(UserCreation::Outcome::created) == kThreads);
      CHECK(users.size() == kThreads);
      CHECK(users.front().is_admin);  // the first of them
    }
  }
}

TEST_CASE("accounts: logging in", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "Ada");
  const auto cost = PasswordCost::minimal;

  const Login right = store.verify_login("ada", "Ada-password", cost);
  CHECK(right.outcome == Login::Outcome::signed_in);
  REQUIRE(right.user);
  CHECK(right.user->id == ada.id);
  CHECK(store.verify_login("Ada", "ada-password", cost).outcome ==
        Login::Outcome::wrong_name_or_password);
  CHECK_FALSE(store.verify_login("Ada", "ada-password", cost).user);
  CHECK(store.verify_login("nobody", "Ada-password", cost).outcome ==
        Login::Outcome::wrong_name_or_password);
  CHECK(store.verify_login("Ada", std::string(100'000, 'a'), cost).outcome ==
        Login::Outcome::wrong_name_or_password);

  REQUIRE(store.set_disabled(ada.id, true));
  CHECK(store.verify_login("Ada", "Ada-password", cost).outcome == Login::Outcome::disabled);
  // Only the right password learns that the account is disabled.
  CHECK(store.verify_login("Ada", "wrong-password", cost).outcome ==
        Login::Outcome::wrong_name_or_password);
  REQUIRE(store.set_disabled(ada.id, false));
  CHECK(store.verify_login("Ada", "Ada-password", cost).outcome == Login::Outcome::signed_in);
  CHECK_FALSE(store.set_disabled(9999, true));
}

TEST_CASE("accounts: a session works until it expires, to the millisecond", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const Issued session = store.open_session(ada.id, kHour, kNow);
  REQUIRE(session.outcome == Issued::Outcome::issued);
  CHECK(session.expires_ms == kNow + kHour);
  CHECK(session.token.size() == 43);
  CHECK(session.id.size() == 12);

  const auto who = store.authenticate(session.token, kNow + kHour - 1);
  REQUIRE(who);
  CHECK(who->user.id == ada.id);
  CHECK(who->user.name == "ada");
  CHECK(who->kind == CredentialKind::session);
  CHECK(who->credential_id == session.id);
  CHECK_FALSE(store.authenticate(session.token, kNow + kHour));
  CHECK_FALSE(store.authenticate(session.token + "x", kNow));
  CHECK_FALSE(store.authenticate("", kNow));
  CHECK_FALSE(store.authenticate(std::string(1'000'000, 'a'), kNow));

  CHECK(store.open_session(9999, kHour, kNow).outcome == Issued::Outcome::no_such_user);
  CHECK_THROWS_AS(store.open_session(ada.id, 0, kNow), std::invalid_argument);

  // Expired sessions are purged; live ones stay.
  const Issued live = store.open_session(ada.id, 2 * kHour, kNow);
  CHECK(store.purge_credentials(kNow + kHour) == 1);
  CHECK(store.purge_credentials(kNow + kHour) == 0);
  CHECK(store.authenticate(live.token, kNow + kHour));
}

TEST_CASE("accounts: logout ends the session and only it", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const Issued phone = store.open_session(ada.id, kHour, kNow);
  const Issued laptop = store.open_session(ada.id, kHour, kNow);
  CHECK(phone.token != laptop.token);
  CHECK(store.end_credential(phone.token));
  CHECK_FALSE(store.authenticate(phone.token, kNow));
  CHECK(store.authenticate(laptop.token, kNow));
  CHECK_FALSE(store.end_credential(phone.token));
  CHECK_FALSE(store.end_credential(""));
}

TEST_CASE("accounts: a new password ends the user's other sessions, not their tokens",
          "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const auto cost = PasswordCost::minimal;
  const User ada = add_user(store, "ada");
  const User bob = add_user(store, "bob");
  const Issued here = store.open_session(ada.id, kHour, kNow);
  const Issued elsewhere = store.open_session(ada.id, kHour, kNow);
  const Issued script = store.create_api_token(ada.id, "backup", kNow);
  const Issued bobs = store.open_session(bob.id, kHour, kNow);

  CHECK(store.set_password(ada.id, hash_of("a new password"), here.token) == 1);
  CHECK(store.verify_login("ada", "a new password", cost).outcome == Login::Outcome::signed_in);
  CHECK(store.verify_login("ada", "ada-password", cost).outcome ==
        Login::Outcome::wrong_name_or_password);
  CHECK(store.authenticate(here.token, kNow));
  CHECK_FALSE(store.authenticate(elsewhere.token, kNow));
  CHECK(store.authenticate(script.token, kNow));
  CHECK(store.authenticate(bobs.token, kNow));

  // Set by someone else (an admin, the command line): every session of the user ends.
  CHECK(store.set_password(ada.id, hash_of("another one!"), bobs.token) == 1);
  CHECK_FALSE(store.authenticate(here.token, kNow));
  CHECK(store.authenticate(bobs.token, kNow));
  CHECK(store.set_password(ada.id, hash_of("and a third"), "") == 0);
  CHECK_FALSE(store.set_password(9999, hash_of("nobody's"), ""));
}

TEST_CASE("accounts: a user has at most 50 sessions, the oldest end first", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  std::vector<std::string> tokens;
  for (int i = 0; i < AccountStore::kMaxSessionsPerUser + 2; ++i) {
    tokens.push_back(store.open_session(ada.id, kDay, kNow + i).token);
  }
  CHECK_FALSE(store.authenticate(tokens[0], kNow + kHour));
  CHECK_FALSE(store.authenticate(tokens[1], kNow + kHour));
  for (size_t i = 2; i < tokens.size(); ++i) CHECK(store.authenticate(tokens[i], kNow + kHour));
}

TEST_CASE("accounts: disabling a user ends their sessions and tokens for good", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const User bob = add_user(store, "bob");
  const Issued session = store.open_session(bob.id, kHour, kNow);
  const Issued token = store.create_api_token(bob.id, "laptop", kNow);
  const Issued others = store.open_session(ada.id, kHour, kNow);
  REQUIRE(store.authenticate(session.token, kNow));
  REQUIRE(store.authenticate(token.token, kNow));

  REQUIRE(store.set_disabled(bob.id, true));
  CHECK(store.find_user(bob.id)->disabled);
  CHECK_FALSE(store.authenticate(session.token, kNow));
  CHECK_FALSE(store.authenticate(token.token, kNow));
  CHECK(store.list_api_tokens(bob.id).empty());
  CHECK(store.authenticate(others.token, kNow));
  CHECK(store.open_session(bob.id, kHour, kNow).outcome == Issued::Outcome::no_such_user);
  CHECK(store.create_api_token(bob.id, "x", kNow).outcome == Issued::Outcome::no_such_user);
  CHECK(store.create_share(bob.id, "job", kHour, std::nullopt, kNow).outcome ==
        Issued::Outcome::no_such_user);

  REQUIRE(store.set_disabled(bob.id, false));
  CHECK_FALSE(store.authenticate(session.token, kNow));
  CHECK_FALSE(store.authenticate(token.token, kNow));
  CHECK(store.open_session(bob.id, kHour, kNow).outcome == Issued::Outcome::issued);
}

TEST_CASE("accounts: API tokens are listed without their secret, revoked only by their owner",
          "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const User bob = add_user(store, "bob");
  const Issued ci = store.create_api_token(ada.id, "ci", kNow);
  const Issued laptop = store.create_api_token(ada.id, "laptop", kNow + 1);
  REQUIRE(ci.outcome == Issued::Outcome::issued);
  CHECK_FALSE(ci.expires_ms);
  const auto who = store.authenticate(ci.token, kNow + 10);
  REQUIRE(who);
  CHECK(who->kind == CredentialKind::api_token);
  CHECK(who->credential_id == ci.id);

  const auto listed = store.list_api_tokens(ada.id);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].id == laptop.id);  // newest first
  CHECK(listed[0].label == "laptop");
  CHECK_FALSE(listed[0].last_used_ms);
  CHECK(listed[1].id == ci.id);
  CHECK(listed[1].label == "ci");
  CHECK(listed[1].created_ms == kNow);
  CHECK(listed[1].last_used_ms == kNow + 10);
  for (const ApiTokenInfo& info : listed) {
    for (const std::string* secret : {&ci.token, &laptop.token}) {
      CHECK(info.id.find(*secret) == std::string::npos);
      CHECK(info.label.find(*secret) == std::string::npos);
    }
  }
  // Nor is any token in the database's files: only its digest.
  const std::string stored =
      file_text(directory.path() / "accounts.db") + file_text(directory.path() / "accounts.db-wal");
  CHECK(stored.find(token_digest(ci.token)) != std::string::npos);
  CHECK(stored.find(ci.token) == std::string::npos);
  CHECK(stored.find(laptop.token) == std::string::npos);
  CHECK(store.list_api_tokens(bob.id).empty());

  // Bob cannot revoke Ada's token, nor a session through this call.
  CHECK_FALSE(store.revoke_api_token(bob.id, ci.id));
  CHECK(store.authenticate(ci.token, kNow));
  const Issued session = store.open_session(ada.id, kHour, kNow);
  CHECK_FALSE(store.revoke_api_token(ada.id, session.id));
  CHECK(store.authenticate(session.token, kNow));
  CHECK(store.revoke_api_token(ada.id, ci.id));
  CHECK_FALSE(store.authenticate(ci.token, kNow));
  CHECK_FALSE(store.revoke_api_token(ada.id, ci.id));
  CHECK(store.authenticate(laptop.token, kNow));
  CHECK(store.list_api_tokens(ada.id).size() == 1);
}

TEST_CASE("accounts: a credential's use is recorded at most once a minute", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const Issued token = store.create_api_token(ada.id, "ci", kNow);
  const auto last_used = [&] { return store.list_api_tokens(ada.id).at(0).last_used_ms; };
  REQUIRE(store.authenticate(token.token, kNow + 1000));
  CHECK(last_used() == kNow + 1000);
  REQUIRE(store.authenticate(token.token, kNow + 1000 + kMinute - 1));
  CHECK(last_used() == kNow + 1000);
  REQUIRE(store.authenticate(token.token, kNow + 1000 + kMinute));
  CHECK(last_used() == kNow + 1000 + kMinute);
}

TEST_CASE("accounts: a user holds at most 50 API tokens", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  std::string first_id;
  for (int i = 0; i < AccountStore::kMaxApiTokensPerUser; ++i) {
    const Issued token = store.create_api_token(ada.id, "t" + std::to_string(i), kNow);
    REQUIRE(token.outcome == Issued::Outcome::issued);
    if (i == 0) first_id = token.id;
  }
  const Issued refused = store.create_api_token(ada.id, "one more", kNow);
  CHECK(refused.outcome == Issued::Outcome::too_many);
  CHECK(refused.token.empty());
  REQUIRE(store.revoke_api_token(ada.id, first_id));
  CHECK(store.create_api_token(ada.id, "one more", kNow).outcome == Issued::Outcome::issued);
}

TEST_CASE("accounts: the last download of a used-up share goes on, uncounted, for a while",
          "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const Issued share = store.create_share(ada.id, "job-1", kHour, 1, kNow);
  constexpr int64_t kGrace = 600'000;
  const Redemption first = store.redeem_share(share.token, kNow, true, kGrace);
  CHECK(first.outcome == Redemption::Outcome::redeemed);
  CHECK(first.expires_ms == kNow + kHour);
  // The player seeks: ranges after the first byte, not counted.
  CHECK(store.redeem_share(share.token, kNow + 1000, false, kGrace).outcome ==
        Redemption::Outcome::redeemed);
  CHECK(store.redeem_share(share.token, kNow + kGrace - 1, false, kGrace).outcome ==
        Redemption::Outcome::redeemed);
  // A new download from the start is refused, and so is going on past the grace.
  CHECK(store.redeem_share(share.token, kNow + 1000, true, kGrace).outcome ==
        Redemption::Outcome::used_up);
  CHECK(store.redeem_share(share.token, kNow + kGrace, false, kGrace).outcome ==
        Redemption::Outcome::used_up);
  // Without a grace, used up is used up.
  CHECK(store.redeem_share(share.token, kNow + 1, false).outcome == Redemption::Outcome::used_up);
}

TEST_CASE("accounts: a share counts its downloads and ends expired, revoked or used up",
          "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const User bob = add_user(store, "bob");
  const Issued share = store.create_share(ada.id, "job-1", kHour, 3, kNow);
  REQUIRE(share.outcome == Issued::Outcome::issued);
  CHECK(share.expires_ms == kNow + kHour);

  // Looking without counting (a HEAD request) counts nothing.
  for (int i = 0; i < 10; ++i) {
    CHECK(store.redeem_share(share.token, kNow, false).outcome == Redemption::Outcome::redeemed);
  }
  for (int i = 0; i < 3; ++i) {
    const Redemption redemption = store.redeem_share(share.token, kNow + i, true);
    CHECK(redemption.outcome == Redemption::Outcome::redeemed);
    CHECK(redemption.job_id == "job-1");
    CHECK(redemption.owner_id == ada.id);
    CHECK(redemption.share_id == share.id);
  }
  CHECK(store.redeem_share(share.token, kNow + 3, true).outcome == Redemption::Outcome::used_up);
  CHECK(store.redeem_share(share.token, kNow + 3, false).outcome == Redemption::Outcome::used_up);
  auto listed = store.list_shares(ada.id, kNow + 4);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].id == share.id);
  CHECK(listed[0].job_id == "job-1");
  CHECK(listed[0].downloads == 3);
  CHECK(listed[0].max_downloads == 3);
  CHECK(listed[0].last_download_ms == kNow + 2);
  CHECK(listed[0].state == ShareState::used_up);
  CHECK(to_string(listed[0].state) == "used_up");

  // Expiry at the millisecond; unlimited downloads until then.
  const Issued open = store.create_share(ada.id, "job-2", kHour, std::nullopt, kNow);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(store.redeem_share(open.token, kNow + kHour - 1, true).outcome ==
            Redemption::Outcome::redeemed);
  }
  CHECK(store.redeem_share(open.token, kNow + kHour, true).outcome == Redemption::Outcome::expired);
  CHECK(store.list_shares(ada.id, kNow + kHour)[0].state == ShareState::expired);
  CHECK(store.list_shares(ada.id, kNow + kHour)[0].downloads == 20);

  // Revoked: only by its owner; revoked wins over expired.
  const Issued third = store.create_share(ada.id, "job-3", kHour, std::nullopt, kNow);
  CHECK_FALSE(store.revoke_share(bob.id, third.id, kNow));
  CHECK(store.redeem_share(third.token, kNow, true).outcome == Redemption::Outcome::redeemed);
  CHECK(store.revoke_share(ada.id, third.id, kNow + 5));
  CHECK(store.revoke_share(ada.id, third.id, kNow + 9));  // again: the first time stays
  CHECK(store.redeem_share(third.token, kNow + 6, true).outcome == Redemption::Outcome::revoked);
  CHECK(store.redeem_share(third.token, kNow + 2 * kHour, true).outcome ==
        Redemption::Outcome::revoked);
  listed = store.list_shares(ada.id, kNow + 6);
  REQUIRE(listed.size() == 3);
  CHECK(listed[0].id == third.id);  // newest first (created in the same ms: by insertion)
  CHECK(listed[0].state == ShareState::revoked);
  CHECK(listed[0].revoked_ms == kNow + 5);
  CHECK(listed[0].downloads == 1);
  CHECK(store.list_shares(bob.id, kNow).empty());

  CHECK(store.redeem_share("no-such-token", kNow, true).outcome == Redemption::Outcome::unknown);
  CHECK(store.redeem_share("", kNow, true).outcome == Redemption::Outcome::unknown);
  CHECK(store.redeem_share(std::string(1'000'000, 'x'), kNow, true).outcome ==
        Redemption::Outcome::unknown);
  // A session token is no share token, and the other way round.
  const Issued session = store.open_session(ada.id, kHour, kNow);
  CHECK(store.redeem_share(session.token, kNow, true).outcome == Redemption::Outcome::unknown);
  CHECK_FALSE(store.authenticate(open.token, kNow));

  CHECK_THROWS_AS(store.create_share(ada.id, "job", 0, std::nullopt, kNow), std::invalid_argument);
  CHECK_THROWS_AS(store.create_share(ada.id, "job", kHour, 0, kNow), std::invalid_argument);
}

TEST_CASE("accounts: a disabled owner's shares answer revoked until re-enabled", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  add_user(store, "ada");
  const User bob = add_user(store, "bob");
  const Issued share = store.create_share(bob.id, "job", kHour, std::nullopt, kNow);
  REQUIRE(store.set_disabled(bob.id, true));
  CHECK(store.redeem_share(share.token, kNow, true).outcome == Redemption::Outcome::revoked);
  CHECK(store.list_shares(bob.id, kNow).at(0).state == ShareState::revoked);
  REQUIRE(store.set_disabled(bob.id, false));
  CHECK(store.redeem_share(share.token, kNow, true).outcome == Redemption::Outcome::redeemed);
}

TEST_CASE("accounts: concurrent last downloads: exactly max_downloads pass", "[accounts]") {
  TemporaryDirectory directory;
  constexpr int kThreads = 8;
  constexpr int kTriesEach = 20;
  constexpr int kMaxDownloads = 50;
  // A store per thread, as if each were another process: the transaction decides, not the mutex.
  std::vector<std::unique_ptr<AccountStore>> stores;
  for (int i = 0; i < kThreads; ++i) {
    stores.push_back(std::make_unique<AccountStore>(directory.path()));
  }
  const User ada = add_user(*stores[0], "ada");
  const Issued share = stores[0]->create_share(ada.id, "job", kHour, kMaxDownloads, kNow);
  std::atomic<int> ready{0};
  std::atomic<int> redeemed{0};
  std::atomic<int> used_up{0};
  std::vector<std::string> errors(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        try {
          for (int t = 0; t < kTriesEach; ++t) {
            const auto outcome = stores[i]->redeem_share(share.token, kNow, true).outcome;
            if (outcome == Redemption::Outcome::redeemed) redeemed.fetch_add(1);
            if (outcome == Redemption::Outcome::used_up) used_up.fetch_add(1);
          }
        } catch (const std::exception& error) {
          errors[i] = error.what();
        }
      });
    }
  }
  CHECK(errors == std::vector<std::string>(kThreads));
  CHECK(redeemed.load() == kMaxDownloads);
  CHECK(used_up.load() == kThreads * kTriesEach - kMaxDownloads);
  CHECK(stores[0]->list_shares(ada.id, kNow).at(0).downloads == kMaxDownloads);
}

TEST_CASE("accounts: deleting a user deletes their credentials and shares", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const User bob = add_user(store, "bob");
  const Issued session = store.open_session(bob.id, kHour, kNow);
  const Issued token = store.create_api_token(bob.id, "ci", kNow);
  const Issued share = store.create_share(bob.id, "job-b", kHour, std::nullopt, kNow);
  const Issued adas = store.create_share(ada.id, "job-a", kHour, std::nullopt, kNow);
  const Issued adas_session = store.open_session(ada.id, kHour, kNow);

  REQUIRE(store.delete_user(bob.id));
  CHECK_FALSE(store.find_user(bob.id));
  CHECK_FALSE(store.authenticate(session.token, kNow));
  CHECK_FALSE(store.authenticate(token.token, kNow));
  CHECK(store.redeem_share(share.token, kNow, false).outcome == Redemption::Outcome::unknown);
  CHECK(store.list_api_tokens(bob.id).empty());
  CHECK(store.list_shares(bob.id, kNow).empty());
  CHECK(store.redeem_share(adas.token, kNow, false).outcome == Redemption::Outcome::redeemed);
  CHECK(store.authenticate(adas_session.token, kNow));
  // The rows are gone, not merely unreachable: nothing is left to purge.
  CHECK(store.purge_shares(kNow + 365 * kDay, 0) == 1);    // Ada's
  CHECK(store.purge_credentials(kNow + 365 * kDay) == 1);  // Ada's session
}

TEST_CASE("accounts: shares of a deleted job go; gone shares are purged after retention",
          "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  const auto share = [&](const std::string& job, std::optional<int64_t> max_downloads,
                         int64_t ttl = kHour) {
    return store.create_share(ada.id, job, ttl, max_downloads, kNow);
  };
  const Issued a = share("job-a", std::nullopt);
  share("job-a", 2);
  const Issued b = share("job-b", std::nullopt);
  CHECK(store.delete_shares_of_job("job-a") == 2);
  CHECK(store.delete_shares_of_job("job-a") == 0);
  CHECK(store.redeem_share(a.token, kNow, false).outcome == Redemption::Outcome::unknown);
  CHECK(store.redeem_share(b.token, kNow, false).outcome == Redemption::Outcome::redeemed);

  const int64_t retention = AccountStore::kShareRetentionMs;
  // b expires at kNow + 1 h. Revoked at kNow + 10 min:
  const Issued revoked = share("job-c", std::nullopt, 30 * kDay);
  REQUIRE(store.revoke_share(ada.id, revoked.id, kNow + 10 * kMinute));
  // Used up at kNow + 20 min:
  const Issued used = share("job-d", 1, 30 * kDay);
  REQUIRE(store.redeem_share(used.token, kNow + 20 * kMinute, true).outcome ==
          Redemption::Outcome::redeemed);
  // Still active for 30 days, and one with downloads left:
  share("job-e", std::nullopt, 30 * kDay);
  const Issued partly = share("job-f", 2, 30 * kDay);
  REQUIRE(store.redeem_share(partly.token, kNow, true).outcome == Redemption::Outcome::redeemed);

  CHECK(store.purge_shares(kNow + 10 * kMinute + retention - 1) == 0);
  CHECK(store.purge_shares(kNow + 10 * kMinute + retention) == 1);  // revoked
  CHECK(store.purge_shares(kNow + 20 * kMinute + retention) == 1);  // used up
  CHECK(store.purge_shares(kNow + kHour + retention) == 1);         // b, expired
  CHECK(store.list_shares(ada.id, kNow).size() == 2);
  CHECK(store.purge_shares(kNow + 30 * kDay + retention) == 2);
  CHECK(store.list_shares(ada.id, kNow).empty());
}

TEST_CASE("accounts: at most 1000 shares per user, counting gone ones until purged", "[accounts]") {
  TemporaryDirectory directory;
  AccountStore store(directory.path());
  const User ada = add_user(store, "ada");
  for (int i = 0; i < AccountStore::kMaxSharesPerUser; ++i) {
    REQUIRE(store.create_share(ada.id, "job", kMinute, std::nullopt, kNow).outcome ==
            Issued::Outcome::issued);
  }
  CHECK(store.create_share(ada.id, "job", kMinute, std::nullopt, kNow).outcome ==
        Issued::Outcome::too_many);
  CHECK(store.purge_shares(kNow + kMinute, 0) == AccountStore::kMaxSharesPerUser);
  CHECK(store.create_share(ada.id, "job", kMinute, std::nullopt, kNow).outcome ==
        Issued::Outcome::issued);
}

TEST_CASE("accounts: quotas, and everything survives reopening the store", "[accounts]") {
  TemporaryDirectory directory;
  int64_t ada_id = 0;
  std::string token;
  std::string share_token;
  {
    AccountStore store(directory.path());
    ada_id = add_user(store, "ada").id;
    CHECK(store.set_quota(ada_id, 5'000'000'000));
    CHECK(store.find_user(ada_id)->quota_bytes == 5'000'000'000);
    CHECK_FALSE(store.set_quota(9999, 1));
    CHECK_THROWS_AS(store.set_quota(ada_id, -1), std::invalid_argument);
    token = store.create_api_token(ada_id, "ci", kNow).token;
    share_token = store.create_share(ada_id, "job", kHour, 2, kNow).token;
    REQUIRE(store.redeem_share(share_token, kNow, true).outcome == Redemption::Outcome::redeemed);
  }
  AccountStore store(directory.path());
  const auto ada = store.find_user_by_name("ADA");
  REQUIRE(ada);
  CHECK(ada->id == ada_id);
  CHECK(ada->is_admin);
  CHECK(ada->quota_bytes == 5'000'000'000);
  CHECK(store.verify_login("ada", "ada-password", PasswordCost::minimal).outcome ==
        Login::Outcome::signed_in);
  CHECK(store.authenticate(token, kNow));
  CHECK(store.redeem_share(share_token, kNow, true).outcome == Redemption::Outcome::redeemed);
  CHECK(store.redeem_share(share_token, kNow, true).outcome == Redemption::Outcome::used_up);
  CHECK(store.set_quota(ada_id, std::nullopt));
  CHECK_FALSE(store.find_user(ada_id)->quota_bytes);
  CHECK_FALSE(add_user(store, "bob").is_admin);
}
