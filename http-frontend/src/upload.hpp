// Receiving a job upload: a multipart/form-data body streamed piece by piece from httplib's
// ContentReader straight to a file on disk, never held in memory, with the size limit and the
// free-disk reserve enforced while the bytes arrive (a chunked body has no length to check first).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>

#include <httplib.h>

namespace framepipe::http {

// An HTTP answer other than success: the status and the sentence for {"error": ...}.
struct Refusal {
  int status = 500;
  std::string message;
};

struct UploadLimits {
  int64_t max_file_bytes = 0;
  int64_t min_free_disk_bytes = 0;  // the upload stops when free space falls below this
};

struct UploadForm {
  std::filesystem::path input_path;  // the file written, inside the job directory
  std::string input_name;            // the client's file name, for display
  int64_t input_bytes = 0;
  // The other fields, as sent; nothing when absent.
  std::optional<std::string> filters;
  std::optional<std::string> preset;
  std::optional<std::string> crf;
  std::optional<std::string> format;
  std::optional<std::string> distribution;
};

// Free bytes for unprivileged users on the file system holding `path`; nothing if unknown.
std::optional<int64_t> free_disk_bytes(const std::filesystem::path& path);

// Reads the multipart body: the `file` field goes to `job_directory`/input[.ext] (the extension
// checked by sanitize_extension), the `filters`, `preset`, `crf`, `format` and `distribution`
// fields are kept as text, other
// fields are skipped. The request must be multipart/form-data. After a refusal the rest of the body
// is drained, up to a few MiB (the server's lingering close takes the rest). A refusal leaves the
// files it wrote for the caller to remove with the directory. Never throws except std::bad_alloc.
std::variant<UploadForm, Refusal> receive_upload(const httplib::ContentReader& reader,
                                                 const std::filesystem::path& job_directory,
                                                 const UploadLimits& limits);

}  // namespace framepipe::http
