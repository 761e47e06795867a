// The rule `auto` follows to deal a job as frames or segments, without sockets.
#include <catch2/catch.hpp>

#include "framepipe/ventilator/distribution.hpp"

using framepipe::ventilator::choose_distribution;
using framepipe::ventilator::DistributionFacts;

namespace {

// Two workers on the head's 2-core machine, nothing measured yet.
DistributionFacts local_workers() {
  DistributionFacts facts;
  facts.workers = 2;
  facts.workers_reading_shared = 2;
  facts.head_cores = 2;
  return facts;
}

}  // namespace

TEST_CASE("auto deals frames to workers that share the head's memory", "[scheduler]") {
  const auto choice = choose_distribution(local_workers());
  CHECK_FALSE(choice.segments);
  CHECK_THAT(choice.why, Catch::Contains("shared memory"));
}

TEST_CASE("auto deals segments when no worker shares the head's memory", "[scheduler]") {
  DistributionFacts facts = local_workers();
  facts.workers_reading_shared = 0;
  auto choice = choose_distribution(facts);
  CHECK(choice.segments);
  CHECK_THAT(choice.why, Catch::Contains("cross the network"));
  facts = local_workers();
  facts.shared_memory = false;
  CHECK(choose_distribution(facts).segments);
}

TEST_CASE("auto deals segments when the sink's encoder would bound the workers", "[scheduler]") {
  DistributionFacts facts = local_workers();
  facts.head_cores = 32;
  facts.workers = 16;
  facts.workers_reading_shared = 16;
  facts.worker_filter_ms = 10;  // 16 workers: 1600 frames/s
  facts.sink_encode_ms = 5;     // the sink: 200 frames/s
  auto choice = choose_distribution(facts);
  CHECK(choice.segments);
  CHECK_THAT(choice.why, Catch::Contains("200 frames/s") && Catch::Contains("1600 frames/s"));
  facts.sink_encode_ms = 0;  // not measured yet: frames, as before
  CHECK_FALSE(choose_distribution(facts).segments);
}

TEST_CASE("workers on the head count for its cores but one", "[scheduler]") {
  DistributionFacts facts = local_workers();  // 2 cores: one worker's worth, 100 frames/s
  facts.worker_filter_ms = 10;
  facts.sink_encode_ms = 8;  // 125 frames/s
  CHECK_FALSE(choose_distribution(facts).segments);
  facts.workers = 4;  // two more on other machines: 300 frames/s, over twice the sink's
  const auto choice = choose_distribution(facts);
  CHECK(choice.segments);
  CHECK_THAT(choice.why, Catch::Contains("300 frames/s"));
}

TEST_CASE("auto keeps frames when pixels are unchanged or the stream cannot be cut",
          "[scheduler]") {
  DistributionFacts facts = local_workers();
  facts.workers_reading_shared = 0;
  facts.pixels_unchanged = true;
  CHECK_FALSE(choose_distribution(facts).segments);
  facts.pixels_unchanged = false;
  facts.segment_refusal = "workers do not decode prores from segments";
  const auto choice = choose_distribution(facts);
  CHECK_FALSE(choice.segments);
  CHECK_THAT(choice.why, Catch::Contains("prores"));
}

TEST_CASE("frames and segments asked for are obeyed", "[scheduler]") {
  DistributionFacts facts = local_workers();
  facts.asked = "segments";
  CHECK(choose_distribution(facts).segments);
  facts = local_workers();
  facts.workers_reading_shared = 0;
  facts.asked = "frames";
  CHECK_FALSE(choose_distribution(facts).segments);
}
