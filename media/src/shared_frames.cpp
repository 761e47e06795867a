#include "framepipe/media/shared_frames.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <system_error>

#include <spdlog/spdlog.h>

#include "framepipe/protocol/shared_memory.hpp"

namespace framepipe::media {

namespace {

// Room after each plane for SIMD code reading past its end, as libavcodec's own buffers have.
constexpr std::size_t kPlanePadding = 16 + 64;

constexpr std::size_t align_up(std::size_t value, std::size_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

}  // namespace

struct SharedFrames::State {
  std::string prefix;
  std::mutex mutex;                             // guards names and next
  std::map<const uint8_t*, std::string> names;  // live shared buffers by address
  int64_t next = 0;                             // number of the next object
  std::atomic<int64_t> fallbacks{0};
  // Touched by get_buffer only (never two calls at once) and the destructor.
  AVBufferPool* pool = nullptr;
  std::size_t pool_size = 0;
};

namespace {

// One shared-memory object behind an AVBuffer; it unlinks itself when the buffer is freed.
struct SharedBuffer {
  protocol::SharedMemory memory;
  std::shared_ptr<SharedFrames::State> state;
};

// The pool's opaque: the state outlives the SharedFrames object while buffers are out.
struct PoolOpaque {
  std::shared_ptr<SharedFrames::State> state;
};

void free_shared_buffer(void* opaque, uint8_t* data) {
  auto* buffer = static_cast<SharedBuffer*>(opaque);
  {
    std::lock_guard lock(buffer->state->mutex);
    buffer->state->names.erase(data);
  }
  delete buffer;
}

AVBufferRef* allocate_shared(void* opaque, std::size_t size) {
  const std::shared_ptr<SharedFrames::State>& state = static_cast<PoolOpaque*>(opaque)->state;
  std::string name;
  {
    std::lock_guard lock(state->mutex);
    name = state->prefix + std::to_string(state->next++);
  }
  try {
    auto buffer = std::make_unique<SharedBuffer>(
        SharedBuffer{protocol::SharedMemory::create(name, size), state});
    uint8_t* data = buffer->memory.data();
    AVBufferRef* reference = av_buffer_create(data, size, free_shared_buffer, buffer.get(), 0);
    if (reference == nullptr) return nullptr;
    buffer.release();  // owned by the AVBuffer now
    std::lock_guard lock(state->mutex);
    state->names.emplace(data, name);
    return reference;
  } catch (const std::system_error& e) {
    if (state->fallbacks++ == 0) {
      spdlog::warn("ventilator: {}: frames go over the network instead (make /dev/shm larger)",
                   e.what());
    }
    return av_buffer_allocz(size);
  }
}

void free_pool(void* opaque) {
  delete static_cast<PoolOpaque*>(opaque);
}

}  // namespace

SharedFrames::SharedFrames(std::string prefix) : state_(std::make_shared<State>()) {
  state_->prefix = std::move(prefix);
}

SharedFrames::~SharedFrames() {
  // Buffers still out (frames the ventilator holds) return to the pool and are freed with it.
  av_buffer_pool_uninit(&state_->pool);
}

void SharedFrames::attach(AVCodecContext& context) {
  context.opaque = this;
  context.get_buffer2 = &SharedFrames::get_buffer;
#if LIBAVCODEC_VERSION_MAJOR < 60
  // Before FFmpeg 6, a custom allocator not marked thread-safe is called on the caller's thread
  // only, which stalls frame threading. get_buffer is safe: libavcodec calls it under a mutex, and
  // the state it shares with the buffers has its own.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  context.thread_safe_callbacks = 1;
#pragma GCC diagnostic pop
#endif
}

int SharedFrames::get_buffer(AVCodecContext* context, AVFrame* frame, int flags) {
  auto* self = static_cast<SharedFrames*>(context->opaque);
  if (frame->format != AV_PIX_FMT_YUV420P || frame->width <= 0 || frame->height <= 0 ||
      (context->codec->capabilities & AV_CODEC_CAP_DR1) == 0) {
    return avcodec_default_get_buffer2(context, frame, flags);
  }
  int width = frame->width;
  int height = frame->height;
  int alignment[AV_NUM_DATA_POINTERS] = {};
  avcodec_align_dimensions2(context, &width, &height, alignment);
  // A luma stride that is a multiple of 128 makes the chroma's a multiple of 64, which covers
  // every CPU's SIMD alignment; the decoder's own requirement is checked all the same.
  const std::size_t luma_stride = align_up(static_cast<std::size_t>(width), 128);
  const std::size_t strides[3] = {luma_stride, luma_stride / 2, luma_stride / 2};
  for (int i = 0; i < 3; ++i) {
    if (alignment[i] > 0 && strides[i] % static_cast<std::size_t>(alignment[i]) != 0) {
      return avcodec_default_get_buffer2(context, frame, flags);
    }
  }
  const std::size_t rows[3] = {static_cast<std::size_t>(height),
                               static_cast<std::size_t>(height + 1) / 2,
                               static_cast<std::size_t>(height + 1) / 2};
  std::size_t offsets[3] = {};
  std::size_t size = 0;
  for (int i = 0; i < 3; ++i) {
    offsets[i] = size;
    size = align_up(size + strides[i] * rows[i] + kPlanePadding, 64);
  }

  State& state = *self->state_;
  if (state.pool == nullptr || state.pool_size != size) {
    av_buffer_pool_uninit(&state.pool);  // a new picture size: the old buffers go as released
    auto* opaque = new PoolOpaque{self->state_};
    state.pool = av_buffer_pool_init2(size, opaque, allocate_shared, free_pool);
    if (state.pool == nullptr) {
      delete opaque;
      return AVERROR(ENOMEM);
    }
    state.pool_size = size;
  }
  frame->buf[0] = av_buffer_pool_get(state.pool);
  if (frame->buf[0] == nullptr) return AVERROR(ENOMEM);
  for (int i = 0; i < 3; ++i) {
    frame->data[i] = frame->buf[0]->data + offsets[i];
    frame->linesize[i] = static_cast<int>(strides[i]);
  }
  frame->extended_data = frame->data;
  return 0;
}

std::optional<SharedFrames::Location> SharedFrames::locate(const AVFrame& frame) const {
  const AVBufferRef* buffer = frame.buf[0];
  if (buffer == nullptr || frame.buf[1] != nullptr || frame.format != AV_PIX_FMT_YUV420P) {
    return std::nullopt;
  }
  Location location;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->names.find(buffer->data);
    if (it == state_->names.end()) return std::nullopt;
    location.name = it->second;
  }
  for (int i = 0; i < 3; ++i) {
    const ptrdiff_t offset = frame.data[i] - buffer->data;
    if (offset < 0 || static_cast<std::size_t>(offset) >= buffer->size) return std::nullopt;
    location.offsets[i] = offset;
  }
  return location;
}

const std::string& SharedFrames::prefix() const {
  return state_->prefix;
}

int64_t SharedFrames::fallbacks() const {
  return state_->fallbacks;
}

}  // namespace framepipe::media
