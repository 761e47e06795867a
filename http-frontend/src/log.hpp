// The http-frontend's named logger ("http"), so that its level can be set on its own
// (SPDLOG_LEVEL=http=debug).
#pragma once
#include <spdlog/logger.h>

namespace framepipe::http {

// The "http" logger: the default logger's sinks, registered with spdlog on first use (so levels
// loaded from the environment apply to it).
spdlog::logger& log();

}  // namespace framepipe::http
