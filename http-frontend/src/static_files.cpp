#include "static_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "unique_fd.hpp"

namespace framepipe::http {
namespace {

namespace fs = std::filesystem;

struct TypeByExtension {
  std::string_view extension;
  std::string_view content_type;
};

constexpr std::array<TypeByExtension, 9> kTypes = {{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
}};

bool is_name_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

fs::path default_web_directory() {
  std::error_code error;
  const fs::path executable = fs::read_symlink("/proc/self/exe", error);
  if (error) throw std::runtime_error("cannot find this executable: " + error.message());
  return (executable.parent_path() / ".." / "share" / "framepipe" / "web").lexically_normal();
}

bool is_safe_asset_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (char c : name) {
    if (!is_name_character(c)) return false;
  }
  return true;
}

std::optional<std::string_view> content_type_for(std::string_view name) {
  for (const auto& [extension, content_type] : kTypes) {
    if (name.size() > extension.size() && name.ends_with(extension)) return content_type;
  }
  return std::nullopt;
}

StaticFiles::StaticFiles(fs::path directory) : directory_(std::move(directory)) {}

bool StaticFiles::has_pages() const {
  std::error_code error;
  return fs::is_regular_file(directory_ / "index.html", error);
}

std::optional<StaticFiles::File> StaticFiles::read(std::string_view name) const {
  if (!is_safe_asset_name(name)) return std::nullopt;
  const auto content_type = content_type_for(name);
  if (!content_type) return std::nullopt;

  const fs::path path = directory_ / std::string(name);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));  // a FIFO must not block
  struct stat info {};
  if (fd.get() < 0 || ::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode) ||
      info.st_size > kMaxFileBytes) {
    return std::nullopt;
  }
  File file;
  file.content_type = std::string(*content_type);
  file.body.resize(static_cast<size_t>(info.st_size));
  size_t got = 0;
  while (got < file.body.size()) {
    const ssize_t count = ::read(fd.get(), file.body.data() + got, file.body.size() - got);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) return std::nullopt;  // an I/O error, or the file shrank meanwhile
    got += static_cast<size_t>(count);
  }
  char etag[64];
  std::snprintf(etag, sizeof etag, "\"%llx-%llx\"", static_cast<unsigned long long>(info.st_size),
                static_cast<unsigned long long>(info.st_mtim.tv_sec) * 1000000000ULL +
                    static_cast<unsigned long long>(info.st_mtim.tv_nsec));
  file.etag = etag;
  return file;
}

}  // namespace framepipe::http
