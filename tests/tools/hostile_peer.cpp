// A hostile peer for integration tests: connects to each of a cluster's ZeroMQ endpoints the way
// a real node would and sends garbage: random bytes, truncated and oversized envelopes, a wrong
// protocol version, well-formed frames and results whose planes do not match their headers, and
// heartbeats naming a real worker (which the registry must refuse from another peer).
// Usage: hostile_peer BASE_PORT [ROUNDS]
//
// `hostile_peer head BASE_PORT` turns the tables: it poses as a head (registry, ventilator and
// sink on BASE..BASE+2 of 127.0.0.1) for one real worker, deals it lying frames, then one honest
// frame, and exits 0 only if the worker filtered the honest one correctly after all the lies.
//
// `hostile_peer shared BASE_PORT JOB_ID INDEX WIDTH HEIGHT PREFIX` lies to the sink about the
// shared memory of a running copy job (see lie_about_shared_memory).
#include <chrono>
#include <cstdio>
#include <cstring>
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

Frame gray_frame(int size) {
  Frame frame;
  frame.job_id = "job";
  frame.width = size;
  frame.height = size;
  frame.pixel_format = "yuv420p";
  frame.linesizes = {size, size / 2, size / 2};
  frame.plane_sizes = {int64_t{size} * size, int64_t{size} * size / 4, int64_t{size} * size / 4};
  frame.chain = "invert";
  frame.out_width = size;
  frame.out_height = size;
  return frame;
}

Parts frame_parts(const Frame& frame, const std::vector<std::size_t>& plane_bytes,
                  const std::string& worker) {
  Parts parts;
  parts.emplace_back(worker.data(), worker.size());
  parts.push_back(pack(frame));
  for (std::size_t bytes : plane_bytes) {
    zmq::message_t plane(bytes);
    std::memset(plane.data(), 100, bytes);
    parts.push_back(std::move(plane));
  }
  return parts;
}

// The lies a hostile ventilator can tell a worker; each must be refused without harm.
std::vector<Parts> lies(const std::string& worker, std::mt19937& random) {
  const Frame honest = gray_frame(64);
  const std::vector<std::size_t> planes = {4096, 1024, 1024};
  std::vector<Parts> out;
  auto lie = [&](auto change, std::vector<std::size_t> bytes) {
    Frame frame = honest;
    change(frame);
    out.push_back(frame_parts(frame, bytes, worker));
  };
  lie([](Frame&) {}, {100, 1024, 1024});         // planes smaller than the header says
  lie([](Frame&) {}, {4096, 1024});              // a plane missing
  lie([](Frame&) {}, {4096, 1024, 1024, 1024});  // a plane too many
  lie([](Frame& f) { f.width = f.height = 1 << 20; }, planes);  // absurd dimensions
  lie([](Frame& f) { f.width = -64; }, planes);
  lie([](Frame& f) { f.out_width = 1 << 20; }, planes);
  lie([](Frame& f) { f.out_width = 63; }, planes);  // odd output size for yuv420p
  lie([](Frame& f) { f.pixel_format = "evil"; }, planes);
  lie([](Frame& f) { f.pixel_format = "vaapi"; }, planes);  // a hardware surface
  lie([](Frame& f) { f.pixel_format = "pal8"; }, planes);   // palette: not a plain picture
  lie([](Frame& f) { f.linesizes = {8, 4, 4}; }, planes);   // rows shorter than the width
  lie([](Frame& f) { f.linesizes = {64, 32}; }, planes);
  lie([](Frame& f) { f.plane_sizes = {4096, 1024, 1 << 30}; }, planes);
  lie([](Frame& f) { f.chain = "nosuchfilter"; }, planes);
  lie([](Frame& f) { f.chain = "scale=width=60000:height=60000"; }, planes);
  lie([](Frame& f) { f.chain = "pixelate=block=0,blur=sigma=100000"; }, planes);
  // Frames by reference from a "ventilator" whose probe the worker never read (there is none):
  // no part, the planes said to be in shared memory.
  for (const std::string name : {"/framepipe-1-1-0", "/etc/passwd", "/framepipe-1-1-0/../x"}) {
    lie(
        [&](Frame& f) {
          f.shared_prefix = "/framepipe-1-1-";
          f.shared_token = 42;
          f.shared_name = name;
          f.offsets = {0, 4096, 5120};
        },
        {});
  }
  for (int i = 0; i < 5; ++i) {  // garbage
    Parts parts;
    parts.emplace_back(worker.data(), worker.size());
    parts.push_back(random_bytes(random, random() % 300));
    out.push_back(std::move(parts));
  }
  return out;
}

