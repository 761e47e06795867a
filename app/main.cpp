// framepipe: one executable, one subcommand per role or tool. main declares each subcommand with
// its component's flags (add_options, in the component's options.hpp), runs the one given with its
// component's run(config), and maps a failure to exit code 1; CLI11 answers --help and bad flags.
#include <functional>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "framepipe/bench/options.hpp"
#include "framepipe/client/submit.hpp"
#include "framepipe/http/options.hpp"
#include "framepipe/http/user_command.hpp"
#include "framepipe/protocol/keygen.hpp"
#include "framepipe/registry/options.hpp"
#include "framepipe/sink/options.hpp"
#include "framepipe/ventilator/options.hpp"
#include "framepipe/worker/options.hpp"
#include "runtime.hpp"
#include "up.hpp"

namespace {

using namespace framepipe;

struct Subcommand {
  CLI::App* command;
  std::function<int()> run;  // once the command line is parsed
};

// The subcommand `name`, with the flags the add_options beside Options declares, and `run`.
template <class Options>
Subcommand subcommand(CLI::App& app, const char* name, const char* description,
                      int (*run)(const Options&)) {
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(name, description);
  add_options(*command, *options);
  return {command, [options, run] { return run(*options); }};
}

// A role's subcommand: it runs with the Config its flags make (the make_config and run beside
// Options, found by its namespace).
template <class Options>
Subcommand role(CLI::App& app, const char* name, const char* description) {
  return subcommand<Options>(app, name, description,
                             [](const Options& options) { return run(make_config(options)); });
}

}  // namespace

int main(int argc, char** argv) {
  app::configure_process();
  CLI::App app{"framepipe: a distributed video-processing cluster"};
  app.require_subcommand(1);
  const std::vector<Subcommand> subcommands = {
      role<registry::Options>(app, "registry", "track live workers (ROUTER)"),
      role<ventilator::Options>(app, "ventilator", "decode jobs and deal frames"),
      role<sink::Options>(app, "sink", "reorder, encode and publish progress"),
      role<worker::Options>(app, "worker", "filter frames; needs only the registry"),
      role<http::Options>(app, "http", "the web page and the HTTP API"),
      subcommand<up::Options>(app, "up", "start a whole local cluster", up::run),
      subcommand<http::UserCommand>(app, "user",
                                    "accounts of a head: add NAME, passwd NAME (the password on "
                                    "standard input), list",
                                    http::run),
      subcommand<protocol::KeygenConfig>(app, "keygen", "make a CURVE key pair: NAME.key, NAME.pub",
                                         protocol::run),
      subcommand<bench::LocalConfig>(app, "process",
                                     "the single-process loop: decode, filter, encode", bench::run),
      subcommand<client::SubmitConfig>(
          app, "submit", "upload a file to a head, follow the job, download the result",
          client::run),
      subcommand<bench::BenchConfig>(
          app, "bench",
          "time local clusters of N workers against ffmpeg and the single-process loop",
          bench::run),
  };
  CLI11_PARSE(app, argc, argv);

  for (const auto& [command, run] : subcommands) {
    if (!command->parsed()) continue;
    try {
      return run();
    } catch (const std::exception& e) {
      spdlog::critical("{}: {}", command->get_name(), e.what());
      return 1;
    }
  }
  return 0;
}
