#include "framepipe/http/user_command.hpp"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "account_store.hpp"
#include "framepipe/protocol/net.hpp"
#include "secrets.hpp"

namespace framepipe::http {

void add_options(CLI::App& command, UserCommand& options) {
  command
      .add_option("action", options.action,
                  "add, or passwd (a new password, ending the user's sessions), with the password "
                  "from standard input; or list")
      ->required()
      ->check(CLI::IsMember({"add", "passwd", "list"}));
  command.add_option("name", options.name, "the user name (for add and passwd)");
  command.add_option("--data-dir", options.data_dir, "the head's data directory")
      ->capture_default_str();
}

int run(const UserCommand& options) {
  const std::filesystem::path directory(options.data_dir);
  if (!std::filesystem::is_directory(directory)) {
    throw std::runtime_error("no data directory " + options.data_dir +
                             " (give the head's --data-dir)");
  }
  AccountStore store(directory);
  if (options.action == "list") {
    for (const User& user : store.list_users()) {
      std::cout << user.id << '\t' << user.name << (user.is_admin ? "\tadmin" : "")
                << (user.disabled ? "\tdisabled" : "") << '\n';
    }
    return 0;
  }
  if (auto problem = username_problem(options.name)) throw std::invalid_argument(*problem);
  if (isatty(STDIN_FILENO)) std::cerr << "password for " << options.name << ": " << std::flush;
  std::string password;
  if (!std::getline(std::cin, password)) {
    throw std::invalid_argument("no password on standard input");
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (auto problem = password_problem(password)) throw std::invalid_argument(*problem);
  if (options.action == "passwd") {
    const auto user = store.find_user_by_name(options.name);
    if (!user) throw std::invalid_argument("no user named " + options.name);
    const auto ended =
        store.set_password(user->id, hash_password(password, PasswordCost::interactive));
    if (!ended) throw std::invalid_argument("no user named " + options.name);
    std::cout << "password of " << user->name << " set; " << *ended << " session(s) ended\n";
    return 0;
  }
  const UserCreation made = store.create_user(
      options.name, hash_password(password, PasswordCost::interactive), protocol::unix_ms());
  switch (made.outcome) {
    case UserCreation::Outcome::created:
      std::cout << "user " << made.user->name << " created"
                << (made.user->is_admin ? " (the first: an admin)" : "") << '\n';
      return 0;
    case UserCreation::Outcome::name_taken:
      throw std::invalid_argument("the user name " + options.name + " is taken");
    case UserCreation::Outcome::signup_closed:
    case UserCreation::Outcome::invalid_name:
      break;
  }
  throw std::invalid_argument("cannot create the user " + options.name);
}

}  // namespace framepipe::http
