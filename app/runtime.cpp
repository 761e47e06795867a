#include "runtime.hpp"

#include <malloc.h>

#include <cstdarg>
#include <string>

#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

extern "C" {
#include <libavutil/log.h>
}

#include "framepipe/protocol/signals.hpp"

namespace framepipe::app {
namespace {

// libav's own messages (x264's statistics, a damaged packet's complaint) go to the debug level:
// framepipe logs the events that matter itself, once, and never per frame.
void log_libav(void* context, int level, const char* format, va_list arguments) {
  if (level > AV_LOG_WARNING || !spdlog::should_log(spdlog::level::debug)) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(context, level, format, arguments, line, sizeof line, &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) spdlog::debug("libav: {}", text);
}

}  // namespace

void configure_process() {
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug, or per logger
  install_stop_handlers();
  // Frames are a few MB each: above glibc's default threshold every one would be a fresh mmap,
  // zero-filled page by page and unmapped on free (hundreds of page faults per frame, measured
  // as more system time than work). Keeping them in the heap lets freed frames be reused.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  // One heap for every thread: a frame ZeroMQ's I/O thread receives is freed by the main thread,
  // and per-thread heaps (64 MiB each) that a window of 1080p frames fills and empties were
  // unmapped and faulted in again: 44 k page faults per 10 s 1080p job in the sink, 1-6 k with
  // one heap, and a fifth of its CPU time.
  mallopt(M_ARENA_MAX, 1);
  av_log_set_callback(log_libav);
}

}  // namespace framepipe::app
