#include "log.hpp"

#include <memory>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace framepipe::http {

spdlog::logger& log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("http")) return existing;
    auto created = spdlog::default_logger()->clone("http");
    spdlog::initialize_logger(created);
    return created;
  }();
  return *logger;
}

spdlog::logger& access_log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto existing = spdlog::get("http_access")) return existing;
    auto created = std::make_shared<spdlog::logger>(
        "http_access", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    spdlog::initialize_logger(created);  // levels from the environment; also sets a formatter
    created->set_pattern("%v");
    created->flush_on(spdlog::level::info);  // a line is complete when a reader sees it
    return created;
  }();
  return *logger;
}

}  // namespace framepipe::http
