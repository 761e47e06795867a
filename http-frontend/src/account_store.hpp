// The HTTP head's user accounts, persisted in SQLite (accounts.db, WAL): users, their credentials
// (session tokens and personal API tokens) and share links to their jobs' results. A token is
// returned once, when it is made; the database keeps only its digest (token_digest). Times are
// unix milliseconds given by the caller: nothing here reads a clock. Expected outcomes (a name
// taken, an expired token, a share used up) are return values; std::runtime_error means the
// database failed, std::invalid_argument a caller's bug (documented per function). Thread-safe:
// one mutex guards the connection; password hashing runs outside it.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "secrets.hpp"
#include "sqlite.hpp"

namespace framepipe::http {

struct User {
  int64_t id = 0;  // never reused, even after the user is deleted
  std::string name;
  bool is_admin = false;
  bool disabled = false;
  std::optional<int64_t> quota_bytes;  // nothing: the server's default
  int64_t created_ms = 0;
};

// Who may sign up: anyone (an admin creating a user, or open sign-up), or only the very first
// user (closed sign-up: the admin who sets the server up, then nobody).
enum class Signup { open, first_user_only };

struct UserCreation {
  enum class Outcome { created, name_taken, signup_closed, invalid_name };
  Outcome outcome = Outcome::created;
  std::optional<User> user;  // the new user when created
};

struct Login {
  // `disabled` only when the password was right: the owner learns why, nobody else does.
  enum class Outcome { signed_in, wrong_name_or_password, disabled };
  Outcome outcome = Outcome::wrong_name_or_password;
  std::optional<User> user;  // when signed in or disabled
};

enum class CredentialKind { session, api_token };

// A session, an API token or a share, just made. The token is in nothing the store returns later.
struct Issued {
  enum class Outcome {
    issued,
    no_such_user,  // the user does not exist or is disabled
    too_many,      // the user holds the most API tokens or shares there may be
  };
  Outcome outcome = Outcome::issued;
  std::string token;                  // the secret, for the client
  std::string id;                     // the public id, for lists and revoking
  std::optional<int64_t> expires_ms;  // nothing for an API token: it lasts until revoked
};

// Who a token belongs to.
struct Authentication {
  User user;
  CredentialKind kind = CredentialKind::session;
  std::string credential_id;
};

// An API token as listed: never the token itself.
struct ApiTokenInfo {
  std::string id;
  std::string label;
  int64_t created_ms = 0;
  std::optional<int64_t> last_used_ms;  // to the minute (kLastUsedResolutionMs)
};

// In this order of precedence: a revoked share that also expired is revoked.
enum class ShareState { active, revoked, expired, used_up };

struct ShareInfo {
  std::string id;
  std::string job_id;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  std::optional<int64_t> max_downloads;  // nothing: unlimited
  int64_t downloads = 0;
  std::optional<int64_t> last_download_ms;
  std::optional<int64_t> revoked_ms;
  ShareState state = ShareState::active;
};

struct Redemption {
  enum class Outcome { redeemed, unknown, revoked, expired, used_up };
  Outcome outcome = Outcome::unknown;
  // When redeemed:
  std::string share_id;
  int64_t owner_id = 0;
  std::string job_id;
  int64_t expires_ms = 0;
};

std::string_view to_string(ShareState state);

class AccountStore {
 public:
  // authenticate() records a credential's use at most this often, not on every request.
  static constexpr int64_t kLastUsedResolutionMs = 60'000;
  // Opening a session beyond this many ends the user's oldest.
  static constexpr int64_t kMaxSessionsPerUser = 50;
  static constexpr int64_t kMaxApiTokensPerUser = 50;
  // Shares of one user, counting those gone (revoked, expired, used up) until they are purged.
  static constexpr int64_t kMaxSharesPerUser = 1000;
  // How long purge_shares() keeps a gone share, so that its owner sees what became of it and a
  // late visitor learns that it expired rather than that it never existed.
  static constexpr int64_t kShareRetentionMs = 7 * 24 * 3600 * 1000LL;
  // Longer tokens are unknown without being hashed.
  static constexpr size_t kMaxTokenBytes = 256;

  // Opens (creating if needed) `directory`/accounts.db. Throws std::runtime_error if it cannot be
  // opened or its schema made.
  explicit AccountStore(const std::filesystem::path& directory);
  ~AccountStore();
  AccountStore(const AccountStore&) = delete;
  AccountStore& operator=(const AccountStore&) = delete;

  // Users.

