// CURVE security for every ZeroMQ socket, when enabled. Servers (the sockets the head binds)
// hold the head's key pair and accept only clients whose public key is in an allow list, checked
// by a ZAP handler running in the server's context. Clients (workers, and the head's own roles
// when they connect to each other) hold their own key pair and the head's public key.
// Without keys, nothing changes: the cluster runs in the clear on a trusted network.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <zmq.hpp>

namespace framepipe::protocol {

struct KeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;
};

// Writes NAME.key (public and secret key, mode 0600) and NAME.pub (public key only).
// Returns the pair. Throws std::runtime_error.
KeyPair generate_key_files(const std::string& name);
// Reads a .key file (both keys) or, with secret_required false, also a .pub file.
KeyPair read_key_file(const std::string& path, bool secret_required = true);

struct CurveConfig {
  KeyPair own;                    // this node's pair ("" when CURVE is off)
  std::string server_public_key;  // the head's public key, for client sockets
  std::set<std::string> allowed;  // client public keys a server accepts
  bool enabled() const { return !own.secret_key.empty(); }
};

// Loads CURVE settings: `key_file` (this node's .key), `server_key_file` (the head's .pub or
// .key), `allow_dir` (a directory of allowed clients' .pub files). Empty key_file: CURVE off.
CurveConfig load_curve(const std::string& key_file, const std::string& server_key_file,
                       const std::string& allow_dir);

// Makes `socket` a CURVE server (before bind) or client (before connect). No-op when disabled.
void secure_server(zmq::socket_ref socket, const CurveConfig& curve);
void secure_client(zmq::socket_ref socket, const CurveConfig& curve);

// The ZAP handler: answers libzmq's authentication requests for every CURVE server socket of
// `context`, accepting the allowed keys and the node's own. Logs each refusal. Stops and joins
// in its destructor.
class Authenticator {
 public:
  Authenticator(zmq::context_t& context, const CurveConfig& curve);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

 private:
  void serve();
  zmq::socket_t handler_;
  std::set<std::string> allowed_;
  std::map<std::string, int64_t> last_refusal_logged_ms_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace framepipe::protocol