int pose_as_head(int base) {
  using Clock = std::chrono::steady_clock;
  zmq::context_t context(1);
  auto endpoint = [&](int offset) { return tcp_endpoint("127.0.0.1", base + offset); };
  zmq::socket_t registry(context, zmq::socket_type::router);
  zmq::socket_t frames(context, zmq::socket_type::router);
  zmq::socket_t results(context, zmq::socket_type::pull);
  registry.bind(endpoint(kRegistryPortOffset));
  frames.bind(endpoint(kFramesPortOffset));
  results.bind(endpoint(kResultsPortOffset));
  for (auto* socket : {&registry, &frames, &results}) socket->set(zmq::sockopt::linger, 0);
  const Welcome welcome{endpoint(kFramesPortOffset), endpoint(kResultsPortOffset), 500, 100};

  std::mt19937 random(7);
  std::string worker;
  int readies = 0;
  int lies_told = 0;
  bool honest_sent = false;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    zmq::pollitem_t items[] = {{registry.handle(), 0, ZMQ_POLLIN, 0},
                               {frames.handle(), 0, ZMQ_POLLIN, 0},
                               {results.handle(), 0, ZMQ_POLLIN, 0}};
    poll(items, 3, std::chrono::milliseconds(100));
    while (auto parts = receive(registry)) {  // hello and heartbeats: always welcome
      if (parts->size() != 2) continue;
      auto envelope = open((*parts)[1]);
      if (!envelope) continue;
      const std::string peer = (*parts)[0].to_string();
      if (envelope->type() == Type::hello) send_to(registry, peer, welcome);
      if (envelope->type() == Type::heartbeat) send_to(registry, peer, HeartbeatAck{});
    }
    while (auto parts = receive(frames)) {
      if (parts->size() != 2 || !open((*parts)[1])) continue;
      ++readies;
      if (!worker.empty()) continue;
      worker = (*parts)[0].to_string();
      for (auto& lie : lies(worker, random)) {
        send(frames, lie, true);
        ++lies_told;
      }
    }
    // Every lie answered with a Ready (the worker asks for a frame instead of each bad one):
    // now the honest frame.
    if (!honest_sent && !worker.empty() && readies > lies_told) {
      Frame frame = gray_frame(64);
      frame.index = 7;
      Parts parts = frame_parts(frame, {4096, 1024, 1024}, worker);
      send(frames, parts, true);
      honest_sent = true;
    }
    while (auto parts = receive(results)) {
      auto envelope = parts->empty() ? std::nullopt : open(parts->front());
      auto result = envelope ? envelope->body<Result>() : std::nullopt;
      if (!result || parts->size() != 2) {
        std::fprintf(stderr, "the worker sent a malformed result\n");
        return 1;
      }
      const auto* pixels = static_cast<const uint8_t*>((*parts)[1].data());
      const bool right = result->index == 7 && result->width == 64 && result->height == 64 &&
                         (*parts)[1].size() == 64 * 64 * 3 / 2 && pixels[0] > 140 &&
                         pixels[0] < 170;  // grey 100 inverted (limited or full range)
      std::printf(
          "%d lies told, %d readies, then the honest frame came back %s (index %lld, "
          "%dx%d, %zu bytes, first luma %d)\n",
          lies_told, readies, right ? "right" : "wrong", static_cast<long long>(result->index),
          result->width, result->height, (*parts)[1].size(), pixels[0]);
      return right ? 0 : 1;
    }
  }
  std::fprintf(stderr, "timed out: worker %s, %d lies told, %d readies, honest frame %s\n",
               worker.empty() ? "never came" : "came", lies_told, readies,
               honest_sent ? "sent" : "not sent");
  return 1;
}

