// The pages a share link shows a browser: the result in a player with a download button, or why
// the link opens nothing any more (410). Plain HTML without scripts, styled by the site's sheet.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace framepipe::http {

struct SharedResult {
  std::string title;         // the input's name, shown as given (escaped here)
  std::string media_url;     // what the player plays
  std::string download_url;  // what the button downloads
  std::string mime_type;
  bool audio = false;
  int64_t bytes = 0;
  std::string expires_at;  // ISO 8601
};

std::string share_page(const SharedResult& shared);
// `reason`: "expired", "revoked", "used up" or "gone" (the result was deleted).
std::string share_gone_page(std::string_view reason);

// Text made safe inside HTML elements and double-quoted attributes.
std::string escape_html(std::string_view text);

}  // namespace framepipe::http
