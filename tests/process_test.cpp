#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "framepipe/process/child_process.hpp"
#include "framepipe/process/supervisor.hpp"
#include "temporary_directory.hpp"

using namespace framepipe;
using namespace std::chrono_literals;
using process::Command;
using process::Supervisor;

namespace {

// Short rules, so that a whole supervision takes well under a second.
process::SupervisorRules quick_rules() {
  process::SupervisorRules rules;
  rules.restart_delay = 20ms;
  rules.quick_death = 5s;
  rules.quick_deaths_allowed = 3;
  rules.stop_grace = 300ms;
  rules.poll = 10ms;
  return rules;
}

// A shell script as a role of `up` would run: in this process's group.
Command shell(const std::string& script) {
  Command command;
  command.argv = {"sh", "-c", script};
  command.own_process_group = false;
  return command;
}

bool alive(pid_t pid) {
  return kill(pid, 0) == 0;
}

// Waits for the child to exit, for at most `timeout`; returns whether it did.
bool wait_for_exit(process::ChildProcess& child, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!child.exited() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  return child.exited();
}

}  // namespace

TEST_CASE("a process dying right after starting, three times in a row, stops everything",
          "[process]") {
  Supervisor supervisor("test", quick_rules());
  supervisor.add("sleeper", shell("exec sleep 30"));
  supervisor.add("crasher", shell("exit 3"));
  std::set<pid_t> seen;
  const int exit_code = supervisor.run([&] {
    for (const pid_t pid : supervisor.pids()) seen.insert(pid);
    return false;
  });
  CHECK(exit_code == 1);
  CHECK(supervisor.pids().empty());
  for (const pid_t pid : seen) CHECK_FALSE(alive(pid));
}

TEST_CASE("a process that dies after running a while is started again", "[process]") {
  auto rules = quick_rules();
  rules.quick_death = 1ms;  // every death counts as late
  Supervisor supervisor("test", rules);
  supervisor.add("flaky", shell("sleep 0.05; exit 1"));
  std::set<pid_t> seen;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  const int exit_code = supervisor.run([&] {
    for (const pid_t pid : supervisor.pids()) seen.insert(pid);
    return seen.size() >= 4 || std::chrono::steady_clock::now() > give_up;
  });
  CHECK(exit_code == 0);
  CHECK(seen.size() >= 4);
  CHECK(supervisor.pids().empty());
}

TEST_CASE("a stop request stops every process and waits, with SIGKILL after the grace",
          "[process]") {
  Supervisor supervisor("test", quick_rules());
  supervisor.add("polite", shell("exec sleep 30"));
  supervisor.add("deaf", shell("trap '' TERM; exec sleep 30"));  // ignores SIGTERM
  std::set<pid_t> seen;
  const auto started = std::chrono::steady_clock::now();
  const int exit_code = supervisor.run([&] {
    for (const pid_t pid : supervisor.pids()) seen.insert(pid);
    return std::chrono::steady_clock::now() - started > 200ms;
  });
  CHECK(exit_code == 0);
  CHECK(seen.size() == 2);
  for (const pid_t pid : seen) CHECK_FALSE(alive(pid));
}

TEST_CASE("a child gets the environment changes and writes to its log", "[process]") {
  const testing::TemporaryDirectory directory;
  const std::string log = (directory.path() / "child.log").string();
  setenv("FRAMEPIPE_TEST_REMOVED", "secret", 1);
  Command command;
  command.argv = {"sh", "-c",
                  "echo \"set=$FRAMEPIPE_TEST_SET removed=${FRAMEPIPE_TEST_REMOVED-none}\""};
  command.log_path = log;
  command.environment = {{"FRAMEPIPE_TEST_SET", "yes"}, {"FRAMEPIPE_TEST_REMOVED", std::nullopt}};
  process::ChildProcess child(command);
  REQUIRE(wait_for_exit(child, 10s));
  CHECK(child.wait_status() == 0);
  unsetenv("FRAMEPIPE_TEST_REMOVED");
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str() == "set=yes removed=none\n");
}

TEST_CASE("a stopped child with a group of its own takes its group with it", "[process]") {
  // The shell starts a background sleep and waits: SIGTERM to the group reaches both.
  Command command;
  command.argv = {"sh", "-c", "sleep 30 & wait"};
  process::ChildProcess child(command);
  const pid_t group = child.pid();
  std::this_thread::sleep_for(100ms);
  child.stop(2s);
  CHECK(child.exited());
  // The background sleep, orphaned, is reaped by init: give it a moment.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (kill(-group, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(kill(-group, 0) != 0);  // no process is left in the group
}
