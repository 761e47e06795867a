#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "framepipe/sink/reorder.hpp"
#include "framepipe/ventilator/window.hpp"

using framepipe::sink::Admission;
using framepipe::sink::ReorderBuffer;
using framepipe::ventilator::FrameWindow;

TEST_CASE("the window holds at most its capacity until the sink acknowledges", "[window]") {
  FrameWindow window(3);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(window.has_room());
    CHECK(window.add() == i);
  }
  CHECK_FALSE(window.has_room());
  CHECK(window.next_to_send() == 0);
  CHECK(window.next_to_send() == 1);
  CHECK(window.acknowledge(2) == 2);
  CHECK(window.has_room());
  CHECK(window.in_window() == 1);
  CHECK(window.next_to_send() == 2);
}

TEST_CASE("re-sent frames go first, released ones never", "[window]") {
  FrameWindow window(8);
  for (int i = 0; i < 5; ++i) window.add();
  for (int i = 0; i < 5; ++i) CHECK(window.next_to_send() == i);
  CHECK_FALSE(window.next_to_send());
  window.resend(3);
  window.resend(1);
  window.resend(7);  // never decoded: ignored
  CHECK(window.next_to_send() == 1);
  window.acknowledge(4);  // frame 3 is encoded meanwhile: no need to send it again
  CHECK_FALSE(window.next_to_send());
  CHECK(window.pending_sends() == 0);
}

TEST_CASE("an acknowledgement beyond what was decoded cannot release the future", "[window]") {
  FrameWindow window(4);
  window.add();
  window.add();
  CHECK(window.acknowledge(100) == 2);
  CHECK(window.done() == 2);
  CHECK(window.acknowledge(1) == 0);  // going backwards is ignored
  CHECK(window.done() == 2);
  CHECK(window.add() == 2);
}

TEST_CASE("memory stays bounded over a long stream", "[window]") {
  FrameWindow window(16);
  int64_t peak = 0;
  for (int64_t i = 0; i < 100000; ++i) {
    if (!window.has_room()) window.acknowledge(window.done() + 4);
    window.add();
    window.next_to_send();
    peak = std::max(peak, window.in_window());
  }
  CHECK(peak <= 16);
}

TEST_CASE("the reorder buffer gives frames back in order", "[reorder]") {
  ReorderBuffer<int> buffer(8);
  CHECK(buffer.insert(2, 20) == Admission::accepted);
  CHECK(buffer.insert(1, 10) == Admission::accepted);
  CHECK_FALSE(buffer.pop());
  CHECK(buffer.insert(0, 0) == Admission::accepted);
  CHECK(buffer.pop() == 0);
  CHECK(buffer.pop() == 10);
  CHECK(buffer.pop() == 20);
  CHECK_FALSE(buffer.pop());
  CHECK(buffer.next_index() == 3);
}

TEST_CASE("the reorder buffer drops duplicates and refuses what is too far ahead", "[reorder]") {
  ReorderBuffer<int> buffer(4);
  CHECK(buffer.insert(0, 0) == Admission::accepted);
  CHECK(buffer.insert(0, 0) == Admission::duplicate);  // still buffered
  CHECK(buffer.pop() == 0);
  CHECK(buffer.insert(0, 0) == Admission::duplicate);  // already encoded
  CHECK(buffer.insert(4, 4) == Admission::accepted);
  CHECK(buffer.insert(5, 5) == Admission::too_far_ahead);
  CHECK(buffer.insert(-1, 0) == Admission::duplicate);
  CHECK(buffer.buffered() == 1);
}

TEST_CASE("any arrival order gives the same output", "[reorder]") {
  std::vector<int> order(200);
  for (int i = 0; i < 200; ++i) order[i] = i;
  std::mt19937 random(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(order.begin(), order.end(), random);
    ReorderBuffer<int> buffer(256);
    std::vector<int> out;
    for (int index : order) {
      REQUIRE(buffer.insert(index, index) == Admission::accepted);
      while (auto item = buffer.pop()) out.push_back(*item);
    }
    REQUIRE(out.size() == 200);
    for (int i = 0; i < 200; ++i) REQUIRE(out[i] == i);
  }
}
