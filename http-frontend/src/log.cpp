#include "log.hpp"

#include <memory>

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

}  // namespace framepipe::http
