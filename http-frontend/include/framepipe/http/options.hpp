// `framepipe http`'s command line: its flags, and the Config they make. The API token is a secret,
// so it never comes from a flag (the command line of every process is readable by every user):
// it comes from a file (--api-token-file) or from the environment (FRAMEPIPE_API_TOKEN).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "framepipe/http/frontend.hpp"
#include "framepipe/protocol/options.hpp"

namespace framepipe::http {

// The environment variable that may hold the API token.
inline constexpr const char* kApiTokenVariable = "FRAMEPIPE_API_TOKEN";

struct Options {
  protocol::ClusterAddress cluster;   // --zmq-port-base, --bind-host, --head
  std::string api_token_file;         // --api-token-file; "": FRAMEPIPE_API_TOKEN, when set
  protocol::CurveFiles curve;         // --curve-key
  std::string auth = "accounts";      // --auth: accounts or none
  std::string signup = "open";        // --signup: open or closed
  std::string share_max_ttl = "30d";  // --share-max-ttl
  // --http-port, --data-dir, --max-upload-bytes, --threads, --min-free-disk-mb, --worker-command,
  // --cors-origin, --web-dir, --access-log-json; endpoints, token and keys come from the above.
  Config config;
};

// Declares the flags on `command`, each bound to a member of `options`.
void add_options(CLI::App& command, Options& options);

// The http-frontend's Config: endpoints from the port base and hosts, the command that adds a
// worker (unless given), the API token (read_api_token), keys read from their files. Throws
// std::runtime_error for a key or token that cannot be read.
Config make_config(const Options& options);

// The API token: the content of `file` without its trailing newline (or white space) when a file
// is given, else the value of FRAMEPIPE_API_TOKEN, else "" (the API is open). Throws
// std::runtime_error when the file cannot be read, is empty, or can be read or written by every
// user (chmod o-rw), and std::invalid_argument when both a file and the variable are given.
std::string read_api_token(const std::string& file);

// "3600", "90m", "12h", "30d" in seconds; nothing for anything else.
std::optional<int64_t> parse_duration_seconds(std::string_view text);

}  // namespace framepipe::http
