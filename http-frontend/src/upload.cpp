#include "upload.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "framepipe/protocol/signals.hpp"
#include "names.hpp"
#include "unique_fd.hpp"

namespace framepipe::http {
namespace {

// Form fields other than the file are small; these bound what a client can make us keep.
constexpr size_t kMaxFieldBytes = 4096;
constexpr int64_t kMaxSkippedBytes = 64 * 1024;
constexpr int kMaxParts = 16;
// Free space is checked again after this many bytes written.
constexpr int64_t kDiskCheckIntervalBytes = 8 << 20;
// After a refusal, this much of the rest of the body is read and discarded, so that the client
// reads the answer: closing a socket with unread data sends a reset, which clients report instead.
constexpr int64_t kDrainBytes = 16 << 20;
// httplib hands over 4 KiB pieces; writing in larger blocks saves system calls.
constexpr size_t kWriteBufferBytes = 1 << 20;

// A new file written through a buffer. Errors are reported as errno values.
class FileWriter {
 public:
  // Creates the file (never replacing or following an existing one). 0 or an errno value.
  int create(const std::filesystem::path& path) {
    fd_ =
        UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (fd_.get() < 0) return errno;
    buffer_.reserve(kWriteBufferBytes);
    return 0;
  }
  int write(const char* data, size_t size) {
    if (buffer_.size() + size > kWriteBufferBytes) {
      if (int error = flush()) return error;
    }
    if (size >= kWriteBufferBytes) return write_all(data, size);
    buffer_.insert(buffer_.end(), data, data + size);
    return 0;
  }
  int finish() {
    if (int error = flush()) return error;
    return fd_.close() ? 0 : errno;
  }

 private:
  int flush() {
    const int error = write_all(buffer_.data(), buffer_.size());
    buffer_.clear();
    return error;
  }
  int write_all(const char* data, size_t size) {
    while (size > 0) {
      const ssize_t written = ::write(fd_.get(), data, size);
      if (written < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      data += written;
      size -= static_cast<size_t>(written);
    }
    return 0;
  }

  UniqueFd fd_;
  std::vector<char> buffer_;
};

Refusal write_failure(int error) {
  if (error == ENOSPC || error == EDQUOT) return {507, "the disk is full"};
  return {500, std::string("cannot store the upload: ") + std::strerror(error)};
}

}  // namespace

std::optional<int64_t> free_disk_bytes(const std::filesystem::path& path) {
  struct statvfs info {};
  if (::statvfs(path.c_str(), &info) != 0) return std::nullopt;
  return static_cast<int64_t>(info.f_bavail) * static_cast<int64_t>(info.f_frsize);
}

std::variant<UploadForm, Refusal> receive_upload(const httplib::ContentReader& reader,
                                                 const std::filesystem::path& job_directory,
                                                 const UploadLimits& limits) {
  enum class Part { none, file, field, skipped };
  Part part = Part::none;
  std::string* field = nullptr;
  std::optional<Refusal> refusal;
  UploadForm form;
  FileWriter file;
  bool have_file = false;
  int parts = 0;
  int64_t skipped_bytes = 0;
  int64_t unchecked_bytes = 0;
  int64_t drained_bytes = 0;
  // Refuses the upload; the rest of the body is drained (parts skipped) up to kDrainBytes.
  auto refuse = [&](Refusal why) {
    refusal = std::move(why);
    part = Part::skipped;
    return true;
  };

  const bool complete = reader(
      [&](const httplib::MultipartFormData& header) {
        if (refusal) return true;
        if (++parts > kMaxParts) return refuse({400, "too many form fields"});
        if (header.name == "file") {
          if (have_file) return refuse({400, "more than one file field"});
          have_file = true;
          const std::string extension = sanitize_extension(header.filename);
          form.input_path = job_directory / (extension.empty() ? "input" : "input." + extension);
          form.input_name = display_name(header.filename);
          if (int error = file.create(form.input_path)) return refuse(write_failure(error));
          part = Part::file;
        } else if (header.name == "filters" || header.name == "preset" || header.name == "crf" ||
                   header.name == "format" || header.name == "distribution") {
          auto& slot = header.name == "filters"  ? form.filters
                       : header.name == "preset" ? form.preset
                       : header.name == "crf"    ? form.crf
                       : header.name == "format" ? form.format
                                                 : form.distribution;
          slot.emplace();
          field = &*slot;
          part = Part::field;
        } else {
          part = Part::skipped;
        }
        return true;
      },
      [&](const char* data, size_t size) {
        if (stop_requested()) {
          refusal = Refusal{503, "the server is shutting down"};
          return false;
        }
        const auto bytes = static_cast<int64_t>(size);
        if (refusal) {
          drained_bytes += bytes;
          return drained_bytes <= kDrainBytes;
        }
        switch (part) {
          case Part::file:
            form.input_bytes += bytes;
            if (form.input_bytes > limits.max_file_bytes) {
              return refuse({413, "the file is larger than the limit of " +
                                      std::to_string(limits.max_file_bytes) + " bytes"});
            }
            if (int error = file.write(data, size)) return refuse(write_failure(error));
            unchecked_bytes += bytes;
            if (unchecked_bytes >= kDiskCheckIntervalBytes) {
              unchecked_bytes = 0;
              const auto available = free_disk_bytes(job_directory);
              if (available && *available < limits.min_free_disk_bytes) {
                return refuse({507, "not enough free disk space for this upload"});
              }
            }
            return true;
          case Part::field:
            if (field->size() + size > kMaxFieldBytes) {
              return refuse({400, "a form field is longer than " + std::to_string(kMaxFieldBytes) +
                                      " bytes"});
            }
            field->append(data, size);
            return true;
          case Part::skipped:
          case Part::none:
            skipped_bytes += bytes;
            if (skipped_bytes > kMaxSkippedBytes) {
              return refuse(
                  {400, "unexpected form fields (expected file, filters, preset, crf, format)"});
            }
            return true;
        }
        return false;
      });

  if (refusal) return *refusal;
  if (!complete) return Refusal{400, "the upload is incomplete or not valid multipart/form-data"};
  if (!have_file) return Refusal{400, "the form has no file field"};
  if (form.input_bytes == 0) return Refusal{400, "the file is empty"};
  if (int error = file.finish()) return write_failure(error);
  return form;
}

}  // namespace framepipe::http
