#include "framepipe/client/event_stream.hpp"

#include <stdexcept>

namespace framepipe::client {

std::vector<ServerEvent> EventStreamParser::feed(std::string_view bytes) {
  std::vector<ServerEvent> out;
  while (!bytes.empty()) {
    const auto end = bytes.find('\n');
    if (end == std::string_view::npos) {
      if (partial_.size() + bytes.size() > kMaxLine) {
        throw std::runtime_error("the event stream sent a line of over 16 MiB");
      }
      partial_.append(bytes);
      break;
    }
    if (partial_.empty()) {
      take_line(bytes.substr(0, end), out);
    } else {
      partial_.append(bytes.substr(0, end));
      take_line(partial_, out);
      partial_.clear();
    }
    bytes.remove_prefix(end + 1);
  }
  return out;
}

void EventStreamParser::take_line(std::string_view line, std::vector<ServerEvent>& out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) {  // the blank line ends an event; one without data is not dispatched
    if (has_data_) out.push_back(std::move(event_));
    event_ = ServerEvent{};
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // a comment
  const auto colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "event") {
    event_.name = value;
  } else if (field == "data") {
    if (has_data_) event_.data += '\n';
    event_.data.append(value);
    has_data_ = true;
  }
}

}  // namespace framepipe::client
