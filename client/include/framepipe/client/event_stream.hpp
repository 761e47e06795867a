// Server-sent events as the head's /api/jobs/{id}/events sends them (text/event-stream): the bytes
// arrive in pieces of any size, and the parser gives back whole events. Comments (": keep-alive")
// and fields other than event and data are skipped; an event without a name is "message".
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace framepipe::client {

struct ServerEvent {
  std::string name = "message";
  std::string data;  // data lines joined with '\n'
};

class EventStreamParser {
 public:
  // A line longer than this (no newline within it) is an error: a stream that never ends a line
  // must not grow the buffer without bound.
  static constexpr std::size_t kMaxLine = 16 << 20;

  // Takes the next piece of the stream; returns the events it completed, in order. Throws
  // std::runtime_error for a line over kMaxLine.
  std::vector<ServerEvent> feed(std::string_view bytes);

 private:
  void take_line(std::string_view line, std::vector<ServerEvent>& out);

  std::string partial_;  // an unfinished line
  ServerEvent event_;
  bool has_data_ = false;
};

}  // namespace framepipe::client
