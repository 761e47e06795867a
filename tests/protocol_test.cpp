#include <catch2/catch.hpp>

#include <random>

#include "framepipe/protocol/codec.hpp"
#include "framepipe/protocol/log_throttle.hpp"
#include "framepipe/protocol/net.hpp"

using namespace framepipe::protocol;

namespace {

template <class M>
std::optional<M> round_trip(const M& message) {
  zmq::message_t packed = pack(message);
  auto envelope = open(packed);
  REQUIRE(envelope);
  REQUIRE(envelope->type() == M::type);
  return envelope->template body<M>();
}

zmq::message_t pack_raw(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& write) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  write(packer);
  return zmq::message_t(buffer.data(), buffer.size());
}

}  // namespace

TEST_CASE("frame header survives a round trip", "[protocol]") {
  Frame frame;
  frame.job_id = "abc";
  frame.index = 1234567890123;
  frame.pts = -42;
  frame.width = 1920;
  frame.height = 1080;
  frame.pixel_format = "yuv420p";
  frame.linesizes = {1920, 960, 960};
  frame.plane_sizes = {1920 * 1080, 960 * 540, 960 * 540};
  frame.color = ColorInfo{1, 1, 1, 1};
  frame.chain = "blur=sigma=2";
  frame.out_width = 1280;
  frame.out_height = 720;
  auto back = round_trip(frame);
  REQUIRE(back);
  CHECK(back->job_id == "abc");
  CHECK(back->index == 1234567890123);
  CHECK(back->pts == -42);
  CHECK(back->linesizes == frame.linesizes);
  CHECK(back->plane_sizes == frame.plane_sizes);
  CHECK(back->color == frame.color);
  CHECK(back->chain == frame.chain);
  CHECK(back->out_width == 1280);
}

TEST_CASE("every control message survives a round trip", "[protocol]") {
  CHECK(round_trip(Hello{"w1", "host", 12, 4, "0.1.0"})->name == "w1");
  CHECK(round_trip(Welcome{"tcp://*:1", "tcp://*:2", 1000, 3})->results_endpoint == "tcp://*:2");
  WorkerList list;
  list.workers.push_back(WorkerInfo{"w", "h", 1, 2, "v", WorkerStats{}, 5, 6});
  list.dead = {"x"};
  auto back = round_trip(list);
  REQUIRE(back->workers.size() == 1);
  CHECK(back->workers[0].last_heartbeat_ms_ago == 5);
  CHECK(back->dead == std::vector<std::string>{"x"});
  CHECK(round_trip(JobProgress{"j", "done", 10, 10, 2.5, "", 99, 1.0})->output_bytes == 99);
  CHECK(round_trip(Ready{"w", 2, true, "j", 7, 100})->idle);
  CHECK(round_trip(SubmitReply{})->accepted == false);
}

TEST_CASE("a body of another type is refused", "[protocol]") {
  auto packed = pack(Ping{7});
  auto envelope = open(packed);
  REQUIRE(envelope);
  std::string why;
  CHECK_FALSE(envelope->body<Pong>(&why));
  CHECK_THAT(why, Catch::Contains("unexpected"));
}

TEST_CASE("a different protocol version is refused with a reason", "[protocol]") {
  auto packed = pack_raw([](auto& packer) {
    packer.pack_array(4);
    packer.pack(std::string(kSignature));
    packer.pack(kVersion + 1);
    packer.pack(static_cast<uint8_t>(Type::ping));
    packer.pack(Ping{1});
  });
  std::string why;
  CHECK_FALSE(open(packed, &why));
  CHECK_THAT(why, Catch::Contains("version"));
}

