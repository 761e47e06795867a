// Decoded pictures in shared memory: a get_buffer2 allocator that gives the decoder yuv420p frame
// buffers which are POSIX shared-memory objects (protocol/shared_memory.hpp), so that a sink on the
// same machine reads the decoder's own pixels; nothing is copied between decoding and x264. The
// buffers come from an AVBufferPool (one object per buffer, reused as frames are released); other
// formats, and any buffer /dev/shm has no room for, come from ordinary memory.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
}

namespace framepipe::media {

class SharedFrames {
 public:
  // Buffers are named `prefix` + a number (a valid job prefix).
  explicit SharedFrames(std::string prefix);
  ~SharedFrames();
  SharedFrames(const SharedFrames&) = delete;
  SharedFrames& operator=(const SharedFrames&) = delete;

  // Makes `context` (not yet opened) decode into these buffers. This object must outlive it.
  void attach(AVCodecContext& context);

  struct Location {
    std::string name;
    std::array<int64_t, 3> offsets{};  // of the three planes in the object
  };
  // Where `frame`'s planes are when it is one of these buffers; nothing otherwise.
  std::optional<Location> locate(const AVFrame& frame) const;

  const std::string& prefix() const;
  // Buffers that had to come from ordinary memory (no room in /dev/shm), since the start.
  int64_t fallbacks() const;

  struct State;  // shared with the buffers (defined in the .cpp)

 private:
  static int get_buffer(AVCodecContext* context, AVFrame* frame, int flags);
  std::shared_ptr<State> state_;  // shared with every buffer, which may outlive this object
};

}  // namespace framepipe::media
