// `framepipe user add NAME`: creates an account on the head's machine, in the data directory the
// head uses (works while it runs, and when sign-up is closed). The password is read from standard
// input (its first line), never from the command line, which every user of the machine can read.
// `framepipe user list` lists the accounts.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

namespace framepipe::http {

struct UserCommand {
  std::string action;  // add or list
  std::string name;
  std::string data_dir = "framepipe-data";
};

void add_options(CLI::App& command, UserCommand& options);
int run(const UserCommand& options);

}  // namespace framepipe::http
