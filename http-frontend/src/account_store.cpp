#include "account_store.hpp"

#include <stdexcept>
#include <utility>

namespace framepipe::http {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

constexpr int64_t kSchemaVersion = 1;

// Names compare ignoring ASCII case only (SQLite's NOCASE): "Ada" and "ADA" are one name, "Émile"
// and "émile" two. User ids are AUTOINCREMENT so that a deleted user's id, which may live on
// elsewhere (logs, a job's owner), never names somebody else.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL COLLATE NOCASE UNIQUE,
  password_hash TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  quota_bytes INTEGER CHECK (quota_bytes IS NULL OR quota_bytes >= 0),
  created_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS credentials (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('session', 'api_token')),
  label TEXT NOT NULL DEFAULT '',
  digest TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER CHECK (expires_ms IS NOT NULL OR kind = 'api_token'),
  last_used_ms INTEGER
);
CREATE INDEX IF NOT EXISTS credentials_by_user ON credentials (user_id, kind, created_ms);
CREATE INDEX IF NOT EXISTS credentials_by_expiry ON credentials (expires_ms)
  WHERE expires_ms IS NOT NULL;

CREATE TABLE IF NOT EXISTS shares (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  job_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  max_downloads INTEGER CHECK (max_downloads IS NULL OR max_downloads >= 1),
  downloads INTEGER NOT NULL DEFAULT 0 CHECK (downloads >= 0),
  last_download_ms INTEGER,
  revoked_ms INTEGER
);
CREATE INDEX IF NOT EXISTS shares_by_user ON shares (user_id, created_ms);
CREATE INDEX IF NOT EXISTS shares_by_job ON shares (job_id);
CREATE INDEX IF NOT EXISTS shares_by_expiry ON shares (expires_ms);
)sql";

// Qualified, for the queries that join users and another table.
constexpr std::string_view kUserColumns =
    "users.id, users.name, users.is_admin, users.disabled, users.quota_bytes, users.created_ms";

constexpr std::string_view kShareColumns =
    "shares.id, shares.job_id, shares.created_ms, shares.expires_ms, shares.max_downloads, "
    "shares.downloads, shares.last_download_ms, shares.revoked_ms";

// Reads kUserColumns starting at `first`.
User read_user(const Statement& row, int first = 0) {
  User user;
  user.id = row.integer(first);
  user.name = row.text(first + 1);
  user.is_admin = row.integer(first + 2) != 0;
  user.disabled = row.integer(first + 3) != 0;
  user.quota_bytes = row.optional_integer(first + 4);
  user.created_ms = row.integer(first + 5);
  return user;
}

ShareState share_state(const ShareInfo& share, bool owner_disabled, int64_t now_ms) {
  if (share.revoked_ms || owner_disabled) return ShareState::revoked;
  if (now_ms >= share.expires_ms) return ShareState::expired;
  if (share.max_downloads && share.downloads >= *share.max_downloads) return ShareState::used_up;
  return ShareState::active;
}

// Reads kShareColumns starting at column 0 (the state is left to the caller).
ShareInfo read_share(const Statement& row) {
  ShareInfo share;
  share.id = row.text(0);
  share.job_id = row.text(1);
  share.created_ms = row.integer(2);
  share.expires_ms = row.integer(3);
  share.max_downloads = row.optional_integer(4);
  share.downloads = row.integer(5);
  share.last_download_ms = row.optional_integer(6);
  share.revoked_ms = row.optional_integer(7);
  return share;
}

std::string_view kind_name(CredentialKind kind) {
  return kind == CredentialKind::session ? "session" : "api_token";
}

int64_t count(sqlite3* connection, std::string_view sql, int64_t user_id) {
  Statement statement(connection, sql);
  statement.bind(1, user_id);
  statement.step();
  return statement.integer(0);
}

// Whether the user exists and is not disabled.
bool enabled_user(sqlite3* connection, int64_t user_id) {
  Statement statement(connection, "SELECT disabled FROM users WHERE id = ?");
  statement.bind(1, user_id);
  return statement.step() && statement.integer(0) == 0;
}