// Results that name shared memory, sent to the sink for a real running job whose frames come by
// shared memory under `prefix`: objects outside the job's names, planes outside the object,
// malformed layouts; every one must be refused. Last, a name of the job's shape that does not
// exist: the sink stops reading the job's frames by reference, and the job must still finish
// with every frame right (the ventilator sends them again over TCP).
int lie_about_shared_memory(int base, const std::string& job, int64_t index, int width, int height,
                            const std::string& prefix) {
  zmq::context_t context(1);
  zmq::socket_t results(context, zmq::socket_type::push);
  results.set(zmq::sockopt::linger, 2000);
  results.connect(tcp_endpoint("127.0.0.1", base + kResultsPortOffset));
  const std::vector<int32_t> strides = {width, width / 2, width / 2};
  const int64_t luma = int64_t{width} * height;
  const std::vector<int64_t> offsets = {0, luma, luma + luma / 4};
  int lies = 0;
  const auto lie = [&](const std::string& name, std::vector<int32_t> linesizes,
                       std::vector<int64_t> at, int extra_parts = 0) {
    Result result;
    result.job_id = job;
    result.index = index;  // a frame the job has not received yet: a lie let in would replace it
    result.width = width;
    result.height = height;
    result.worker = "evil";
    result.linesizes = std::move(linesizes);
    result.shared_name = name;
    result.offsets = std::move(at);
    Parts parts;
    parts.push_back(pack(result));
    for (int i = 0; i < extra_parts; ++i) parts.emplace_back(16);
    send(results, parts, false);
    ++lies;
  };
  const std::string first = prefix + "0";  // the decoder's first buffer: it exists
  const std::string pid_prefix = prefix.substr(0, prefix.find('-', 11) + 1);
  for (const std::string& name : {std::string("/etc/passwd"), std::string("/framepipe-1-1-0"),
                                  pid_prefix + "probe", prefix + "0/../../etc/passwd", prefix + "x",
                                  prefix, std::string(4000, 'a'), prefix + std::string(40, '1')}) {
    lie(name, strides, offsets);
  }
  lie(first, strides, {0, luma});                               // two offsets
  lie(first, strides, {-1, luma, luma + luma / 4});             // before the object
  lie(first, strides, {0, luma, int64_t{1} << 40});             // far past it
  lie(first, strides, {0, luma, luma * 1000});                  // past it
  lie(first, {width / 2, width / 4, width / 4}, offsets);       // strides below the width
  lie(first, {width + 100000, width / 2, width / 2}, offsets);  // absurd stride
  lie(first, {width, width / 2}, offsets);                      // two strides
  lie(first, strides, offsets, 3);                              // pixels as well
  std::printf("%d lies about shared memory told for job %s\n", lies, job.c_str());
  lie(prefix + "999999", strides, offsets);  // the job's shape, no such object
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "head") return pose_as_head(std::stoi(argv[2]));
  if (argc >= 8 && std::string(argv[1]) == "shared") {
    return lie_about_shared_memory(std::stoi(argv[2]), argv[3], std::stoll(argv[4]),
                                   std::stoi(argv[5]), std::stoi(argv[6]), argv[7]);
  }
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: hostile_peer BASE_PORT [ROUNDS] | hostile_peer head BASE_PORT | "
                 "hostile_peer shared "
                 "BASE_PORT JOB_ID INDEX WIDTH HEIGHT PREFIX\n");
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

  // A real worker's name, so this peer can pose as it to the registry (which must refuse).
  std::string victim;
  {
    Parts ask;
    ask.push_back(pack(ListWorkers{}));
    send(registry, ask, false);
    zmq::pollitem_t item{registry.handle(), 0, ZMQ_POLLIN, 0};
    for (int tries = 0; tries < 20 && victim.empty(); ++tries) {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      while (auto answer = receive(registry)) {
        auto envelope = answer->size() == 1 ? open(answer->front()) : std::nullopt;
        auto list = envelope ? envelope->body<WorkerList>() : std::nullopt;
        if (list && !list->workers.empty()) victim = list->workers.front().name;
      }
    }
  }

  for (int round = 0; round < rounds; ++round) {
    if (!victim.empty()) {
      WorkerStats lie;
      lie.frames_done = 999'999;
      send_parts(registry, [&] {
        Parts p;
        p.push_back(pack(Heartbeat{victim, lie}));
        return p;
      }());
    }
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
    lying_result.push_back(
        pack(Result{"no-such-job", 0, 0, 1 << 20, 1 << 20, "evil", 0, {}, {}, {}}));
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
  // Messages above the sockets' size limit: the socket refuses them (ZMQ_MAXMSGSIZE) and drops
  // the connection before buffering them, whatever they claim to be.
  static std::vector<char> oversized(kMaxMessageBytes + (1 << 20));  // zeros; sent without copies
  for (auto* socket : {&registry, &frames, &results, &control}) {
    Parts huge;
    huge.emplace_back(oversized.data(), oversized.size(), nullptr, nullptr);
    send_parts(*socket, std::move(huge));
  }
  std::printf("sent %d rounds of hostile messages and 4 oversized ones%s\n", rounds,
              victim.empty() ? "" : ", posing as a worker to the registry");
  return 0;
}
