// Client-supplied file names, made harmless: they never become paths (only a checked extension
// does), and what is shown or offered as a download name is valid UTF-8 without control
// characters. Pure functions; they never throw except std::bad_alloc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace framepipe::http {

// Decodes one UTF-8 sequence at the start of `text` (not empty). Returns its length and sets
// `code_point`, or returns 0 for an invalid sequence (overlong, surrogate, truncated, too large).
size_t decode_utf8(std::string_view text, uint32_t& code_point);

// Control characters (C0, DEL, C1) and the invisible ones that can make two texts look alike or
// reorder what is shown (zero-width characters, bidirectional overrides, the byte order mark).
bool is_hidden(uint32_t code_point);

// The extension of the client's file name, lower-cased, if it matches [a-z0-9]{1,8}; else "".
std::string sanitize_extension(std::string_view client_name);

// The client's file name for display: its last path component, valid UTF-8 (invalid bytes become
// U+FFFD), without control or bidirectional-override characters, at most 200 bytes; "upload" if
// nothing is left.
std::string display_name(std::string_view client_name);

// A file name for the result's Content-Disposition, ASCII [A-Za-z0-9._-] only:
// "<stem of input_name>-framepipe.<extension>", or "<fallback>.<extension>" (the result format's).
std::string download_name(std::string_view input_name, std::string_view fallback,
                          std::string_view extension = "mp4");

// The text with every byte that is not printable ASCII escaped as \xNN, for log lines.
std::string printable(std::string_view text);

}  // namespace framepipe::http