Issued refused(Issued::Outcome outcome) {
  Issued issued;
  issued.outcome = outcome;
  return issued;
}

}  // namespace

std::string_view to_string(ShareState state) {
  switch (state) {
    case ShareState::active:
      return "active";
    case ShareState::revoked:
      return "revoked";
    case ShareState::expired:
      return "expired";
    case ShareState::used_up:
      return "used_up";
  }
  return "revoked";
}

AccountStore::AccountStore(const std::filesystem::path& directory)
    : connection_(sqlite::open(directory / "accounts.db", "the account database")) {
  sqlite3* connection = connection_.get();
  // Off by default in SQLite, per connection: without it ON DELETE CASCADE does nothing.
  sqlite::execute(connection, "PRAGMA foreign_keys = ON");
  Transaction transaction(connection);
  Statement version(connection, "PRAGMA user_version");
  version.step();
  const int64_t found = version.integer(0);
  if (found > kSchemaVersion) {
    throw std::runtime_error("the account database " + (directory / "accounts.db").string() +
                             " is from a newer framepipe (schema " + std::to_string(found) + ")");
  }
  sqlite::execute(connection, kSchema);
  sqlite::execute(connection, "PRAGMA user_version = " + std::to_string(kSchemaVersion));
  transaction.commit();
}

AccountStore::~AccountStore() = default;

UserCreation AccountStore::create_user(std::string_view name, std::string_view password_hash,
                                       int64_t now_ms, Signup signup) {
  UserCreation creation;
  if (username_problem(name)) {
    creation.outcome = UserCreation::Outcome::invalid_name;
    return creation;
  }
  std::lock_guard lock(mutex_);
  sqlite3* connection = connection_.get();
  Transaction transaction(connection);
  {
    Statement taken(connection, "SELECT 1 FROM users WHERE name = ?");
    taken.bind(1, name);
    if (taken.step()) {
      creation.outcome = UserCreation::Outcome::name_taken;
      return creation;
    }
  }
  const bool first = [&] {
    Statement any(connection, "SELECT 1 FROM users LIMIT 1");
    return !any.step();
  }();
  if (signup == Signup::first_user_only && !first) {
    creation.outcome = UserCreation::Outcome::signup_closed;
    return creation;
  }
  Statement insert(connection,
                   "INSERT INTO users (name, password_hash, is_admin, created_ms) VALUES (?, ?, ?, "
                   "?) RETURNING id");
  insert.bind(1, name);
  insert.bind(2, password_hash);
  insert.bind(3, int64_t{first ? 1 : 0});
  insert.bind(4, now_ms);
  if (!insert.step()) throw std::runtime_error("sqlite: the new user's id was not returned");
  const int64_t id = insert.integer(0);
  insert.step();  // RETURNING: the insert completes at SQLITE_DONE
  creation.user = find_user_locked(id);
  transaction.commit();
  creation.outcome = UserCreation::Outcome::created;
  return creation;
}

int64_t AccountStore::user_count() const {
  std::lock_guard lock(mutex_);
  Statement statement(connection_.get(), "SELECT count(*) FROM users");
  statement.step();
  return statement.integer(0);
}

std::optional<User> AccountStore::find_user_locked(int64_t id) const {
  Statement statement(connection_.get(),
                      "SELECT " + std::string(kUserColumns) + " FROM users WHERE id = ?");
  statement.bind(1, id);
  if (!statement.step()) return std::nullopt;
  return read_user(statement);
}

std::optional<User> AccountStore::find_user(int64_t id) const {
  std::lock_guard lock(mutex_);
  return find_user_locked(id);
}

std::optional<User> AccountStore::find_user_by_name(std::string_view name) const {
  std::lock_guard lock(mutex_);
  Statement statement(connection_.get(),
                      "SELECT " + std::string(kUserColumns) + " FROM users WHERE name = ?");
  statement.bind(1, name);
  if (!statement.step()) return std::nullopt;
  return read_user(statement);
}

std::vector<User> AccountStore::list_users() const {
  std::lock_guard lock(mutex_);
  Statement statement(connection_.get(),
                      "SELECT " + std::string(kUserColumns) + " FROM users ORDER BY id");
  std::vector<User> users;
  while (statement.step()) users.push_back(read_user(statement));
  return users;
}