TEST_CASE("bad signature, unknown type and wrong shapes are refused", "[protocol]") {
  std::string why;
  auto wrong_signature = pack_raw([](auto& packer) {
    packer.pack_array(4);
    packer.pack(std::string("XYZ"));
    packer.pack(kVersion);
    packer.pack(static_cast<uint8_t>(Type::ping));
    packer.pack(Ping{1});
  });
  CHECK_FALSE(open(wrong_signature, &why));
  auto unknown_type = pack_raw([](auto& packer) {
    packer.pack_array(4);
    packer.pack(std::string(kSignature));
    packer.pack(kVersion);
    packer.pack(static_cast<uint8_t>(200));
    packer.pack(Ping{1});
  });
  CHECK_FALSE(open(unknown_type, &why));
  auto not_array = pack_raw([](auto& packer) { packer.pack(42); });
  CHECK_FALSE(open(not_array, &why));
  // A body whose fields have the wrong types converts to nothing.
  auto wrong_body = pack_raw([](auto& packer) {
    packer.pack_array(4);
    packer.pack(std::string(kSignature));
    packer.pack(kVersion);
    packer.pack(static_cast<uint8_t>(Type::frame));
    packer.pack_array(2);
    packer.pack(std::string("job"));
    packer.pack(std::string("not a number"));
  });
  auto envelope = open(wrong_body, &why);
  REQUIRE(envelope);
  CHECK_FALSE(envelope->body<Frame>(&why));
}

TEST_CASE("truncated messages are refused, never crash", "[protocol]") {
  Frame frame;
  frame.job_id = "job";
  frame.linesizes = {1, 2, 3};
  auto packed = pack(frame);
  const auto* bytes = static_cast<const uint8_t*>(packed.data());
  for (std::size_t length = 0; length < packed.size(); ++length) {
    std::string why;
    CHECK_FALSE(open(bytes, length, &why));
  }
}

TEST_CASE("random garbage is refused, never crashes", "[protocol]") {
  std::mt19937 random(1234);
  std::vector<uint8_t> bytes;
  int opened = 0;
  for (int round = 0; round < 20000; ++round) {
    bytes.resize(1 + random() % 300);
    for (auto& byte : bytes) byte = static_cast<uint8_t>(random());
    if (round % 2) bytes[0] = 0x94;  // a 4-element array, to get past the first check
    std::string why;
    if (auto envelope = open(bytes.data(), bytes.size(), &why)) {
      ++opened;
      (void)envelope->body<Frame>(&why);
    }
  }
  CHECK(opened < 20000);
}

TEST_CASE("oversized envelopes are refused before parsing", "[protocol]") {
  std::vector<uint8_t> huge(kMaxEnvelopeBytes + 1, 0x90);
  std::string why;
  CHECK_FALSE(open(huge.data(), huge.size(), &why));
}

TEST_CASE("endpoints parse and wildcards resolve", "[protocol]") {
  auto endpoint = parse_tcp_endpoint("tcp://10.0.0.5:5555");
  REQUIRE(endpoint);
  CHECK(endpoint->host == "10.0.0.5");
  CHECK(endpoint->port == 5555);
  CHECK_FALSE(parse_tcp_endpoint("udp://x:1"));
  CHECK_FALSE(parse_tcp_endpoint("tcp://x:0"));
  CHECK_FALSE(parse_tcp_endpoint("tcp://x:99999"));
  CHECK_FALSE(parse_tcp_endpoint("tcp://x:12ab"));
  CHECK(resolve_wildcard("tcp://*:5556", "head.lan") == "tcp://head.lan:5556");
  CHECK(resolve_wildcard("tcp://0.0.0.0:5556", "10.1.1.1") == "tcp://10.1.1.1:5556");
  CHECK(resolve_wildcard("tcp://other:5556", "10.1.1.1") == "tcp://other:5556");
  CHECK(tcp_endpoint("::1", 80) == "tcp://[::1]:80");
}

TEST_CASE("a log throttle lets a burst through per interval and counts the rest", "[protocol]") {
  LogThrottle throttle(3, std::chrono::seconds(10));
  const auto start = LogThrottle::Clock::now();
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) admitted += throttle.admit(start) ? 1 : 0;
  CHECK(admitted == 3);
  CHECK(throttle.dropped() == 997);
  CHECK(throttle.admit(start + std::chrono::seconds(11)));
}
