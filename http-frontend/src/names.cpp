#include "names.hpp"

#include <cstdint>
#include <cstdio>

namespace framepipe::http {
namespace {

constexpr size_t kMaxExtensionLength = 8;
constexpr size_t kMaxDisplayBytes = 200;
constexpr size_t kMaxDownloadStem = 64;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::string_view last_component(std::string_view name) {
  const auto slash = name.find_last_of("/\\");
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

size_t decode_utf8(std::string_view text, uint32_t& code_point) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(0);
  size_t length = 0;
  uint32_t minimum = 0;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1Fu, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0Fu, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07u, minimum = 0x10000;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3Fu);
  }
  if (code_point < minimum || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return length;
}

bool is_hidden(uint32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F) ||  // C0, DEL, C1
         (code_point >= 0x200B && code_point <= 0x200F) ||                   // zero width, marks
         (code_point >= 0x202A && code_point <= 0x202E) ||                   // bidi embedding
         (code_point >= 0x2066 && code_point <= 0x2069) || code_point == 0xFEFF;
}

std::string sanitize_extension(std::string_view client_name) {
  const std::string_view name = last_component(client_name);
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  const std::string_view extension = name.substr(dot + 1);
  if (extension.empty() || extension.size() > kMaxExtensionLength) return {};
  std::string result;
  for (char c : extension) {
    const char l = lower(c);
    if (!is_lower_alnum(l)) return {};
    result += l;
  }
  return result;
}

std::string display_name(std::string_view client_name) {
  std::string_view rest = last_component(client_name);
  std::string result;
  while (!rest.empty()) {
    uint32_t code_point = 0;
    const size_t length = decode_utf8(rest, code_point);
    std::string_view piece = length == 0 ? kReplacement : rest.substr(0, length);
    rest.remove_prefix(length == 0 ? 1 : length);
    if (length != 0 && is_hidden(code_point)) continue;
    if (result.size() + piece.size() > kMaxDisplayBytes) break;
    result += piece;
  }
  const auto first = result.find_first_not_of(' ');
  if (first == std::string::npos) return "upload";
  result.erase(0, first);
  result.erase(result.find_last_not_of(' ') + 1);
  return result;
}

std::string download_name(std::string_view input_name, std::string_view fallback,
                          std::string_view extension) {
  std::string_view stem = input_name;
  const auto dot = stem.rfind('.');
  if (dot != std::string_view::npos && dot > 0) stem = stem.substr(0, dot);
  std::string result;
  for (char c : stem) {
    if (result.size() >= kMaxDownloadStem) break;
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    result += safe ? c : '_';
  }
  const std::string suffix = "." + std::string(extension);
  if (result.find_first_not_of("._") == std::string::npos) return std::string(fallback) + suffix;
  return result + "-framepipe" + suffix;
}

std::string printable(std::string_view text) {
  std::string result;
  for (char c : text) {
    const auto byte = static_cast<uint8_t>(c);
    if (byte >= 0x20 && byte < 0x7F && c != '\\') {
      result += c;
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", static_cast<unsigned>(byte));
      result += escaped;
    }
  }
  return result;
}

}  // namespace framepipe::http
