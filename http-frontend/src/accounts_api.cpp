#include "accounts_api.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "framepipe/protocol/net.hpp"
#include "log.hpp"
#include "render.hpp"
#include "replies.hpp"
#include "secrets.hpp"

namespace framepipe::http {

namespace {

using nlohmann::json;

constexpr size_t kMaxJsonDepth = 4;
constexpr size_t kMaxLabelCharacters = 100;
// After a share's last counted download, its ranges are served this long (a player seeking).
constexpr int64_t kShareContinuationMs = 10 * 60 * 1000;

thread_local Principal request_principal;

bool changes_state(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::optional<int64_t> parse_id(std::string_view text) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

// A string field of a JSON body, or nothing when absent or of another type.
std::optional<std::string> string_field(const json& body, const char* name) {
  const auto found = body.find(name);
  if (found == body.end() || !found->is_string()) return std::nullopt;
  return found->get<std::string>();
}

std::string session_cookie(std::string_view token, int64_t max_age_seconds) {
  return std::string(kSessionCookie) + "=" + std::string(token) +
         "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age_seconds);
}

struct Credentials {
  std::string name;
  std::string password;
};

// {"username", "password"} of a sign-up, a login or an admin's new user.
std::variant<Credentials, Refusal> credentials_of(std::string_view body) {
  auto parsed = parse_json_body(body);
  if (auto* refusal = std::get_if<Refusal>(&parsed)) return *refusal;
  const json& fields = std::get<json>(parsed);
  auto name = string_field(fields, "username");
  auto password = string_field(fields, "password");
  if (!name || !password) {
    return Refusal{400, "send {\"username\": \"...\", \"password\": \"...\"}"};
  }
  return Credentials{std::move(*name), std::move(*password)};
}

Refusal admins_only() {
  return Refusal{403, "only an admin may do this"};
}

// What an admin's PATCH /api/users/{id} asks, checked whole before anything changes.
struct UserChange {
  std::optional<bool> disabled;
  std::optional<bool> admin;
  std::optional<std::string> password;
  std::optional<std::optional<int64_t>> quota_bytes;  // given: a quota, or nothing for the default
};

std::variant<UserChange, Refusal> user_change_of(const json& fields, bool own_account) {
  UserChange change;
  if (const auto disabled = fields.find("disabled"); disabled != fields.end()) {
    if (!disabled->is_boolean()) return Refusal{400, "disabled is true or false"};
    if (own_account && disabled->get<bool>()) {
      return Refusal{400, "an admin cannot disable their own account"};
    }
    change.disabled = disabled->get<bool>();
  }
  if (const auto admin = fields.find("admin"); admin != fields.end()) {
    if (!admin->is_boolean()) return Refusal{400, "admin is true or false"};
    if (own_account && !admin->get<bool>()) {
      // So that a head always keeps an admin: another admin may do it.
      return Refusal{400, "an admin cannot take back their own admin rights"};
    }
    change.admin = admin->get<bool>();
  }
  if (const auto password = fields.find("password"); password != fields.end()) {
    if (!password->is_string()) return Refusal{400, "password is a string"};
    if (auto problem = password_problem(password->get<std::string>()))
      return Refusal{400, *problem};
    change.password = password->get<std::string>();
  }
  if (const auto quota = fields.find("quota_mb"); quota != fields.end()) {
    if (quota->is_null()) {
      change.quota_bytes = std::optional<int64_t>{};
    } else if (quota->is_number_integer() && quota->get<int64_t>() >= 0 &&
               quota->get<int64_t>() <= (int64_t{1} << 40)) {
      change.quota_bytes = std::optional<int64_t>{quota->get<int64_t>() << 20};
    } else {
      return Refusal{400,
                     "quota_mb is a number of MiB (0: none), or null for the server's default"};
    }
  }
  return change;
}

}  // namespace

const Principal& current_principal() {
  return request_principal;
}

void set_current_principal(Principal principal) {
  request_principal = std::move(principal);
}

std::variant<json, Refusal> parse_json_body(std::string_view body) {
  if (body.size() > kMaxJsonBodyBytes) {
    return Refusal{413,
                   "the JSON body is larger than " + std::to_string(kMaxJsonBodyBytes) + " bytes"};
  }
  // Nesting, counted outside strings, before the parser sees it.
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return Refusal{400, "the JSON body is nested too deeply"};
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Refusal{400, "the body is not valid JSON"};
  if (!parsed.is_object()) return Refusal{400, "the body must be a JSON object"};
  return parsed;
}

bool same_origin(const httplib::Request& req) {
  const std::string host = req.get_header_value("Host");
  if (req.has_header("Origin")) {
    const std::string origin = req.get_header_value("Origin");
    return !host.empty() && (origin == "http://" + host || origin == "https://" + host);
  }
  return req.get_header_value("Sec-Fetch-Site") == "same-origin";
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t end = header.find(';');
    std::string_view pair = trim(header.substr(0, end));
    header = end == std::string_view::npos ? std::string_view{} : header.substr(end + 1);
    const size_t equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    if (trim(pair.substr(0, equals)) == name) return std::string(trim(pair.substr(equals + 1)));
  }
  return std::nullopt;
}

AccountsApi::AccountsApi(AccountSettings settings, const std::filesystem::path& data_directory)
    : settings_(std::move(settings)) {
  if (enabled()) store_ = std::make_unique<AccountStore>(data_directory);
}

AccountsApi::~AccountsApi() = default;

std::variant<Principal, Refusal> AccountsApi::authenticate(const httplib::Request& req,
                                                           bool query_token) {
  std::string token;
  bool by_cookie = false;
  const std::string authorization = req.get_header_value("Authorization");
  const std::string_view header = trim(authorization);
  if (header.size() > 7 && equals_ignoring_case(header.substr(0, 7), "Bearer ")) {
    token = std::string(trim(header.substr(7)));
  } else if (query_token && (req.has_param("token") || req.has_param("access_token"))) {
    token = req.get_param_value(req.has_param("access_token") ? "access_token" : "token");
  } else if (enabled()) {
    if (auto cookie = cookie_value(req.get_header_value("Cookie"), kSessionCookie)) {
      token = std::move(*cookie);
      by_cookie = true;
    }
  }

  if (!settings_.admin_token.empty() && !token.empty() &&
      same_secret(token, settings_.admin_token)) {
    return Principal{0, "admin", true, false, token};
  }
  if (!enabled()) {
    if (settings_.admin_token.empty()) return Principal{0, "", true, false, {}};
    return Refusal{401, "missing or wrong API token (Authorization: Bearer ...)"};
  }
  if (token.empty())
    return Refusal{401, "sign in first (a session cookie or Authorization: Bearer)"};
  auto found = store_->authenticate(token, protocol::unix_ms());
  if (!found) return Refusal{401, "the session or token is unknown, expired or revoked"};
  if (by_cookie && changes_state(req.method) && !same_origin(req)) {
    return Refusal{403, "cross-site request refused: the Origin is not this server"};
  }
  return Principal{found->user.id, found->user.name, found->user.is_admin, by_cookie,
                   std::move(token)};
}

std::optional<int64_t> AccountsApi::quota_of(const Principal& who) const {
  if (!enabled() || who.user_id == 0) return std::nullopt;
  const auto user = store_->find_user(who.user_id);
  const int64_t quota =
      user && user->quota_bytes ? *user->quota_bytes : settings_.default_quota_bytes;
  if (quota <= 0) return std::nullopt;
  return quota;
}

Redemption AccountsApi::redeem_share(std::string_view token, bool count_download,
                                     bool continuation) {
  if (!enabled()) return Redemption{};
  return store_->redeem_share(token, protocol::unix_ms(), count_download,
                              continuation ? kShareContinuationMs : 0);
}

void AccountsApi::job_deleted(const std::string& job_id) {
  if (enabled()) store_->delete_shares_of_job(job_id);
}

void AccountsApi::purge(int64_t now_ms) {
  if (!enabled()) return;
  const int64_t sessions = store_->purge_credentials(now_ms);
  const int64_t shares = store_->purge_shares(now_ms);
  if (sessions + shares > 0) {
    log().debug("accounts: purged {} expired sessions and {} gone shares", sessions, shares);
  }
}

void AccountsApi::install(httplib::Server& server, JobAccess jobs) {
  jobs_ = std::move(jobs);
  using Req = const httplib::Request&;
  using Res = httplib::Response&;
  server.Post("/api/auth/signup", [this](Req req, Res res) { signup(req, res); });
  server.Post("/api/auth/login", [this](Req req, Res res) { login(req, res); });
  server.Post("/api/auth/logout", [this](Req req, Res res) { logout(req, res); });
  server.Post("/api/auth/password", [this](Req req, Res res) { change_password(req, res); });
  server.Get("/api/auth/me", [this](Req, Res res) { me(res); });
  server.Get("/api/auth/tokens", [this](Req, Res res) { list_tokens(res); });
  server.Post("/api/auth/tokens", [this](Req req, Res res) { create_token(req, res); });
  server.Delete(R"(/api/auth/tokens/([^/]+))",
                [this](Req req, Res res) { revoke_token(req.matches[1], res); });
  server.Get("/api/users", [this](Req, Res res) { list_users(res); });
  server.Post("/api/users", [this](Req req, Res res) { add_user(req, res); });
  server.Patch(R"(/api/users/([^/]+))",
               [this](Req req, Res res) { change_user(req.matches[1], req, res); });
  server.Delete(R"(/api/users/([^/]+))",
                [this](Req req, Res res) { delete_user(req.matches[1], res); });
  server.Post(R"(/api/jobs/([^/]+)/shares)",
              [this](Req req, Res res) { create_share(req.matches[1], req, res); });
  server.Get("/api/shares", [this](Req, Res res) { list_shares(res); });
  server.Delete(R"(/api/shares/([^/]+))",
                [this](Req req, Res res) { revoke_share(req.matches[1], res); });
}

json AccountsApi::user_json(const User& user) const {
  json out = {{"id", user.id},
              {"username", user.name},
              {"admin", user.is_admin},
              {"disabled", user.disabled},
              {"created_at", iso8601(user.created_ms)},
              {"quota_bytes", nullptr},
              {"used_bytes", jobs_.bytes_used ? jobs_.bytes_used(user.id) : 0}};
  const int64_t quota = user.quota_bytes.value_or(settings_.default_quota_bytes);
  if (quota > 0) out["quota_bytes"] = quota;
  out["quota_is_default"] = !user.quota_bytes.has_value();
  return out;
}

void AccountsApi::create_user(std::string_view name, std::string_view password,
                              httplib::Response& res) {
  if (auto problem = username_problem(name)) return refuse(res, Refusal{400, *problem});
  if (auto problem = password_problem(password)) return refuse(res, Refusal{400, *problem});
  const std::string hash = hash_password(password, settings_.password_cost);
  const bool by_admin = current_principal().admin && !current_principal().token.empty();
  const Signup rule = settings_.signup_open || by_admin ? Signup::open : Signup::first_user_only;
  const UserCreation made = store_->create_user(name, hash, protocol::unix_ms(), rule);
  switch (made.outcome) {
    case UserCreation::Outcome::created:
      log().info("accounts: user {} created{}", made.user->name,
                 made.user->is_admin ? " (the first: an admin)" : "");
      return send_json(res, 201, user_json(*made.user));
    case UserCreation::Outcome::name_taken:
      return refuse(res, Refusal{409, "that user name is taken"});
    case UserCreation::Outcome::signup_closed:
      return refuse(res,
                    Refusal{403, "sign-up is closed on this server: an admin creates accounts"});
    case UserCreation::Outcome::invalid_name:
      return refuse(res, Refusal{400, username_problem(name).value_or("invalid user name")});
  }
}

void AccountsApi::signup(const httplib::Request& req, httplib::Response& res) {
  if (!enabled()) return refuse(res, Refusal{404, "accounts are off on this server (--auth none)"});
  auto credentials = credentials_of(req.body);
  if (auto* refusal = std::get_if<Refusal>(&credentials)) return refuse(res, *refusal);
  const auto& [name, password] = std::get<Credentials>(credentials);
  create_user(name, password, res);
}

void AccountsApi::login(const httplib::Request& req, httplib::Response& res) {
  if (!enabled()) return refuse(res, Refusal{404, "accounts are off on this server (--auth none)"});
  auto credentials = credentials_of(req.body);
  if (auto* refusal = std::get_if<Refusal>(&credentials)) return refuse(res, *refusal);
  const auto& [name, password] = std::get<Credentials>(credentials);
  const auto checked = throttled_login(name, password, req.remote_addr, res);
  if (!checked) return;
  const Login& login = *checked;
  if (login.outcome == Login::Outcome::wrong_name_or_password) {
    log().info("accounts: failed sign-in from {}", req.remote_addr);
    return refuse(res, Refusal{401, "wrong user name or password"});
  }
  if (login.outcome == Login::Outcome::disabled) {
    return refuse(res, Refusal{403, "this account is disabled; ask an admin"});
  }
  const Issued session =
      store_->open_session(login.user->id, settings_.session_ttl_ms, protocol::unix_ms());
  if (session.outcome != Issued::Outcome::issued) {
    return refuse(res, Refusal{403, "this account is disabled; ask an admin"});
  }
  res.set_header("Set-Cookie", session_cookie(session.token, settings_.session_ttl_ms / 1000));
  send_json(res, 200,
            json{{"token", session.token},
                 {"expires_at", iso8601(*session.expires_ms)},
                 {"user", user_json(*login.user)}});
}

std::optional<Login> AccountsApi::throttled_login(std::string_view name, std::string_view password,
                                                  const std::string& address,
                                                  httplib::Response& res) {
  if (auto wait = throttle_.admit(name, address, std::chrono::steady_clock::now())) {
    res.set_header("Retry-After", std::to_string(wait->count()));
    refuse(res, Refusal{429, "too many failed attempts: try again in " +
                                 std::to_string(wait->count()) + " s"});
    return std::nullopt;
  }
  Login login = store_->verify_login(name, password, settings_.password_cost);
  if (login.outcome == Login::Outcome::wrong_name_or_password) {
    throttle_.failed(name, address, std::chrono::steady_clock::now());
  } else {
    throttle_.succeeded(name, address);
  }
  return login;
}

void AccountsApi::logout(const httplib::Request&, httplib::Response& res) {
  const Principal& who = current_principal();
  if (enabled() && !who.token.empty() && who.user_id != 0) store_->end_credential(who.token);
  res.set_header("Set-Cookie", session_cookie("", 0));
  send_json(res, 200, json{{"signed_out", true}});
}

// {"current_password", "new_password"}: the current one is checked (and throttled) as a login's,
// so that a stolen session cannot take the account over; the user's other sessions end.
void AccountsApi::change_password(const httplib::Request& req, httplib::Response& res) {
  if (!enabled()) return refuse(res, Refusal{404, "accounts are off on this server (--auth none)"});
  const Principal& who = current_principal();
  if (who.user_id == 0) {
    return refuse(res, Refusal{400, "a password belongs to a user: sign in as one"});
  }
  auto body = parse_json_body(req.body);
  if (auto* refusal = std::get_if<Refusal>(&body)) return refuse(res, *refusal);
  const json& fields = std::get<json>(body);
  const auto current = string_field(fields, "current_password");
  const auto fresh = string_field(fields, "new_password");
  if (!current || !fresh) {
    return refuse(res, Refusal{400, "give current_password and new_password, as strings"});
  }
  if (auto problem = password_problem(*fresh)) return refuse(res, Refusal{400, *problem});
  const auto user = store_->find_user(who.user_id);
  if (!user) return refuse(res, Refusal{401, "no such user any more"});
  const auto checked = throttled_login(user->name, *current, req.remote_addr, res);
  if (!checked) return;
  if (checked->outcome != Login::Outcome::signed_in) {
    log().info("accounts: a wrong current password for {} from {}", user->name, req.remote_addr);
    return refuse(res, Refusal{403, "the current password is wrong"});
  }
  const auto ended =
      store_->set_password(user->id, hash_password(*fresh, settings_.password_cost), who.token);
  if (!ended) return refuse(res, Refusal{401, "no such user any more"});
  log().info("accounts: {} changed their password ({} other session(s) ended)", user->name, *ended);
  send_json(res, 200, json{{"changed", true}, {"sessions_ended", *ended}});
}

void AccountsApi::me(httplib::Response& res) const {
  const Principal& who = current_principal();
  json out = {{"auth", enabled() ? "accounts" : "none"},
              {"signup_open", settings_.signup_open},
              {"share_max_ttl_seconds", settings_.share_max_ttl_ms / 1000}};
  if (enabled() && who.user_id == 0 && !who.admin) {
    out["error"] = "sign in first (a session cookie or Authorization: Bearer)";
    return send_json(res, 401, out);
  }
  if (!enabled() || who.user_id == 0) {
    out["user"] = {{"id", nullptr}, {"username", who.name}, {"admin", who.admin}};
    return send_json(res, 200, out);
  }
  const auto user = store_->find_user(who.user_id);
  if (!user) return refuse(res, Refusal{401, "no such user any more"});
  out["user"] = user_json(*user);
  send_json(res, 200, out);
}

void AccountsApi::list_tokens(httplib::Response& res) const {
  const Principal& who = current_principal();
  if (!enabled() || who.user_id == 0) return send_json(res, 200, json::array());
  json out = json::array();
  for (const ApiTokenInfo& token : store_->list_api_tokens(who.user_id)) {
    out.push_back({{"id", token.id},
                   {"label", token.label},
                   {"created_at", iso8601(token.created_ms)},
                   {"last_used_at",
                    token.last_used_ms ? json(iso8601(*token.last_used_ms)) : json(nullptr)}});
  }
  send_json(res, 200, out);
}

void AccountsApi::create_token(const httplib::Request& req, httplib::Response& res) {
  const Principal& who = current_principal();
  if (!enabled() || who.user_id == 0) {
    return refuse(res, Refusal{400, "personal tokens belong to a user: sign in as one"});
  }
  auto body = parse_json_body(req.body.empty() ? std::string_view("{}") : req.body);
  if (auto* refusal = std::get_if<Refusal>(&body)) return refuse(res, *refusal);
  std::string label = string_field(std::get<json>(body), "label").value_or("");
  if (label.size() > kMaxLabelCharacters) {
    return refuse(res, Refusal{400, "a label is at most 100 characters"});
  }
  const Issued issued = store_->create_api_token(who.user_id, label, protocol::unix_ms());
  if (issued.outcome == Issued::Outcome::too_many) {
    return refuse(res, Refusal{409, "you hold the most tokens there may be: revoke one first"});
  }
  if (issued.outcome != Issued::Outcome::issued) {
    return refuse(res, Refusal{401, "no such user any more"});
  }
  send_json(res, 201, json{{"id", issued.id}, {"token", issued.token}, {"label", label}});
}

void AccountsApi::revoke_token(const std::string& id, httplib::Response& res) {
  const Principal& who = current_principal();
  if (!enabled() || who.user_id == 0 || !store_->revoke_api_token(who.user_id, id)) {
    return refuse(res, Refusal{404, "no such token"});
  }
  res.status = 204;
}

void AccountsApi::list_users(httplib::Response& res) const {
  if (!current_principal().admin) return refuse(res, admins_only());
  json out = json::array();
  if (enabled()) {
    for (const User& user : store_->list_users()) out.push_back(user_json(user));
  }
  send_json(res, 200, out);
}

void AccountsApi::add_user(const httplib::Request& req, httplib::Response& res) {
  if (!enabled()) return refuse(res, Refusal{404, "accounts are off on this server (--auth none)"});
  if (!current_principal().admin) return refuse(res, admins_only());
  auto credentials = credentials_of(req.body);
  if (auto* refusal = std::get_if<Refusal>(&credentials)) return refuse(res, *refusal);
  const auto& [name, password] = std::get<Credentials>(credentials);
  create_user(name, password, res);
}

void AccountsApi::change_user(const std::string& id_text, const httplib::Request& req,
                              httplib::Response& res) {
  if (!enabled()) return refuse(res, Refusal{404, "accounts are off on this server (--auth none)"});
  if (!current_principal().admin) return refuse(res, admins_only());
  const auto id = parse_id(id_text);
  const auto user = id ? store_->find_user(*id) : std::nullopt;
  if (!user) return refuse(res, Refusal{404, "no such user"});
  auto body = parse_json_body(req.body);
  if (auto* refusal = std::get_if<Refusal>(&body)) return refuse(res, *refusal);
  auto change = user_change_of(std::get<json>(body), *id == current_principal().user_id);
  if (auto* refusal = std::get_if<Refusal>(&change)) return refuse(res, *refusal);
  const UserChange& asked = std::get<UserChange>(change);
  if (asked.disabled) {
    store_->set_disabled(*id, *asked.disabled);
    log().info("accounts: user {} {}", user->name, *asked.disabled ? "disabled" : "enabled");
  }
  if (asked.admin) {
    store_->set_admin(*id, *asked.admin);
    log().info("accounts: user {} is {}", user->name,
               *asked.admin ? "an admin" : "no longer an admin");
  }
  if (asked.password) {
    // Every session of the user ends (but the admin's own, when it is theirs).
    const auto ended = store_->set_password(
        *id, hash_password(*asked.password, settings_.password_cost), current_principal().token);
    log().info("accounts: an admin set a new password for {} ({} session(s) ended)", user->name,
               ended.value_or(0));
  }
  if (asked.quota_bytes) store_->set_quota(*id, *asked.quota_bytes);
  send_json(res, 200, user_json(*store_->find_user(*id)));
}

void AccountsApi::delete_user(const std::string& id_text, httplib::Response& res) {
  if (!enabled()) return refuse(res, Refusal{404, "accounts are off on this server (--auth none)"});
  if (!current_principal().admin) return refuse(res, admins_only());
  const auto id = parse_id(id_text);
  const auto user = id ? store_->find_user(*id) : std::nullopt;
  if (!user) return refuse(res, Refusal{404, "no such user"});
  if (*id == current_principal().user_id) {
    return refuse(res, Refusal{400, "an admin cannot delete their own account"});
  }
  store_->set_disabled(*id, true);  // nothing new while the files go
  if (jobs_.remove_jobs_of) jobs_.remove_jobs_of(*id);
  store_->delete_user(*id);
  log().info("accounts: user {} deleted with their jobs", user->name);
  res.status = 204;
}

void AccountsApi::create_share(const std::string& job_id, const httplib::Request& req,
                               httplib::Response& res) {
  const Principal& who = current_principal();
  if (!enabled()) return refuse(res, Refusal{404, "share links need accounts (--auth accounts)"});
  const auto job = jobs_.owner_of ? jobs_.owner_of(job_id) : std::nullopt;
  if (!job || !who.may_see(job->first)) return refuse(res, Refusal{404, "no such job"});
  if (!job->second) return refuse(res, Refusal{409, "the job has no result yet"});
  if (who.user_id == 0) {
    return refuse(res, Refusal{400, "a share belongs to a user: sign in as one"});
  }
  auto body = parse_json_body(req.body);
  if (auto* refusal = std::get_if<Refusal>(&body)) return refuse(res, *refusal);
  const json& fields = std::get<json>(body);
  const int64_t max_ttl_seconds = settings_.share_max_ttl_ms / 1000;
  const auto ttl = fields.find("ttl_seconds");
  if (ttl == fields.end() || !ttl->is_number_integer() || ttl->get<int64_t>() < 1 ||
      ttl->get<int64_t>() > max_ttl_seconds) {
    return refuse(res, Refusal{400, "ttl_seconds is 1.." + std::to_string(max_ttl_seconds)});
  }
  std::optional<int64_t> max_downloads;
  if (const auto limit = fields.find("max_downloads"); limit != fields.end() && !limit->is_null()) {
    if (!limit->is_number_integer() || limit->get<int64_t>() < 1 ||
        limit->get<int64_t>() > 1'000'000) {
      return refuse(res, Refusal{400, "max_downloads is 1..1000000, or absent for no limit"});
    }
    max_downloads = limit->get<int64_t>();
  }
  const Issued share = store_->create_share(who.user_id, job_id, ttl->get<int64_t>() * 1000,
                                            max_downloads, protocol::unix_ms());
  if (share.outcome == Issued::Outcome::too_many) {
    return refuse(res, Refusal{409, "you hold the most share links there may be"});
  }
  if (share.outcome != Issued::Outcome::issued) return refuse(res, Refusal{404, "no such job"});
  send_json(res, 201,
            json{{"id", share.id},
                 {"url", "/s/" + share.token},
                 {"expires_at", iso8601(*share.expires_ms)},
                 {"max_downloads", max_downloads ? json(*max_downloads) : json(nullptr)}});
}

void AccountsApi::list_shares(httplib::Response& res) const {
  const Principal& who = current_principal();
  json out = json::array();
  if (enabled() && who.user_id != 0) {
    for (const ShareInfo& share : store_->list_shares(who.user_id, protocol::unix_ms())) {
      out.push_back(
          {{"id", share.id},
           {"job_id", share.job_id},
           {"created_at", iso8601(share.created_ms)},
           {"expires_at", iso8601(share.expires_ms)},
           {"max_downloads", share.max_downloads ? json(*share.max_downloads) : json(nullptr)},
           {"downloads", share.downloads},
           {"state", to_string(share.state)}});
    }
  }
  send_json(res, 200, out);
}

void AccountsApi::revoke_share(const std::string& id, httplib::Response& res) {
  const Principal& who = current_principal();
  if (!enabled() || who.user_id == 0 ||
      !store_->revoke_share(who.user_id, id, protocol::unix_ms())) {
    return refuse(res, Refusal{404, "no such share"});
  }
  res.status = 204;
}

}  // namespace framepipe::http