bool AccountStore::set_disabled(int64_t id, bool disabled) {
  std::lock_guard lock(mutex_);
  sqlite3* connection = connection_.get();
  Transaction transaction(connection);
  Statement update(connection, "UPDATE users SET disabled = ? WHERE id = ?");
  update.bind(1, int64_t{disabled ? 1 : 0});
  update.bind(2, id);
  update.run();
  if (sqlite::changes(connection) == 0) return false;
  if (disabled) {
    Statement end(connection, "DELETE FROM credentials WHERE user_id = ?");
    end.bind(1, id);
    end.run();
  }
  transaction.commit();
  return true;
}

std::optional<int64_t> AccountStore::set_password(int64_t id, std::string_view password_hash,
                                                  std::string_view keep_token) {
  const std::string kept = keep_token.empty() ? std::string() : token_digest(keep_token);
  std::lock_guard lock(mutex_);
  sqlite3* connection = connection_.get();
  Transaction transaction(connection);
  Statement update(connection, "UPDATE users SET password_hash = ? WHERE id = ?");
  update.bind(1, password_hash);
  update.bind(2, id);
  update.run();
  if (sqlite::changes(connection) == 0) return std::nullopt;
  Statement end(connection,
                "DELETE FROM credentials WHERE user_id = ? AND kind = 'session' AND digest <> ?");
  end.bind(1, id);
  end.bind(2, std::string_view(kept));
  end.run();
  const int64_t ended = sqlite::changes(connection);
  transaction.commit();
  return ended;
}

bool AccountStore::set_admin(int64_t id, bool admin) {
  std::lock_guard lock(mutex_);
  Statement update(connection_.get(), "UPDATE users SET is_admin = ? WHERE id = ?");
  update.bind(1, int64_t{admin ? 1 : 0});
  update.bind(2, id);
  update.run();
  return sqlite::changes(connection_.get()) == 1;
}

bool AccountStore::set_quota(int64_t id, std::optional<int64_t> quota_bytes) {
  if (quota_bytes && *quota_bytes < 0) throw std::invalid_argument("a quota cannot be negative");
  std::lock_guard lock(mutex_);
  Statement update(connection_.get(), "UPDATE users SET quota_bytes = ? WHERE id = ?");
  update.bind(1, quota_bytes);
  update.bind(2, id);
  update.run();
  return sqlite::changes(connection_.get()) == 1;
}

bool AccountStore::delete_user(int64_t id) {
  std::lock_guard lock(mutex_);
  Statement erase(connection_.get(), "DELETE FROM users WHERE id = ?");
  erase.bind(1, id);
  erase.run();
  return sqlite::changes(connection_.get()) == 1;
}

const std::string& AccountStore::dummy_hash(PasswordCost cost) const {
  const auto index = static_cast<size_t>(cost);
  std::call_once(dummy_made_[index], [&] {
    dummy_hashes_[index] = hash_password("a password that no account has", cost);
  });
  return dummy_hashes_[index];
}

Login AccountStore::verify_login(std::string_view name, std::string_view password,
                                 PasswordCost cost) const {
  std::optional<User> user;
  std::string hash;
  {
    std::lock_guard lock(mutex_);
    Statement statement(connection_.get(), "SELECT " + std::string(kUserColumns) +
                                               ", password_hash FROM users WHERE name = ?");
    statement.bind(1, name);
    if (statement.step()) {
      user = read_user(statement);
      hash = statement.text(6);
    }
  }
  Login login;
  if (!user) {
    password_matches(dummy_hash(cost), password);  // the same work, its answer ignored
    return login;
  }
  if (!password_matches(hash, password)) return login;
  login.outcome = user->disabled ? Login::Outcome::disabled : Login::Outcome::signed_in;
  login.user = std::move(user);
  return login;
}

