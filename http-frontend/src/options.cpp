#include "framepipe/http/options.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <CLI/CLI.hpp>

namespace framepipe::http {
namespace {

// A token is short; a larger file is not a token file.
constexpr std::size_t kMaxTokenFileBytes = 4096;

std::string read_token_file(const std::string& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rbe"),
                                                             &std::fclose);
  struct stat status {};
  if (!file || fstat(fileno(file.get()), &status) != 0) {
    throw std::runtime_error("cannot read the API token file " + path + ": " +
                             std::strerror(errno));
  }
  if ((status.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", status.st_mode & 07777);
    throw std::runtime_error("the API token file " + path + " can be read or written by every " +
                             "user (mode " + mode + "): chmod o-rw " + path);
  }
  std::string text(kMaxTokenFileBytes + 1, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file.get()));
  if (text.size() > kMaxTokenFileBytes) {
    throw std::runtime_error("the API token file " + path + " is larger than " +
                             std::to_string(kMaxTokenFileBytes) + " bytes: not a token");
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (text.empty()) throw std::runtime_error("the API token file " + path + " is empty");
  return text;
}

}  // namespace

void add_options(CLI::App& command, Options& options) {
  Config& config = options.config;
  protocol::add_cluster_flags(command, options.cluster, true);
  command.add_option("--http-port", config.port)->capture_default_str();
  command.add_option("--data-dir", config.data_dir)->capture_default_str();
  command.add_option("--max-upload-bytes", config.max_upload_bytes)->capture_default_str();
  command.add_option("--threads", config.threads, "HTTP threads")
      ->capture_default_str()
      ->check(CLI::Range(2, 1024));
  command
      .add_option("--max-event-streams", config.max_event_streams,
                  "live event streams at once (each address may hold an eighth of them)")
      ->capture_default_str()
      ->check(CLI::Range(8, 65536));
  command
      .add_option("--min-free-disk-mb", config.min_free_disk_mb,
                  "refuse uploads that would leave less free space in the data directory")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command.add_option("--worker-command", config.worker_command,
                     "the command shown to users to add a worker");
  command.add_option("--api-token-file", options.api_token_file,
                     "require Authorization: Bearer TOKEN on /api, TOKEN read from this file "
                     "(not readable by other users; or from FRAMEPIPE_API_TOKEN)");
  command.add_option("--cors-origin", config.cors_origin, "allow this origin (CORS)");
  command.add_option("--web-dir", config.web_dir,
                     "the web pages' directory (default: share/framepipe/web beside the binary's "
                     "bin/)");
  command
      .add_option("--auth", options.auth,
                  "accounts: users sign up and in and see only their own jobs; none: one open "
                  "single-user server for a trusted machine (with --api-token-file, one shared "
                  "token)")
      ->capture_default_str()
      ->check(CLI::IsMember({"accounts", "none"}));
  command
      .add_option("--signup", options.signup,
                  "open: anyone who reaches the server may create an account; closed: only an "
                  "admin creates them (the first account is always the admin)")
      ->capture_default_str()
      ->check(CLI::IsMember({"open", "closed"}));
  command
      .add_option("--quota-mb", config.quota_mb,
                  "each user's disk quota in MiB (inputs and results; 0: none); an admin changes "
                  "it per user")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command
      .add_option("--share-max-ttl", options.share_max_ttl,
                  "the longest a share link may last: seconds, or a number with s, m, h or d")
      ->capture_default_str();
  command.add_flag("--access-log-json", config.access_log_json,
                   "log one JSON line per request on stdout");
  command.add_option("--curve-key", options.curve.key, "the head's CURVE key pair");
}

Config make_config(const Options& options) {
  Config config = options.config;
  const auto& cluster = options.cluster;
  config.bind_host = cluster.bind_host;
  config.registry_endpoint = cluster.head_endpoint(protocol::kRegistryPortOffset);
  config.control_endpoint = cluster.head_endpoint(protocol::kControlPortOffset);
  config.progress_endpoint = cluster.head_endpoint(protocol::kProgressPortOffset);
  if (config.worker_command.empty()) {
    config.worker_command = "framepipe worker " + config.registry_endpoint;
  }
  config.api_token = read_api_token(options.api_token_file);
  config.accounts = options.auth == "accounts";
  config.signup_open = options.signup == "open";
  const auto ttl = parse_duration_seconds(options.share_max_ttl);
  if (!ttl || *ttl < 60) {
    throw std::invalid_argument("--share-max-ttl: " + options.share_max_ttl +
                                " is no duration of a minute or more (3600, 90m, 12h, 30d)");
  }
  config.share_max_ttl_seconds = *ttl;
  config.curve = protocol::load_curve(options.curve);
  return config;
}

std::optional<int64_t> parse_duration_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t unit = 1;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    default:
      unit = 0;
  }
  if (unit != 0) text.remove_suffix(1);
  if (unit == 0) unit = 1;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0 ||
      value > (int64_t{1} << 40) / unit) {
    return std::nullopt;
  }
  return value * unit;
}

std::string read_api_token(const std::string& file) {
  const char* variable = std::getenv(kApiTokenVariable);
  const bool in_environment = variable != nullptr && *variable != '\0';
  if (file.empty()) return in_environment ? variable : "";
  if (in_environment) {
    throw std::invalid_argument(std::string("the API token is given twice, by --api-token-file "
                                            "and by ") +
                                kApiTokenVariable + ": give one");
  }
  return read_token_file(file);
}

}  // namespace framepipe::http
