#include "framepipe/protocol/shared_memory.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>

namespace framepipe::protocol {

namespace {

constexpr std::string_view kNamePrefix = "/framepipe-";
constexpr std::size_t kMaxNameLength = 96;

[[noreturn]] void fail(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

// Reads a run of decimal digits from the front of `text` (consumed) and the '-' after it.
std::optional<std::string_view> take_number(std::string_view& text) {
  std::size_t digits = 0;
  while (digits < text.size() && digits < 20 && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits >= text.size() || text[digits] != '-') return std::nullopt;
  const std::string_view number = text.substr(0, digits);
  text.remove_prefix(digits + 1);
  return number;
}

}  // namespace

SharedMemory SharedMemory::create(const std::string& name, std::size_t size) {
  const int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(errno, "cannot create shared memory " + name);
  // posix_fallocate returns the error rather than setting errno.
  int error = ftruncate(fd, static_cast<off_t>(size)) == 0
                  ? posix_fallocate(fd, 0, static_cast<off_t>(size))
                  : errno;
  void* data = MAP_FAILED;
  if (error == 0) {
    data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (data == MAP_FAILED) error = errno;
  }
  close(fd);
  if (error != 0) {
    shm_unlink(name.c_str());
    fail(error, "cannot reserve " + std::to_string(size) + " bytes of shared memory " + name);
  }
  return SharedMemory(name, static_cast<uint8_t*>(data), size, true);
}

SharedMemory SharedMemory::open(const std::string& name) {
  const int fd = shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) fail(errno, "cannot open shared memory " + name);
  struct stat status {};
  int error = fstat(fd, &status) == 0 ? 0 : errno;
  if (error == 0 && status.st_size <= 0) error = EINVAL;
  void* data = MAP_FAILED;
  if (error == 0) {
    data = mmap(nullptr, static_cast<std::size_t>(status.st_size), PROT_READ,
                MAP_SHARED | MAP_POPULATE, fd, 0);
    if (data == MAP_FAILED) error = errno;
  }
  close(fd);
  if (error != 0) fail(error, "cannot map shared memory " + name);
  return SharedMemory(name, static_cast<uint8_t*>(data), static_cast<std::size_t>(status.st_size),
                      false);
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : name_(std::move(other.name_)), data_(other.data_), size_(other.size_), owner_(other.owner_) {
  other.data_ = nullptr;
  other.owner_ = false;
}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
  if (this != &other) {
    release();
    name_ = std::move(other.name_);
    data_ = other.data_;
    size_ = other.size_;
    owner_ = other.owner_;
    other.data_ = nullptr;
    other.owner_ = false;
  }
  return *this;
}

SharedMemory::~SharedMemory() {
  release();
}

void SharedMemory::release() noexcept {
  if (data_ != nullptr) munmap(data_, size_);
  if (owner_) shm_unlink(name_.c_str());
  data_ = nullptr;
  owner_ = false;
}

std::string shared_memory_prefix() {
  return std::string(kNamePrefix) + std::to_string(getpid()) + "-";
}

bool is_shared_job_prefix(std::string_view prefix) {
  if (prefix.size() > kMaxNameLength || prefix.substr(0, kNamePrefix.size()) != kNamePrefix) {
    return false;
  }
  prefix.remove_prefix(kNamePrefix.size());
  return take_number(prefix) && take_number(prefix) && prefix.empty();
}

bool is_shared_frame_name(std::string_view name, std::string_view prefix) {
  if (!is_shared_job_prefix(prefix) || name.size() > kMaxNameLength ||
      name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) {
    return false;
  }
  name.remove_prefix(prefix.size());
  if (name.size() > 20) return false;
  for (const char c : name) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<std::string> shared_probe_name(std::string_view job_prefix) {
  if (!is_shared_job_prefix(job_prefix)) return std::nullopt;
  job_prefix.remove_prefix(kNamePrefix.size());
  const auto pid = take_number(job_prefix);
  return std::string(kNamePrefix) + std::string(*pid) + "-probe";
}

bool reads_shared_probe(std::string_view job_prefix, uint64_t token) {
  const auto probe = shared_probe_name(job_prefix);
  if (!probe || token == 0) return false;
  try {
    const SharedMemory memory = SharedMemory::open(*probe);
    return memory.size() >= sizeof token && std::memcmp(memory.data(), &token, sizeof token) == 0;
  } catch (const std::system_error&) {
    return false;  // another machine, or another /dev/shm
  }
}

int remove_orphaned_shared_memory() {
  int removed = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", error)) {
    const std::string name = entry.path().filename().string();
    std::string_view rest = name;
    if (rest.substr(0, kNamePrefix.size() - 1) != kNamePrefix.substr(1)) continue;
    rest.remove_prefix(kNamePrefix.size() - 1);
    const auto pid = take_number(rest);
    if (!pid) continue;
    long long number = 0;
    std::from_chars(pid->data(), pid->data() + pid->size(), number);
    if (number <= 0 || number > std::numeric_limits<pid_t>::max() || number == getpid()) continue;
    if (kill(static_cast<pid_t>(number), 0) == 0 || errno != ESRCH)
      continue;  // alive (or not ours)
    if (shm_unlink(("/" + name).c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace framepipe::protocol
