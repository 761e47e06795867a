// The web pages and their assets, read from one directory: by default the one installed beside
// the binary (<bin>/../share/framepipe/web, which the build fills in the build tree too). Only a
// whitelist of plain names with known types is served, so a request can never name a path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace framepipe::http {

// The web directory used when none is configured: <directory of /proc/self/exe>/../share/
// framepipe/web, normalized. Throws std::runtime_error if /proc/self/exe cannot be read.
std::filesystem::path default_web_directory();

// True for [A-Za-z0-9._-]+ without a leading '.' and without "..": a file directly inside the web
// directory, never a hidden file or a way out of it.
bool is_safe_asset_name(std::string_view name);

// The Content-Type for a served file's name (by its extension), or nothing when that type is not
// served.
std::optional<std::string_view> content_type_for(std::string_view name);

class StaticFiles {
 public:
  // Files larger than this are refused (the assets are tens or hundreds of KB).
  static constexpr int64_t kMaxFileBytes = 16 << 20;

  struct File {
    std::string body;
    std::string content_type;
    std::string etag;  // quoted; changes with the file's size or modification time
  };

  // The directory need not exist: every read then finds nothing.
  explicit StaticFiles(std::filesystem::path directory);

  const std::filesystem::path& directory() const { return directory_; }
  // The directory holds the jobs page (index.html).
  bool has_pages() const;

  // The file `name` of the directory; nothing when the name is not safe, its type is not served,
  // or it is missing, not a regular file, too large or unreadable. Never throws except
  // std::bad_alloc.
  std::optional<File> read(std::string_view name) const;

 private:
  std::filesystem::path directory_;
};

}  // namespace framepipe::http
