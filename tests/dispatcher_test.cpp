#include <catch2/catch.hpp>

#include "framepipe/protocol/dispatcher.hpp"

using namespace framepipe::protocol;

namespace {

Parts message(std::initializer_list<std::string> routing, zmq::message_t envelope,
              int extra_parts = 0) {
  Parts parts;
  for (const auto& id : routing) parts.emplace_back(id.data(), id.size());
  parts.push_back(std::move(envelope));
  for (int i = 0; i < extra_parts; ++i) parts.emplace_back(16);
  return parts;
}

}  // namespace

TEST_CASE("the dispatcher hands typed bodies to their handlers and discards the rest",
          "[protocol][dispatcher]") {
  LogThrottle log;
  Dispatcher inbound("test", true, log);
  std::vector<std::string> seen;
  int discarded = 0;
  inbound.on<Hello>(
      [&](Hello&& hello, Inbound& in) { seen.push_back(in.peer + ":" + hello.name); });
  inbound.on<Frame>(
      [&](Frame&& frame, Inbound& in) {
        seen.push_back(frame.job_id + ":" + std::to_string(in.payload.size()));
        if (frame.job_id == "bad") in.discard("lies");
      },
      3);
  inbound.on_discard([&](const Inbound&) { ++discarded; });

  auto hello = message({"peer"}, pack(Hello{"w", "h", 1, 1, "v"}));
  inbound.handle(hello);
  Frame frame;
  frame.job_id = "j";
  auto with_planes = message({"peer"}, pack(frame), 3);
  inbound.handle(with_planes);
  CHECK(seen == std::vector<std::string>{"peer:w", "j:3"});
  CHECK(discarded == 0);

  auto too_many_parts = message({"peer"}, pack(frame), 4);
  inbound.handle(too_many_parts);
  auto unexpected = message({"peer"}, pack(Ping{1}));
  inbound.handle(unexpected);
  auto garbage = message({"peer"}, zmq::message_t(std::string("not msgpack")));
  inbound.handle(garbage);
  Parts routing_only;
  routing_only.emplace_back(4);
  inbound.handle(routing_only);
  auto wrong_body = message({"peer"}, pack(Heartbeat{}));  // no handler: unexpected type
  inbound.handle(wrong_body);
  frame.job_id = "bad";
  auto refused = message({"peer"}, pack(frame));
  inbound.handle(refused);
  CHECK(discarded == 6);
  CHECK(seen.size() == 3);  // the refused frame reached its handler, which discarded it
}
