// User accounts over HTTP: who a request comes from (a session cookie, a bearer token, the
// server's --api-token), sign-up, login with throttling, logout, personal API tokens, the admin's
// user list, and share links. The jobs themselves stay the Frontend's: it asks here who is asking,
// and answers only with what that user may see.
//
// Cross-site forgery: a request authenticated by the cookie that changes state (any method but
// GET, HEAD and OPTIONS) must carry an Origin naming the host it was sent to (or, from a browser
// that sends no Origin, Sec-Fetch-Site: same-origin); else 403. The cookie is also SameSite=Strict.
// Bearer tokens are not sent by browsers on their own, so they need no such check.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "account_store.hpp"
#include "login_throttle.hpp"
#include "upload.hpp"

namespace framepipe::http {

enum class AuthMode { none, accounts };

struct AccountSettings {
  AuthMode mode = AuthMode::none;
  bool signup_open = true;          // false: only an admin creates accounts (after the first)
  int64_t default_quota_bytes = 0;  // per user; 0: none
  int64_t share_max_ttl_ms = 30LL * 24 * 3600 * 1000;
  int64_t session_ttl_ms = 7LL * 24 * 3600 * 1000;
  PasswordCost password_cost = PasswordCost::interactive;
  std::string admin_token;  // --api-token: the whole server's token, an admin's
};

inline constexpr std::string_view kSessionCookie = "framepipe_session";
inline constexpr size_t kMaxJsonBodyBytes = 16 << 10;

// Who a request comes from.
struct Principal {
  int64_t user_id = 0;  // 0: the server itself (single-user mode, or the --api-token)
  std::string name;
  bool admin = false;
  bool by_cookie = false;
  std::string token;  // the credential presented (a session's, for logout)
  bool may_see(int64_t owner) const { return admin || owner == user_id; }
};

// The principal of the request the calling thread serves (each request is served from start to
// end on one thread). Set by the Frontend before routing.
const Principal& current_principal();
void set_current_principal(Principal principal);

// What the account routes need of the jobs.
struct JobAccess {
  // A job's owner and whether it has a result; nothing when there is no such job.
  std::function<std::optional<std::pair<int64_t, bool>>(const std::string& job_id)> owner_of;
  // Bytes a user's jobs hold on disk.
  std::function<int64_t(int64_t user_id)> bytes_used;
  // Removes every job of a user, with its files (the user is being deleted).
  std::function<void(int64_t user_id)> remove_jobs_of;
};

// A JSON object body of at most kMaxJsonBodyBytes, nested at most 4 deep (a bomb of brackets is
// refused before it is parsed).
std::variant<nlohmann::json, Refusal> parse_json_body(std::string_view body);
// Whether a request names this server in Origin (or says Sec-Fetch-Site: same-origin).
bool same_origin(const httplib::Request& req);
// The value of cookie `name` in a Cookie header.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

class AccountsApi {
 public:
  AccountsApi(AccountSettings settings, const std::filesystem::path& data_directory);
  ~AccountsApi();
  AccountsApi(const AccountsApi&) = delete;
  AccountsApi& operator=(const AccountsApi&) = delete;

  const AccountSettings& settings() const { return settings_; }
  bool enabled() const { return settings_.mode == AuthMode::accounts; }

  // Who sends `req`, or the refusal: 401 without a credential or with an unknown or expired one,
  // 403 for a cookie request from another site. `query_token`: the route also takes the token as
  // `?token=` (what a browser opens by URL).
  std::variant<Principal, Refusal> authenticate(const httplib::Request& req, bool query_token);

  // /api/auth/*, /api/users*, /api/shares*, POST /api/jobs/{id}/shares.
  void install(httplib::Server& server, JobAccess jobs);

  // A user's quota in bytes; nothing when unlimited.
  std::optional<int64_t> quota_of(const Principal& who) const;

  // For GET /s/<token>. `continuation`: a range after the first byte, which a used-up link still
  // serves for a while after its last counted download (the player of that download seeks).
  Redemption redeem_share(std::string_view token, bool count_download, bool continuation);
  void job_deleted(const std::string& job_id);
  // Expired sessions and long-gone shares; call now and then.
  void purge(int64_t now_ms);

 private:
  void signup(const httplib::Request& req, httplib::Response& res);
  void login(const httplib::Request& req, httplib::Response& res);
  void logout(const httplib::Request& req, httplib::Response& res);
  void change_password(const httplib::Request& req, httplib::Response& res);
  // Checks a password as a login does, throttled: nothing when the throttle refused (the 429
  // with Retry-After is answered), else the store's answer, told to the throttle.
  std::optional<Login> throttled_login(std::string_view name, std::string_view password,
                                       const std::string& address, httplib::Response& res);
  void me(httplib::Response& res) const;
  void list_tokens(httplib::Response& res) const;
  void create_token(const httplib::Request& req, httplib::Response& res);
  void revoke_token(const std::string& id, httplib::Response& res);
  void list_users(httplib::Response& res) const;
  void add_user(const httplib::Request& req, httplib::Response& res);
  void change_user(const std::string& id, const httplib::Request& req, httplib::Response& res);
  void delete_user(const std::string& id, httplib::Response& res);
  void create_share(const std::string& job_id, const httplib::Request& req, httplib::Response& res);
  void list_shares(httplib::Response& res) const;
  void revoke_share(const std::string& id, httplib::Response& res);
  // Validates and creates a user: the answer is written to `res`.
  void create_user(std::string_view name, std::string_view password, httplib::Response& res);
  nlohmann::json user_json(const User& user) const;

  const AccountSettings settings_;
  std::unique_ptr<AccountStore> store_;  // null in single-user mode
  LoginThrottle throttle_;
  JobAccess jobs_;
};

}  // namespace framepipe::http
