// The http-frontend's named loggers: "http" for its events, so that its level can be set on its own
// (SPDLOG_LEVEL=http=debug), and "http_access" for the optional JSON access log.
#pragma once
#include <spdlog/logger.h>

namespace framepipe::http {

// The "http" logger: the default logger's sinks, registered with spdlog on first use (so levels
// loaded from the environment apply to it).
spdlog::logger& log();

// The "http_access" logger: one bare line per message on stdout (no time or level prefix, so that
// each line is a JSON document), registered with spdlog on first use. It shares spdlog's console
// mutex with the default stdout sink, so lines of the two never interleave.
spdlog::logger& access_log();

}  // namespace framepipe::http
