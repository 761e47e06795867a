// Frames by reference between two processes of one machine (the ventilator and the sink of a
// head): POSIX shared-memory objects that the message names, instead of the pixels themselves.
// Over loopback TCP a 1080p frame costs a copy into the kernel, one out of it and the TCP stack on
// both sides; by reference it costs a small message.
//
// Names: "/framepipe-<pid>-" is a process's prefix, "/framepipe-<pid>-<n>-" one decoder's (a job's)
// and "/framepipe-<pid>-<n>-<k>" one of its frame buffers; "/framepipe-<pid>-probe" holds the
// process's random instance id, so that a peer can check it reaches the same objects (same
// machine, same /dev/shm) before any frame is sent by reference.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace framepipe::protocol {

class SharedMemory {
 public:
  // A new object of `size` bytes, its space reserved (a full /dev/shm fails here rather than with
  // SIGBUS at the first write), mapped read-write, readable by this user only; it is unlinked when
  // this object is destroyed. Throws std::system_error.
  static SharedMemory create(const std::string& name, std::size_t size);
  // An existing object, mapped read-only. Throws std::system_error.
  static SharedMemory open(const std::string& name);

  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory();

  uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& name() const { return name_; }

 private:
  SharedMemory(std::string name, uint8_t* data, std::size_t size, bool owner)
      : name_(std::move(name)), data_(data), size_(size), owner_(owner) {}
  void release() noexcept;

  std::string name_;
  uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool owner_ = false;  // unlinks the name
};

// "/framepipe-<pid>-" of this process.
std::string shared_memory_prefix();

// True when `prefix` has the shape of one decoder's prefix: "/framepipe-<digits>-<digits>-".
bool is_shared_job_prefix(std::string_view prefix);

// True when `name` is one of the frame buffers of `prefix` (a valid job prefix): prefix + digits.
bool is_shared_frame_name(std::string_view name, std::string_view prefix);

// The probe object of the process that gave out `job_prefix`; nothing for a malformed prefix.
std::optional<std::string> shared_probe_name(std::string_view job_prefix);

// True when the probe object of the process that gave out `job_prefix` holds `token`: the caller
// sees that process's shared memory (same machine, same /dev/shm). `token` 0 is never valid.
bool reads_shared_probe(std::string_view job_prefix, uint64_t token);

// Removes the objects framepipe processes that are gone (killed before they could clean up) left
// in /dev/shm. Returns how many were removed.
int remove_orphaned_shared_memory();

}  // namespace framepipe::protocol