Issued AccountStore::open_session(int64_t user_id, int64_t ttl_ms, int64_t now_ms) {
  if (ttl_ms <= 0) throw std::invalid_argument("a session's lifetime must be positive");
  std::lock_guard lock(mutex_);
  sqlite3* connection = connection_.get();
  Transaction transaction(connection);
  if (!enabled_user(connection, user_id)) return refused(Issued::Outcome::no_such_user);
  {
    Statement expired(connection,
                      "DELETE FROM credentials WHERE user_id = ? AND kind = 'session' AND "
                      "expires_ms <= ?");
    expired.bind(1, user_id);
    expired.bind(2, now_ms);
    expired.run();
  }
  const int64_t sessions =
      count(connection, "SELECT count(*) FROM credentials WHERE user_id = ? AND kind = 'session'",
            user_id);
  if (sessions >= kMaxSessionsPerUser) {
    Statement oldest(connection,
                     "DELETE FROM credentials WHERE id IN (SELECT id FROM credentials WHERE "
                     "user_id = ? AND kind = 'session' ORDER BY created_ms, rowid LIMIT ?)");
    oldest.bind(1, user_id);
    oldest.bind(2, sessions - kMaxSessionsPerUser + 1);
    oldest.run();
  }
  Issued issued;
  issued.token = random_token();
  issued.id = random_public_id();
  issued.expires_ms = now_ms + ttl_ms;
  Statement insert(connection,
                   "INSERT INTO credentials (id, user_id, kind, digest, created_ms, expires_ms) "
                   "VALUES (?, ?, 'session', ?, ?, ?)");
  insert.bind(1, std::string_view(issued.id));
  insert.bind(2, user_id);
  insert.bind(3, std::string_view(token_digest(issued.token)));
  insert.bind(4, now_ms);
  insert.bind(5, issued.expires_ms);
  insert.run();
  transaction.commit();
  return issued;
}

Issued AccountStore::create_api_token(int64_t user_id, std::string_view label, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  sqlite3* connection = connection_.get();
  Transaction transaction(connection);
  if (!enabled_user(connection, user_id)) return refused(Issued::Outcome::no_such_user);
  if (count(connection, "SELECT count(*) FROM credentials WHERE user_id = ? AND kind = 'api_token'",
            user_id) >= kMaxApiTokensPerUser) {
    return refused(Issued::Outcome::too_many);
  }
  Issued issued;
  issued.token = random_token();
  issued.id = random_public_id();
  Statement insert(connection,
                   "INSERT INTO credentials (id, user_id, kind, label, digest, created_ms) "
                   "VALUES (?, ?, 'api_token', ?, ?, ?)");
  insert.bind(1, std::string_view(issued.id));
  insert.bind(2, user_id);
  insert.bind(3, label);
  insert.bind(4, std::string_view(token_digest(issued.token)));
  insert.bind(5, now_ms);
  insert.run();
  transaction.commit();
  return issued;
}

std::optional<Authentication> AccountStore::authenticate(std::string_view token, int64_t now_ms) {
  if (token.empty() || token.size() > kMaxTokenBytes) return std::nullopt;
  const std::string digest = token_digest(token);
  std::lock_guard lock(mutex_);
  sqlite3* connection = connection_.get();
  Statement select(connection,
                   "SELECT credentials.id, credentials.kind, credentials.expires_ms, "
                   "credentials.last_used_ms, credentials.digest, " +
                       std::string(kUserColumns) +
                       " FROM credentials JOIN users ON users.id = credentials.user_id WHERE "
                       "credentials.digest = ?");
  select.bind(1, std::string_view(digest));
  if (!select.step()) return std::nullopt;
  if (!same_secret(select.text(4), digest)) return std::nullopt;
  const auto expires_ms = select.optional_integer(2);
  if (expires_ms && now_ms >= *expires_ms) return std::nullopt;
  Authentication authentication;
  authentication.user = read_user(select, 5);
  if (authentication.user.disabled) return std::nullopt;
  authentication.credential_id = select.text(0);
  authentication.kind = select.text(1) == kind_name(CredentialKind::session)
                            ? CredentialKind::session
                            : CredentialKind::api_token;
  const auto last_used_ms = select.optional_integer(3);
  select.reset();  // done reading: no statement of this connection stays open across the write
  if (!last_used_ms || now_ms - *last_used_ms >= kLastUsedResolutionMs) {
    Statement update(connection, "UPDATE credentials SET last_used_ms = ? WHERE id = ?");
    update.bind(1, now_ms);
    update.bind(2, std::string_view(authentication.credential_id));
    update.run();
  }
  return authentication;
}

