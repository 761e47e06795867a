#include "framepipe/protocol/curve.hpp"

#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

#include "framepipe/protocol/net.hpp"

namespace framepipe::protocol {
namespace {

constexpr std::size_t kZ85KeyLength = 40;

std::string field(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + "=", 0) == 0) return line.substr(name.size() + 1);
  }
  return {};
}

void check_key(const std::string& key, const std::string& what) {
  std::array<uint8_t, 32> decoded{};
  if (key.size() != kZ85KeyLength || !zmq_z85_decode(decoded.data(), key.c_str())) {
    throw std::runtime_error(what + " is not a 40-character Z85 CURVE key");
  }
}

}  // namespace

KeyPair generate_key_files(const std::string& name) {
  char public_key[41] = {};
  char secret_key[41] = {};
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    throw std::runtime_error("this libzmq has no CURVE support");
  }
  const std::string key_path = name + ".key";
  const std::string public_path = name + ".pub";
  {
    const mode_t previous = umask(077);
    std::ofstream key(key_path, std::ios::trunc);
    umask(previous);
    key << "# framepipe CURVE key pair: keep this file secret\npublic=" << public_key
        << "\nsecret=" << secret_key << "\n";
    if (!key) throw std::runtime_error("cannot write " + key_path);
  }
  std::ofstream pub(public_path, std::ios::trunc);
  pub << "# framepipe CURVE public key\npublic=" << public_key << "\n";
  if (!pub) throw std::runtime_error("cannot write " + public_path);
  return KeyPair{public_key, secret_key};
}

KeyPair read_key_file(const std::string& path, bool secret_required) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot read key file " + path);
  std::stringstream text;
  text << file.rdbuf();
  KeyPair pair{field(text.str(), "public"), field(text.str(), "secret")};
  check_key(pair.public_key, "the public key in " + path);
  if (secret_required || !pair.secret_key.empty()) {
    check_key(pair.secret_key, "the secret key in " + path);
  }
  return pair;
}

CurveConfig load_curve(const std::string& key_file, const std::string& server_key_file,
                       const std::string& allow_dir) {
  CurveConfig curve;
  if (key_file.empty()) return curve;
  curve.own = read_key_file(key_file);
  curve.server_public_key = server_key_file.empty()
                                ? curve.own.public_key
                                : read_key_file(server_key_file, false).public_key;
  if (!allow_dir.empty()) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(allow_dir, error)) {
      if (entry.path().extension() == ".pub") {
        curve.allowed.insert(read_key_file(entry.path().string(), false).public_key);
      }
    }
    if (error) throw std::runtime_error("cannot list " + allow_dir + ": " + error.message());
  }
  return curve;
}

void secure_server(zmq::socket_ref socket, const CurveConfig& curve) {
  if (!curve.enabled()) return;
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, curve.own.secret_key);
  socket.set(zmq::sockopt::zap_domain, "framepipe");
}

void secure_client(zmq::socket_ref socket, const CurveConfig& curve) {
  if (!curve.enabled()) return;
  socket.set(zmq::sockopt::curve_serverkey, curve.server_public_key);
  socket.set(zmq::sockopt::curve_publickey, curve.own.public_key);
  socket.set(zmq::sockopt::curve_secretkey, curve.own.secret_key);
}

Authenticator::Authenticator(zmq::context_t& context, const CurveConfig& curve)
    : handler_(context, zmq::socket_type::rep), allowed_(curve.allowed) {
  allowed_.insert(curve.own.public_key);  // the head's own roles connect with the head's pair
  handler_.set(zmq::sockopt::linger, 0);
  handler_.bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this] { serve(); });
}

Authenticator::~Authenticator() {
  stop_ = true;
  thread_.join();
}

// RFC 27 (ZAP): [version, request id, domain, address, identity, mechanism, credentials...]
// answered by [version, request id, status code, status text, user id, metadata].
void Authenticator::serve() {
  while (!stop_) {
    zmq::pollitem_t item{handler_.handle(), 0, ZMQ_POLLIN, 0};
    if (poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
    Parts request;
    if (!zmq::recv_multipart(handler_, std::back_inserter(request), zmq::recv_flags::dontwait)) {
      continue;
    }
    if (request.size() < 6) continue;
    bool allowed = false;
    std::string client = "?";
    if (request[5].to_string() == "CURVE" && request.size() >= 7 && request[6].size() == 32) {
      char text[41] = {};
      zmq_z85_encode(text, static_cast<const uint8_t*>(request[6].data()), 32);
      client = text;
      allowed = allowed_.count(client) > 0;
    }
    Parts reply;
    reply.emplace_back(std::string("1.0"));
    reply.push_back(std::move(request[1]));
    reply.emplace_back(std::string(allowed ? "200" : "400"));
    reply.emplace_back(std::string(allowed ? "OK" : "key not allowed"));
    reply.emplace_back(allowed ? client : std::string());
    reply.emplace_back();
    zmq::send_multipart(handler_, reply);
    // A refused client retries every few hundred milliseconds: one line per key and minute.
    const int64_t now = now_ms();
    if (!allowed && now - last_refusal_logged_ms_[client] > 60'000) {
      last_refusal_logged_ms_[client] = now;
      spdlog::warn("refused a CURVE client from {} with key {}: not in the allow list",
                   request[3].to_string(), client);
    }
  }
}

}  // namespace framepipe::protocol
