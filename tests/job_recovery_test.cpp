#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "../http-frontend/src/job_recovery.hpp"

using framepipe::http::JobRecovery;
using Verdict = JobRecovery::Verdict;

namespace {

const auto kNothingGivenUp = [](const std::string&) { return false; };

std::map<std::string, Verdict> verdicts(const std::vector<JobRecovery::Decision>& decisions) {
  std::map<std::string, Verdict> out;
  for (const auto& decision : decisions) out[decision.job_id] = decision.verdict;
  return out;
}

}  // namespace

TEST_CASE("recovery: a job the ventilator still lists is followed, never failed",
          "[http][recovery]") {
  JobRecovery recovery({{"running", true}, {"queued", false}}, 0);
  CHECK(recovery.on_cluster_jobs({"running", "queued"}, kNothingGivenUp, 100).empty());
  CHECK(recovery.pending() == 0);
  CHECK(recovery.decide(JobRecovery::kNoAnswerMs * 2).empty());
}

TEST_CASE("recovery: a job the sink reports on is live even when the ventilator forgot it",
          "[http][recovery]") {
  JobRecovery recovery({{"finishing", true}}, 0);
  recovery.on_cluster_jobs({}, kNothingGivenUp, 100);
  recovery.on_report("finishing");  // the sink's running report, or its final one re-published
  CHECK(recovery.decide(100 + JobRecovery::kGraceMs).empty());
}

TEST_CASE(
    "recovery: lost jobs wait a grace for the sink, then a started one fails and a queued "
    "one is submitted again",
    "[http][recovery]") {
  JobRecovery recovery({{"started", true}, {"waiting", false}}, 0);
  CHECK(recovery.decide(5000).empty());  // the ventilator has not answered yet
  recovery.on_cluster_jobs({}, kNothingGivenUp, 5000);
  CHECK(recovery.decide(5000 + JobRecovery::kGraceMs - 1).empty());
  recovery.on_cluster_jobs({}, kNothingGivenUp, 6000);  // later answers keep the first time
  CHECK(verdicts(recovery.decide(5000 + JobRecovery::kGraceMs)) ==
        std::map<std::string, Verdict>{{"started", Verdict::fail}, {"waiting", Verdict::resubmit}});
  CHECK(recovery.decide(60'000).empty());  // each decision is given once
  CHECK(recovery.pending() == 0);
}

TEST_CASE("recovery: with no answer from the ventilator for a long time, jobs count as lost",
          "[http][recovery]") {
  JobRecovery recovery({{"started", true}, {"waiting", false}}, 1000);
  CHECK(recovery.decide(1000 + JobRecovery::kNoAnswerMs - 1).empty());
  CHECK(verdicts(recovery.decide(1000 + JobRecovery::kNoAnswerMs)) ==
        std::map<std::string, Verdict>{{"started", Verdict::fail}, {"waiting", Verdict::resubmit}});
}

TEST_CASE("recovery: a job the head gave up on is canceled once listed twice in a row",
          "[http][recovery]") {
  JobRecovery recovery({}, 0);
  const std::set<std::string> given_up = {"failed-here", "deleted"};
  const auto is_given_up = [&](const std::string& id) { return given_up.count(id) > 0; };
  CHECK(recovery.on_cluster_jobs({"failed-here", "live"}, is_given_up, 1000).empty());
  // Not listed in between: the count starts again (a Pong may cross the sink's final report).
  CHECK(recovery.on_cluster_jobs({"live"}, is_given_up, 2000).empty());
  CHECK(recovery.on_cluster_jobs({"failed-here", "deleted"}, is_given_up, 3000).empty());
  const auto cancel =
      recovery.on_cluster_jobs({"failed-here", "deleted", "live"}, is_given_up, 4000);
  CHECK(std::set<std::string>(cancel.begin(), cancel.end()) ==
        std::set<std::string>{"failed-here", "deleted"});
}

TEST_CASE("recovery: a job still being checked is never canceled", "[http][recovery]") {
  JobRecovery recovery({{"mine", true}}, 0);
  const auto everything_given_up = [](const std::string&) { return true; };
  CHECK(recovery.on_cluster_jobs({"mine"}, everything_given_up, 100).empty());
  CHECK(recovery.on_cluster_jobs({"mine"}, everything_given_up, 200).size() == 1);
}