bool AccountStore::end_credential(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenBytes) return false;
  const std::string digest = token_digest(token);
  std::lock_guard lock(mutex_);
  Statement erase(connection_.get(), "DELETE FROM credentials WHERE digest = ?");
  erase.bind(1, std::string_view(digest));
  erase.run();
  return sqlite::changes(connection_.get()) == 1;
}

std::vector<ApiTokenInfo> AccountStore::list_api_tokens(int64_t user_id) const {
  std::lock_guard lock(mutex_);
  Statement select(connection_.get(),
                   "SELECT id, label, created_ms, last_used_ms FROM credentials WHERE user_id = ? "
                   "AND kind = 'api_token' ORDER BY created_ms DESC, rowid DESC");
  select.bind(1, user_id);
  std::vector<ApiTokenInfo> tokens;
  while (select.step()) {
    ApiTokenInfo token;
    token.id = select.text(0);
    token.label = select.text(1);
    token.created_ms = select.integer(2);
    token.last_used_ms = select.optional_integer(3);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

bool AccountStore::revoke_api_token(int64_t user_id, std::string_view id) {
  std::lock_guard lock(mutex_);
  Statement erase(connection_.get(),
                  "DELETE FROM credentials WHERE id = ? AND user_id = ? AND kind = 'api_token'");
  erase.bind(1, id);
  erase.bind(2, user_id);
  erase.run();
  return sqlite::changes(connection_.get()) == 1;
}

int64_t AccountStore::purge_credentials(int64_t now_ms) {
  std::lock_guard lock(mutex_);
  Statement erase(connection_.get(),
                  "DELETE FROM credentials WHERE expires_ms IS NOT NULL AND expires_ms <= ?");
  erase.bind(1, now_ms);
  erase.run();
  return sqlite::changes(connection_.get());
}

Issued AccountStore::create_share(int64_t user_id, std::string_view job_id, int64_t ttl_ms,
                                  std::optional<int64_t> max_downloads, int64_t now_ms) {
  if (ttl_ms <= 0) throw std::invalid_argument("a share's lifetime must be positive");
  if (max_downloads && *max_downloads < 1) {
    throw std::invalid_argument("a share allows at least one download");
  }
  std::lock_guard lock(mutex_);
  sqlite3* connection = connection_.get();
  Transaction transaction(connection);
  if (!enabled_user(connection, user_id)) return refused(Issued::Outcome::no_such_user);
  if (count(connection, "SELECT count(*) FROM shares WHERE user_id = ?", user_id) >=
      kMaxSharesPerUser) {
    return refused(Issued::Outcome::too_many);
  }
  Issued issued;
  issued.token = random_token();
  issued.id = random_public_id();
  issued.expires_ms = now_ms + ttl_ms;
  Statement insert(connection,
                   "INSERT INTO shares (id, digest, user_id, job_id, created_ms, expires_ms, "
                   "max_downloads) VALUES (?, ?, ?, ?, ?, ?, ?)");
  insert.bind(1, std::string_view(issued.id));
  insert.bind(2, std::string_view(token_digest(issued.token)));
  insert.bind(3, user_id);
  insert.bind(4, job_id);
  insert.bind(5, now_ms);
  insert.bind(6, issued.expires_ms);
  insert.bind(7, max_downloads);
  insert.run();
  transaction.commit();
  return issued;
}

std::vector<ShareInfo> AccountStore::list_shares(int64_t user_id, int64_t now_ms) const {
  std::lock_guard lock(mutex_);
  Statement select(connection_.get(),
                   "SELECT " + std::string(kShareColumns) +
                       ", (SELECT disabled FROM users WHERE users.id = shares.user_id) FROM shares "
                       "WHERE user_id = ? ORDER BY created_ms DESC, rowid DESC");
  select.bind(1, user_id);
  std::vector<ShareInfo> shares;
  while (select.step()) {
    ShareInfo share = read_share(select);
    share.state = share_state(share, select.integer(8) != 0, now_ms);
    shares.push_back(std::move(share));
  }
  return shares;
}

bool AccountStore::revoke_share(int64_t user_id, std::string_view share_id, int64_t now_ms) {
  std::lock_guard lock(mutex_);
  Statement update(connection_.get(),
                   "UPDATE shares SET revoked_ms = coalesce(revoked_ms, ?) WHERE id = ? AND "
                   "user_id = ?");
  update.bind(1, now_ms);
  update.bind(2, share_id);
  update.bind(3, user_id);
  update.run();
  return sqlite::changes(connection_.get()) == 1;
}

Redemption AccountStore::redeem_share(std::string_view token, int64_t now_ms, bool count_download,
                                      int64_t continuation_ms) {
  Redemption redemption;
  if (token.empty() || token.size() > kMaxTokenBytes) return redemption;
  const std::string digest = token_digest(token);
  std::lock_guard lock(mutex_);
  sqlite3* connection = connection_.get();
  Transaction transaction(connection);
  Statement select(connection,
                   "SELECT " + std::string(kShareColumns) +
                       ", shares.user_id, users.disabled, shares.digest FROM shares "
                       "JOIN users ON users.id = shares.user_id WHERE shares.digest = ?");
  select.bind(1, std::string_view(digest));
  if (!select.step() || !same_secret(select.text(10), digest)) return redemption;
  const ShareInfo share = read_share(select);
  const int64_t owner_id = select.integer(8);
  const bool owner_disabled = select.integer(9) != 0;
  select.reset();  // done reading: no statement of this connection stays open across the write
  switch (share_state(share, owner_disabled, now_ms)) {
    case ShareState::revoked:
      redemption.outcome = Redemption::Outcome::revoked;
      return redemption;
    case ShareState::expired:
      redemption.outcome = Redemption::Outcome::expired;
      return redemption;
    case ShareState::used_up:
      // The last counted download may go on (a player seeking) for a while, uncounted.
      if (count_download || !share.last_download_ms ||
          now_ms - *share.last_download_ms >= continuation_ms) {
        redemption.outcome = Redemption::Outcome::used_up;
        return redemption;
      }
      break;
    case ShareState::active:
      break;
  }
  if (count_download) {
    // The limit is checked again by the update itself, whatever else writes the file.
    Statement counted(connection,
                      "UPDATE shares SET downloads = downloads + 1, last_download_ms = ? WHERE "
                      "id = ? AND (max_downloads IS NULL OR downloads < max_downloads)");
    counted.bind(1, now_ms);
    counted.bind(2, std::string_view(share.id));
    counted.run();
    if (sqlite::changes(connection) != 1) {
      redemption.outcome = Redemption::Outcome::used_up;
      return redemption;
    }
  }
  transaction.commit();
  redemption.outcome = Redemption::Outcome::redeemed;
  redemption.share_id = share.id;
  redemption.owner_id = owner_id;
  redemption.job_id = share.job_id;
  redemption.expires_ms = share.expires_ms;
  return redemption;
}

int64_t AccountStore::delete_shares_of_job(std::string_view job_id) {
  std::lock_guard lock(mutex_);
  Statement erase(connection_.get(), "DELETE FROM shares WHERE job_id = ?");
  erase.bind(1, job_id);
  erase.run();
  return sqlite::changes(connection_.get());
}

int64_t AccountStore::purge_shares(int64_t now_ms, int64_t retention_ms) {
  std::lock_guard lock(mutex_);
  Statement erase(connection_.get(),
                  "DELETE FROM shares WHERE revoked_ms <= ?1 OR expires_ms <= ?1 OR "
                  "(max_downloads IS NOT NULL AND downloads >= max_downloads AND "
                  "last_download_ms <= ?1)");
  erase.bind(1, now_ms - retention_ms);
  erase.run();
  return sqlite::changes(connection_.get());
}

}  // namespace framepipe::http
