// What `framepipe submit` shows of a job: the head's job JSON read into JobStatus, and the one
// line drawn from it (a bar, frames, frames per second and time left). Pure functions: no I/O.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace framepipe::client {

struct JobStatus {
  std::string id;
  std::string state;    // queued, running, done, failed, canceled
  std::string message;  // the head's sentence for people
  std::string error;    // why it failed; "" otherwise
  int64_t frames_done = 0;
  int64_t frames_total = 0;  // 0: unknown
  bool frames_total_exact = false;
  double fps = 0;
  int64_t output_bytes = 0;
  std::string distribution;  // what ran: frames, segments, copied; "" until started
};

// Reads a job from the head's JSON (GET /api/jobs/{id}, or an event's data). Throws
// std::runtime_error when the text is not a job.
JobStatus parse_job_status(std::string_view json_text);

// done, failed or canceled: the job will not change again.
bool is_final(const JobStatus& job);

// "0:07", "12:34", "1:02:03": whole seconds, rounded up (a second left is not "0:00").
std::string clock_text(double seconds);

// The live line, at most about 80 columns:
//   "[##########..............]  42%  1134/2700 frames  87.3 fps  0:18 left"
// A job whose length is unknown shows its frames and rate without a bar; a queued one the head's
// message.
std::string progress_line(const JobStatus& job);

// "uploading clip.mp4  45%  120.0/265.3 MiB"
std::string upload_line(std::string_view name, int64_t sent, int64_t total);

}  // namespace framepipe::client
