#include "up.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "framepipe/http/options.hpp"
#include "framepipe/process/child_process.hpp"
#include "framepipe/process/supervisor.hpp"
#include "framepipe/protocol/messages.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/signals.hpp"
#include "framepipe/registry/options.hpp"
#include "framepipe/sink/options.hpp"
#include "framepipe/ventilator/options.hpp"
#include "framepipe/worker/options.hpp"

namespace framepipe::up {
namespace {

// One Options per role, filled by the role's own flag declarations.
struct RoleOptions {
  registry::Options registry;
  ventilator::Options ventilator;
  sink::Options sink;
  http::Options http;
  worker::Options worker;
};

// The roles up starts, in this order, each by its subcommand's name (`framepipe registry`).
struct Role {
  const char* name;
  void (*declare)(CLI::App& command, RoleOptions& options);  // the role's add_options
};
constexpr Role kRoles[] = {
    {"registry", [](CLI::App& c, RoleOptions& o) { registry::add_options(c, o.registry); }},
    {"ventilator", [](CLI::App& c, RoleOptions& o) { ventilator::add_options(c, o.ventilator); }},
    {"sink", [](CLI::App& c, RoleOptions& o) { sink::add_options(c, o.sink); }},
    {"http", [](CLI::App& c, RoleOptions& o) { http::add_options(c, o.http); }},
    {"worker", [](CLI::App& c, RoleOptions& o) { worker::add_options(c, o.worker); }},
};

const Role& role_named(const std::string& name) {
  const auto found = std::find_if(std::begin(kRoles), std::end(kRoles),
                                  [&](const Role& role) { return name == role.name; });
  if (found == std::end(kRoles)) throw std::logic_error("no role " + name);
  return *found;
}

// A role's flag that up takes too, under up's name (prefixed where two roles share the name).
// Each is declared once, by its role: up shows the role's help text, default and checks, and hands
// the value to the role as it was given, which checks it.
struct RoleFlag {
  const char* up_name;
  const char* role;
  const char* role_name;
};
constexpr RoleFlag kRoleFlags[] = {
    {"--http-port", "http", "--http-port"},
    {"--data-dir", "http", "--data-dir"},
    {"--worker-threads", "worker", "--threads"},
    {"--window", "ventilator", "--window"},
    {"--window-segments", "ventilator", "--window-segments"},
    {"--segment-seconds", "ventilator", "--segment-seconds"},
    {"--max-upload-bytes", "http", "--max-upload-bytes"},
    {"--min-free-disk-mb", "http", "--min-free-disk-mb"},
    {"--http-threads", "http", "--threads"},
    {"--resend-after-ms", "ventilator", "--resend-after-ms"},
    {"--no-shared-memory", "ventilator", "--no-shared-memory"},
    {"--cors-origin", "http", "--cors-origin"},
    {"--max-event-streams", "http", "--max-event-streams"},
    {"--auth", "http", "--auth"},
    {"--signup", "http", "--signup"},
    {"--quota-mb", "http", "--quota-mb"},
    {"--share-max-ttl", "http", "--share-max-ttl"},
};

// Declares `flag` on up's command: the role's declaration under up's name. Given, it appends the
// role's flag (and its value) to `arguments`.
void add_role_flag(CLI::App& command, const RoleFlag& flag, std::vector<std::string>& arguments) {
  RoleOptions defaults;
  CLI::App declarations;
  role_named(flag.role).declare(declarations, defaults);
  const CLI::Option* declared = declarations.get_option(flag.role_name);
  const std::string role_name = flag.role_name;
  if (declared->get_expected_max() == 0) {  // a flag, without a value
    command.add_flag_callback(
        flag.up_name, [&arguments, role_name] { arguments.push_back(role_name); },
        declared->get_description());
    return;
  }
  command
      .add_option_function<std::string>(
          flag.up_name,
          [&arguments, role_name](const std::string& value) {
            arguments.insert(arguments.end(), {role_name, value});
          },
          declared->get_description())
      ->type_name(declared->get_type_name())
      ->default_str(declared->get_default_str());
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

// Parses a role's arguments with the role's declarations (on `declarations`), so that up refuses
// what the role would refuse before starting anything. Throws std::invalid_argument.
void parse_arguments(CLI::App& declarations, const std::string& role,
                     const std::vector<std::string>& arguments) {
  std::vector<std::string> reversed(arguments.rbegin(), arguments.rend());  // as CLI11 takes them
  try {
    declarations.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw std::invalid_argument("framepipe " + role + " " + joined(arguments) + ": " + e.what());
  }
}

}  // namespace

std::string advertised_host(const std::string& bind_host) {
  if (bind_host != "0.0.0.0" && bind_host != "*" && bind_host != "::") return bind_host;
  ifaddrs* addresses = nullptr;
  std::string found = "127.0.0.1";
  if (getifaddrs(&addresses) == 0) {
    for (ifaddrs* it = addresses; it; it = it->ifa_next) {
      if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET) continue;
      char text[INET_ADDRSTRLEN] = {};
      const auto* ipv4 = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      inet_ntop(AF_INET, &ipv4->sin_addr, text, sizeof text);
      if (std::string(text).rfind("127.", 0) != 0) {
        found = text;
        break;
      }
    }
    freeifaddrs(addresses);
  }
  return found;
}

void add_options(CLI::App& command, Options& options) {
  command.add_option("--workers", options.workers, "local workers (default: one per core)");
  protocol::add_cluster_flags(command, options.cluster, false);
  for (const auto& flag : kRoleFlags) {
    add_role_flag(command, flag, options.role_arguments[flag.role]);
  }
  command.add_option("--api-token-file", options.api_token_file,
                     "require Authorization: Bearer TOKEN on /api, TOKEN read from this file (not "
                     "readable by other users; or from FRAMEPIPE_API_TOKEN); the http-frontend "
                     "gets it by its environment");
  command.add_option("--curve-dir", options.curve_dir,
                     "CURVE on: DIR/head.key is the head's pair, DIR/workers/*.pub the workers "
                     "allowed in (made by `framepipe keygen`)");
}

int run(const Options& options) {
  const std::string executable = process::self_executable();
  const std::string& host = options.cluster.bind_host;
  const int base = options.cluster.port_base;
  const std::string local = (host == "0.0.0.0" || host == "*") ? "127.0.0.1" : host;
  const int workers = options.workers >= 0
                          ? options.workers
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const std::string api_token = http::read_api_token(options.api_token_file);
  const std::string worker_command =
      "framepipe worker " + protocol::tcp_endpoint(advertised_host(host), base);

  // What up decides for its roles, given to each role that has the flag.
  std::vector<std::pair<std::string, std::string>> settings = {
      {"--zmq-port-base", std::to_string(base)},
      {"--bind-host", host},
      {"--head", local},
      {"--worker-command", worker_command},
  };
  if (!options.curve_dir.empty()) {
    // The head's roles serve with the head's pair and accept DIR/workers/*.pub; the head's own
    // connections (http, local workers) use the head's pair, which they always accept.
    const std::string head_key = options.curve_dir + "/head.key";
    protocol::read_key_file(head_key);  // refuse to start without a usable key
    settings.insert(settings.end(), {{"--curve-key", head_key},
                                     {"--curve-allow", options.curve_dir + "/workers"},
                                     {"--curve-server", head_key}});
  } else {
    protocol::log_curve_off();
  }

  // Every role's arguments, checked by the role's own declarations before anything starts.
  RoleOptions role_options;
  std::vector<std::pair<std::string, std::vector<std::string>>> role_arguments;
  for (const Role& role : kRoles) {
    const std::string name = role.name;
    std::vector<std::string> arguments;
    if (name == "worker") arguments.push_back(protocol::tcp_endpoint(local, base));
    CLI::App declarations;
    role.declare(declarations, role_options);
    for (const auto& [flag, value] : settings) {
      if (declarations.get_option_no_throw(flag)) arguments.insert(arguments.end(), {flag, value});
    }
    if (const auto given = options.role_arguments.find(name);
        given != options.role_arguments.end()) {
      arguments.insert(arguments.end(), given->second.begin(), given->second.end());
    }
    parse_arguments(declarations, name, arguments);
    role_arguments.emplace_back(name, std::move(arguments));
  }

  process::Supervisor supervisor("framepipe up");
  for (const auto& [name, arguments] : role_arguments) {
    spdlog::info("framepipe up: {} {}", name, joined(arguments));
    process::Command command;
    command.argv = {executable, name};
    command.argv.insert(command.argv.end(), arguments.begin(), arguments.end());
    command.own_process_group = false;  // a Ctrl-C or a signal to up's group reaches the roles too
    // The token only to the http-frontend, by its environment: every user can read a command line.
    command.environment[http::kApiTokenVariable] =
        name == "http" && !api_token.empty() ? std::optional(api_token) : std::nullopt;
    for (int i = 0; i < (name == "worker" ? workers : 1); ++i) supervisor.add(name, command);
  }
  std::filesystem::create_directories(role_options.http.config.data_dir);

  const std::string api_host =
      local == "127.0.0.1" && host != local ? advertised_host(host) : local;
  spdlog::info("framepipe up: {} local worker(s); API and web page at http://{}:{}/", workers,
               api_host, role_options.http.config.port);
  spdlog::info(
      "framepipe up: registry on port {} (ZeroMQ ports {}-{}); add a worker from another "
      "machine with: {}",
      base, base, base + protocol::kControlPortOffset, worker_command);
  return supervisor.run(stop_requested);
}

}  // namespace framepipe::up
