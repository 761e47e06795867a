#include "framepipe/http/options.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
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
  config.curve = protocol::load_curve(options.curve);
  return config;
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
