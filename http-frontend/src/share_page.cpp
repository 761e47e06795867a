#include "share_page.hpp"

#include <cstdio>

namespace framepipe::http {

namespace {

std::string size_text(int64_t bytes) {
  char text[32];
  if (bytes >= (int64_t{1} << 30)) {
    std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  } else if (bytes >= (1 << 20)) {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(text, sizeof text, "%.0f KiB", static_cast<double>(bytes) / 1024);
  }
  return text;
}

std::string document(std::string_view title, std::string_view body) {
  std::string out = R"(<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <meta name="referrer" content="no-referrer">
  <meta name="robots" content="noindex">
  <title>)";
  out += title;
  out += R"( · framepipe</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/assets/style.css">
</head>
<body class="share-page">
  <main id="main" class="page share">
)";
  out += body;
  out += R"(
  </main>
</body>
</html>
)";
  return out;
}

}  // namespace

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string share_page(const SharedResult& shared) {
  const std::string title = escape_html(shared.title);
  const std::string media = escape_html(shared.media_url);
  const std::string type = escape_html(shared.mime_type);
  std::string body = "    <h1 class=\"share-title\">" + title + "</h1>\n";
  if (shared.audio) {
    body += "    <audio id=\"player\" class=\"share-player\" controls preload=\"metadata\" src=\"" +
            media + "\"></audio>\n";
  } else {
    body +=
        "    <video id=\"player\" class=\"share-player\" controls playsinline "
        "preload=\"metadata\" src=\"" +
        media + "\"></video>\n";
  }
  body += "    <p class=\"share-facts\">" + type + " · " + size_text(shared.bytes) +
          " · this link works until <time datetime=\"" + escape_html(shared.expires_at) + "\">" +
          escape_html(shared.expires_at) + "</time></p>\n";
  body += "    <p><a id=\"download\" class=\"button primary\" href=\"" +
          escape_html(shared.download_url) + "\">Download</a></p>\n";
  return document(title, body);
}

std::string share_gone_page(std::string_view reason) {
  const std::string why = reason == "expired"   ? "This link has expired."
                          : reason == "revoked" ? "This link was revoked by its owner."
                          : reason == "used up" ? "This link has been used as many times as its "
                                                  "owner allowed."
                                                : "What this link shared has been deleted.";
  return document(
      "Link no longer available",
      "    <h1 class=\"share-title\">This link no longer works</h1>\n    <p id=\"gone\" "
      "class=\"share-gone\">" +
          std::string(why) + " Ask the person who sent it for a new one.</p>\n");
}

}  // namespace framepipe::http
