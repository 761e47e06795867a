// `framepipe up`: starts registry, ventilator, sink, http and N local workers as separate
// processes of this same executable, restarts any that dies, and on SIGINT/SIGTERM stops them all
// and waits for them, leaving no process behind.
#pragma once
#include <string>

namespace framepipe::app {

struct UpConfig {
  int workers = -1;  // -1: one per core
  int http_port = 8080;
  int zmq_port_base = 5555;
  std::string data_dir = "framepipe-data";
  std::string bind_host = "0.0.0.0";
  int worker_threads = 1;
  int window_frames = 0;  // 0: protocol default
  long long max_upload_bytes = 4LL << 30;
  long long min_free_disk_mb = 1024;
  int http_threads = 16;
  int resend_after_ms = 10'000;
  bool shared_memory = true;  // ventilator -> sink frames of copy jobs by shared memory
  std::string api_token;
  std::string cors_origin;
  std::string curve_dir;  // "" = CURVE off
};

int up(const UpConfig& config);

// The address other machines of the LAN can use to reach this one (first non-loopback IPv4), or
// bind_host when that is a specific address.
std::string advertised_host(const std::string& bind_host);

}  // namespace framepipe::app
