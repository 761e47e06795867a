// `framepipe submit IN -o OUT`: what a user scripts instead of curl loops. It uploads IN to a head
// (POST /api/jobs, a multipart body of known length streamed from the file), follows the job's
// event stream with a live progress line (frames, fps, time left), downloads the result to OUT
// (written as OUT.part and renamed when complete), and exits non-zero with the head's reason when
// the job is refused or fails. Ctrl-C (or SIGTERM) cancels the job on the head. The format comes
// from OUT's extension unless --format names one; a token comes from FRAMEPIPE_TOKEN.
#pragma once
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace framepipe::client {

struct SubmitConfig {
  std::string input;
  std::string output;
  std::string head = "http://127.0.0.1:8080";  // FRAMEPIPE_HEAD overrides the default
  std::string filters;                         // "": the head's default chain (copy)
  std::string format;                          // "": OUT's extension
  std::string preset;                          // "": the head's default
  std::optional<int> crf;
  std::string distribution;  // "": auto
  std::string token;         // FRAMEPIPE_TOKEN; sent as Authorization: Bearer
  bool quiet = false;        // errors only, no progress
};

// Exit codes: 0 done and written; 1 refused, failed, canceled elsewhere or not reachable;
// 130 stopped by Ctrl-C or SIGTERM (the job canceled on the head).
inline constexpr int kExitFailed = 1;
inline constexpr int kExitInterrupted = 130;

void add_options(CLI::App& command, SubmitConfig& config);

// Runs the whole submission; never throws (every failure is a message on stderr and an exit code).
int run(const SubmitConfig& config);

}  // namespace framepipe::client