  // Adds a user named `name` (unique ignoring ASCII case) with a hash from hash_password(). The
  // first user is an admin; the check and the insert are one transaction, so of two racing first
  // sign-ups exactly one is. invalid_name when username_problem(name) has one.
  UserCreation create_user(std::string_view name, std::string_view password_hash, int64_t now_ms,
                           Signup signup = Signup::open);
  int64_t user_count() const;
  std::optional<User> find_user(int64_t id) const;
  // `name` ignoring ASCII case.
  std::optional<User> find_user_by_name(std::string_view name) const;
  // Every user, oldest first.
  std::vector<User> list_users() const;
  // Disabling also ends every session and API token of the user (re-enabling brings none back);
  // a disabled user's shares answer `revoked` while the user stays disabled. False if no such user.
  bool set_disabled(int64_t id, bool disabled);
  // Makes the user an admin, or an ordinary user. False if no such user.
  bool set_admin(int64_t id, bool admin);
  // Nothing: the server's default. False if no such user. Throws std::invalid_argument for a
  // negative quota.
  bool set_quota(int64_t id, std::optional<int64_t> quota_bytes);
  // Deletes the user with their credentials and shares. False if no such user.
  bool delete_user(int64_t id);
  // Replaces the user's password (a hash from hash_password()) and ends every session of theirs
  // but the one of `keep_token` (the one making the change; empty: none), in one transaction. API
  // tokens stay: they are listed and revoked one by one. Nothing if no such user; else how many
  // sessions ended.
  std::optional<int64_t> set_password(int64_t id, std::string_view password_hash,
                                      std::string_view keep_token = {});

  // Checks a password. An unknown name costs the same argon2id work as a known one (a hash made
  // at `cost`, the cost the real hashes were made at), so the time taken does not tell whether a
  // name exists. Runs the hash outside the store's lock.
  Login verify_login(std::string_view name, std::string_view password, PasswordCost cost) const;

  // Credentials.

  // A session for `ttl_ms` (> 0, else std::invalid_argument): valid while now < expires_ms. Drops
  // the user's expired sessions and, past kMaxSessionsPerUser, ends the oldest.
  Issued open_session(int64_t user_id, int64_t ttl_ms, int64_t now_ms);
  // A personal API token that lasts until revoked. `label` is stored as given (the caller bounds
  // it). too_many at kMaxApiTokensPerUser.
  Issued create_api_token(int64_t user_id, std::string_view label, int64_t now_ms);
  // The owner of `token`, or nothing when it is unknown, expired or its user is disabled. Records
  // the use (last_used_ms) when the last record is kLastUsedResolutionMs old or more.
  std::optional<Authentication> authenticate(std::string_view token, int64_t now_ms);
  // Ends the credential `token` (a logout). False if it was unknown.
  bool end_credential(std::string_view token);
  // The user's API tokens, newest first, without their secrets.
  std::vector<ApiTokenInfo> list_api_tokens(int64_t user_id) const;
  // False when `id` is no API token of `user_id` (also when it is another user's).
  bool revoke_api_token(int64_t user_id, std::string_view id);
  // Deletes expired sessions; returns how many.
  int64_t purge_credentials(int64_t now_ms);

  // Shares: a token that lets anyone holding it download one job's result.

  // A share of `job_id` (the caller checks that the user owns it) valid while now < expires_ms,
  // for at most `max_downloads` counted downloads (nothing: unlimited). Throws
  // std::invalid_argument for ttl_ms <= 0 or max_downloads < 1. too_many at kMaxSharesPerUser.
  Issued create_share(int64_t user_id, std::string_view job_id, int64_t ttl_ms,
                      std::optional<int64_t> max_downloads, int64_t now_ms);
  // The user's shares, newest first, with their state at `now_ms`.
  std::vector<ShareInfo> list_shares(int64_t user_id, int64_t now_ms) const;
  // False when `share_id` is no share of `user_id`. Revoking twice keeps the first time.
  bool revoke_share(int64_t user_id, std::string_view share_id, int64_t now_ms);
  // The job a share token opens, or why it opens nothing. With `count_download`, a successful
  // redemption counts one download; the check and the count are one transaction, so at
  // max_downloads no two concurrent redemptions both pass. (A HEAD request, or a range request
  // after the first, should not count.) A share used up still answers uncounted redemptions for
  // `continuation_ms` after its last counted download: the player of that download seeks.
  Redemption redeem_share(std::string_view token, int64_t now_ms, bool count_download,
                          int64_t continuation_ms = 0);
  // Deletes every share of a job (the job was deleted); returns how many.
  int64_t delete_shares_of_job(std::string_view job_id);
  // Deletes the shares that have been gone (revoked, expired, used up) for `retention_ms`;
  // returns how many.
  int64_t purge_shares(int64_t now_ms, int64_t retention_ms = kShareRetentionMs);

 private:
  std::optional<User> find_user_locked(int64_t id) const;
  // The hash an unknown name's password is checked against, made once per cost.
  const std::string& dummy_hash(PasswordCost cost) const;

  mutable std::mutex mutex_;       // guards connection_
  sqlite::Connection connection_;  // owned
  mutable std::array<std::once_flag, 2> dummy_made_;
  mutable std::array<std::string, 2> dummy_hashes_;  // written once each, under dummy_made_
};

}  // namespace framepipe::http
