// The process-wide settings of the framepipe executable, made once before any subcommand runs:
// log levels from SPDLOG_LEVEL, SIGINT/SIGTERM handlers (signals.hpp), the heap tuned for frames of
// a few MB, and libav's own messages routed to the debug log.
#pragma once

namespace framepipe::app {

void configure_process();

}  // namespace framepipe::app
