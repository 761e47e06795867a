// A hostile peer for integration tests: connects to each of a cluster's ZeroMQ endpoints the way
// a real node would and sends garbage: random bytes, truncated and oversized envelopes, a wrong
// protocol version, and well-formed frames and results whose planes do not match their headers.
// Usage: hostile_peer BASE_PORT [ROUNDS]
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "framepipe/protocol/codec.hpp"
#include "framepipe/protocol/net.hpp"

using namespace framepipe::protocol;

namespace {

zmq::message_t random_bytes(std::mt19937& random, std::size_t size) {
  zmq::message_t message(size);
  auto* bytes = static_cast<uint8_t*>(message.data());
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(random());
  return message;
}

void send_parts(zmq::socket_t& socket, Parts parts) {
  send(socket, parts, true);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: hostile_peer BASE_PORT [ROUNDS]\n");
    return 2;
  }
  const int base = std::stoi(argv[1]);
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 200;
  std::mt19937 random(42);
  zmq::context_t context(1);
  auto endpoint = [&](int offset) { return tcp_endpoint("127.0.0.1", base + offset); };

  zmq::socket_t registry(context, zmq::socket_type::dealer);
  zmq::socket_t frames(context, zmq::socket_type::dealer);
  zmq::socket_t results(context, zmq::socket_type::push);
  zmq::socket_t control(context, zmq::socket_type::dealer);
  registry.connect(endpoint(kRegistryPortOffset));
  frames.connect(endpoint(kFramesPortOffset));
  results.connect(endpoint(kResultsPortOffset));
  control.connect(endpoint(kControlPortOffset));
  for (auto* socket : {&registry, &frames, &results, &control}) {
    socket->set(zmq::sockopt::linger, 2000);
    socket->set(zmq::sockopt::sndhwm, 100000);
  }

  Frame frame;
  frame.job_id = "no-such-job";
  frame.width = 64;
  frame.height = 64;
  frame.pixel_format = "yuv420p";
  frame.linesizes = {64, 32, 32};
  frame.plane_sizes = {4096, 1024, 1024};
  frame.chain = "copy";
  frame.out_width = 64;
  frame.out_height = 64;

  for (int round = 0; round < rounds; ++round) {
    for (auto* socket : {&registry, &frames, &results, &control}) {
      // Random bytes of random length, in one or several parts.
      Parts garbage;
      const int parts = 1 + static_cast<int>(random() % 4);
      for (int i = 0; i < parts; ++i) garbage.push_back(random_bytes(random, random() % 600));
      send_parts(*socket, std::move(garbage));
      // A valid envelope cut short.
      zmq::message_t whole = pack(frame);
      Parts truncated;
      truncated.emplace_back(whole.data(), random() % whole.size());
      send_parts(*socket, std::move(truncated));
    }
    // A frame header whose planes are too small for its dimensions (to the ventilator it is an
    // unexpected type; a worker-shaped peer would get it from the ventilator).
    Parts lying_frame;
    lying_frame.push_back(pack(frame));
    lying_frame.push_back(random_bytes(random, 100));
    send_parts(frames, std::move(lying_frame));
    // A result for a job that does not exist, and one with absurd dimensions.
    Parts lying_result;
    lying_result.push_back(pack(Result{"no-such-job", 0, 0, 1 << 20, 1 << 20, "evil", 0}));
    lying_result.push_back(random_bytes(random, 1000));
    send_parts(results, std::move(lying_result));
    // A heartbeat for a worker nobody knows, a hello with an absurd name, a job for a file that
    // is not there and a bogus chain.
    send_parts(registry, [&] {
      Parts p;
      p.push_back(pack(Heartbeat{"stranger", WorkerStats{}}));
      return p;
    }());
    send_parts(registry, [&] {
      Parts p;
      p.push_back(pack(Hello{std::string(300, 'x'), "h", 1, 1, "v"}));
      return p;
    }());
    send_parts(control, [&] {
      Parts p;
      p.push_back(pack(SubmitJob{"evil-" + std::to_string(round), "/etc/passwd", "/tmp/x",
                                 "nosuchfilter", "veryfast", 20}));
      return p;
    }());
  }
  std::printf("sent %d rounds of hostile messages\n", rounds);
  return 0;
}
