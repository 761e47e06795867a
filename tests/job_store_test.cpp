#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>

// The job store is private to the http-frontend; its header needs only the standard library.
#include "../http-frontend/src/job_changes.hpp"
#include "../http-frontend/src/job_store.hpp"
#include "../http-frontend/src/names.hpp"
#include "temporary_directory.hpp"

using namespace framepipe::http;
using framepipe::testing::TemporaryDirectory;

namespace {

std::filesystem::path database(const TemporaryDirectory& directory) {
  return directory.path() / "framepipe.db";
}

Job make_job(const std::string& id, int64_t created_unix_ms) {
  Job job;
  job.id = id;
  job.filters = "gray";
  job.preset = "veryfast";
  job.crf = 23;
  job.created_unix_ms = created_unix_ms;
  job.input_name = "clip.mp4";
  job.input_path = "/data/jobs/" + id + "/input.mp4";
  job.output_path = "/data/jobs/" + id + "/output.mp4";
  job.input_bytes = 12345;
  return job;
}

ProgressReport progress(JobState state, int64_t frames_done, int64_t frames_total = 0) {
  ProgressReport report;
  report.state = state;
  report.frames_done = frames_done;
  report.frames_total = frames_total;
  report.fps = 25.5;
  report.output_bytes = frames_done * 1000;
  report.skipped_packets = 2;
  return report;
}

}  // namespace

TEST_CASE("job store: a finished job survives a restart field by field", "[http]") {
  TemporaryDirectory directory;
  {
    JobStore store(database(directory));
    store.add(make_job("a1", 1000));
    MediaInfo info;
    info.frames_estimate = 100;
    info.width = 1920;
    info.height = 1080;
    info.out_width = 960;
    info.out_height = 540;
    info.duration_seconds = 4.0;
    info.video_codec = "h264";
    info.audio_codec = "aac";
    CHECK(store.accept("a1", info) == Update::applied);
    CHECK(store.report("a1", progress(JobState::running, 10), 2000) == Update::state_changed);
    CHECK(store.report("a1", progress(JobState::done, 98, 98), 3000) == Update::state_changed);
  }
  JobStore reopened(database(directory));
  CHECK(reopened.unfinished().empty());
  const auto job = reopened.find("a1");
  REQUIRE(job);
  CHECK(job->state == JobState::done);
  CHECK(job->filters == "gray");
  CHECK(job->preset == "veryfast");
  CHECK(job->crf == 23);
  CHECK(job->frames_done == 98);
  CHECK(job->frames_total == 98);
  CHECK(job->frames_total_exact);
  CHECK(job->fps == Approx(25.5));  // the sink's mean rate over the whole job
  CHECK(job->skipped_packets == 2);
  CHECK_FALSE(job->error);
  CHECK(job->created_unix_ms == 1000);
  CHECK(job->started_unix_ms == 2000);
  CHECK(job->finished_unix_ms == 3000);
  CHECK(job->input_name == "clip.mp4");
  CHECK(job->input_path == "/data/jobs/a1/input.mp4");
  CHECK(job->output_path == "/data/jobs/a1/output.mp4");
  CHECK(job->input_bytes == 12345);
  CHECK(job->output_bytes == 98000);
  CHECK(job->width == 1920);
  CHECK(job->height == 1080);
  CHECK(job->out_width == 960);
  CHECK(job->out_height == 540);
  CHECK(job->duration_seconds == Approx(4.0));
  CHECK(job->video_codec == "h264");
  CHECK(job->audio_codec == "aac");
}

TEST_CASE("job store: the output format survives a restart, mp4 by default", "[http][formats]") {
  TemporaryDirectory directory;
  {
    JobStore store(database(directory));
    Job webm = make_job("w1", 1000);
    webm.format = "webm";
    webm.output_path = "/data/jobs/w1/output.webm";
    store.add(webm);
    store.add(make_job("m1", 1001));
  }
  JobStore reopened(database(directory));
  REQUIRE(reopened.find("w1"));
  CHECK(reopened.find("w1")->format == "webm");
  CHECK(reopened.find("w1")->output_path == "/data/jobs/w1/output.webm");
  REQUIRE(reopened.find("m1"));
  CHECK(reopened.find("m1")->format == "mp4");
}

TEST_CASE("job store: queued and running jobs keep their state and numbers over a restart",
          "[http]") {
  TemporaryDirectory directory;
  {
    JobStore store(database(directory));
    store.add(make_job("queued", 1));
    store.add(make_job("running", 2));
    store.add(make_job("done", 3));
    store.add(make_job("failed", 4));
    store.add(make_job("canceled", 5));
    store.report("running", progress(JobState::running, 5), 10);
    store.report("done", progress(JobState::done, 7, 7), 10);
    store.reject("failed", "cannot decode", 10);
    store.cancel("canceled", 10);
  }
  JobStore reopened(database(directory));
  CHECK(reopened.unfinished() == std::map<std::string, bool>{{"queued", false}, {"running", true}});
  CHECK(reopened.find("queued")->state == JobState::queued);
  CHECK(reopened.find("running")->state == JobState::running);
  CHECK(reopened.find("running")->frames_done == 5);  // not reset: the cluster may go on with it
  CHECK(reopened.find("done")->state == JobState::done);
  CHECK(reopened.find("failed")->error == "cannot decode");
  CHECK(reopened.find("canceled")->state == JobState::canceled);

  // The cluster lost the running job: it fails with the reason, persisted, once.
  CHECK(reopened.interrupt("running", 9000) == Update::state_changed);
  CHECK(reopened.interrupt("running", 9100) == Update::ignored);
  CHECK(reopened.interrupt("done", 9100) == Update::ignored);
  CHECK(reopened.interrupt("nope", 9100) == Update::unknown_job);
  JobStore again(database(directory));
  CHECK(again.unfinished() == std::map<std::string, bool>{{"queued", false}});
  const auto job = again.find("running");
  REQUIRE(job);
  CHECK(job->state == JobState::failed);
  CHECK(job->error == std::string(kInterruptedError));
  CHECK(job->finished_unix_ms == 9000);
}

TEST_CASE("job store: a running job's progress is written at most once a second", "[http]") {
  TemporaryDirectory directory;
  const auto reopened_frames = [&] { return JobStore(database(directory)).find("j")->frames_done; };
  {
    JobStore store(database(directory));
    store.add(make_job("j", 1));
    CHECK(store.report("j", progress(JobState::running, 5), 1000) == Update::state_changed);
    CHECK(store.report("j", progress(JobState::running, 50), 1500) == Update::applied);
    CHECK(store.find("j")->frames_done == 50);
  }
  CHECK(reopened_frames() == 5);  // the state change was written, the next report not yet
  {
    JobStore store(database(directory));
    CHECK(store.report("j", progress(JobState::running, 60), 1500) == Update::applied);
    CHECK(store.report("j", progress(JobState::running, 80), 1600) == Update::applied);
  }
  CHECK(reopened_frames() == 60);  // a new process writes its first report, then waits a second
  {
    JobStore store(database(directory));
    CHECK(store.report("j", progress(JobState::running, 90), 2000) == Update::applied);
    CHECK(store.report("j", progress(JobState::running, 95), 3000) == Update::applied);
  }
  CHECK(reopened_frames() == 95);
}

TEST_CASE("job store: a final state is never left", "[http]") {
  TemporaryDirectory directory;
  JobStore store(database(directory));
  store.add(make_job("j", 1));

  SECTION("a late running report does not reopen a done job") {
    CHECK(store.report("j", progress(JobState::done, 50, 50), 10) == Update::state_changed);
    CHECK(store.report("j", progress(JobState::running, 40), 11) == Update::ignored);
    CHECK(store.report("j", progress(JobState::failed, 0), 12) == Update::ignored);
    CHECK(store.cancel("j", 13) == Update::ignored);
    CHECK(store.reject("j", "late", 14) == Update::ignored);
    const auto job = store.find("j");
    CHECK(job->state == JobState::done);
    CHECK(job->frames_done == 50);
    CHECK(job->finished_unix_ms == 10);
  }
  SECTION("nothing moves a canceled job") {
    CHECK(store.cancel("j", 10) == Update::state_changed);
    CHECK(store.report("j", progress(JobState::running, 1), 11) == Update::ignored);
    CHECK(store.report("j", progress(JobState::done, 1, 1), 12) == Update::ignored);
    CHECK(store.find("j")->state == JobState::canceled);
  }
  SECTION("a refused job is failed with the ventilator's reason") {
    CHECK(store.reject("j", "no video stream", 10) == Update::state_changed);
    CHECK(store.report("j", progress(JobState::running, 1), 11) == Update::ignored);
    CHECK(store.find("j")->error == "no video stream");
  }
}

TEST_CASE("job store: progress moves a job forward", "[http]") {
  TemporaryDirectory directory;
  JobStore store(database(directory));
  store.add(make_job("j", 1));

  MediaInfo info;
  info.frames_estimate = 120;
  CHECK(store.accept("j", info) == Update::applied);
  CHECK(store.find("j")->state == JobState::queued);  // accepted is still queued
  CHECK(store.find("j")->frames_total == 120);
  CHECK_FALSE(store.find("j")->frames_total_exact);

  CHECK(store.report("j", progress(JobState::running, 10), 100) == Update::state_changed);
  CHECK(store.find("j")->started_unix_ms == 100);
  CHECK(store.report("j", progress(JobState::running, 20), 200) == Update::applied);
  CHECK(store.find("j")->frames_done == 20);
  CHECK(store.find("j")->frames_total == 120);  // still the estimate

  CHECK(store.report("j", progress(JobState::running, 30, 118), 300) == Update::applied);
  CHECK(store.find("j")->frames_total == 118);
  CHECK(store.find("j")->frames_total_exact);
  CHECK(store.accept("j", info) == Update::applied);  // a late reply keeps the exact total
  CHECK(store.find("j")->frames_total == 118);

  CHECK(store.report("j", progress(JobState::failed, 30), 400) == Update::state_changed);
  const auto job = store.find("j");
  CHECK(job->state == JobState::failed);
  REQUIRE(job->error);
  CHECK_FALSE(job->error->empty());
  CHECK(job->finished_unix_ms == 400);
  CHECK(job->started_unix_ms == 100);
}

TEST_CASE("job store: unknown jobs, duplicates, order and erase", "[http]") {
  TemporaryDirectory directory;
  JobStore store(database(directory));
  CHECK(store.report("nope", progress(JobState::running, 1), 1) == Update::unknown_job);
  CHECK(store.accept("nope", MediaInfo{}) == Update::unknown_job);
  CHECK(store.cancel("nope", 1) == Update::unknown_job);
  CHECK_FALSE(store.find("nope"));

  store.add(make_job("old", 10));
  store.add(make_job("new", 30));
  store.add(make_job("mid", 20));
  CHECK_THROWS_AS(store.add(make_job("mid", 40)), std::runtime_error);

  const auto jobs = store.list();
  REQUIRE(jobs.size() == 3);
  CHECK(jobs[0].id == "new");
  CHECK(jobs[1].id == "mid");
  CHECK(jobs[2].id == "old");

  CHECK(store.erase("mid"));
  CHECK_FALSE(store.erase("mid"));
  CHECK(store.list().size() == 2);
  JobStore reopened(database(directory));
  CHECK_FALSE(reopened.find("mid"));
  CHECK(reopened.list().size() == 2);
}

TEST_CASE("upload names never become paths or hidden text", "[http]") {
  CHECK(sanitize_extension("clip.MP4") == "mp4");
  CHECK(sanitize_extension("archive.tar.gz") == "gz");
  CHECK(sanitize_extension("../../etc/passwd") == "");
  CHECK(sanitize_extension("a.b/c") == "");
  CHECK(sanitize_extension("x.toolongext") == "");
  CHECK(sanitize_extension("x.m p4") == "");
  CHECK(sanitize_extension("x.mp4/") == "");
  CHECK(sanitize_extension(".hidden") == "");
  CHECK(sanitize_extension("C:\\videos\\clip.avi") == "avi");

  CHECK(display_name("C:\\videos\\clip.avi") == "clip.avi");
  CHECK(display_name("../../x\ny.mp4") == "xy.mp4");
  CHECK(display_name("") == "upload");
  CHECK(display_name("caf\xC3\xA9.mp4") == "caf\xC3\xA9.mp4");
  CHECK(display_name("bad\xFF.mp4") == "bad\xEF\xBF\xBD.mp4");
  CHECK(display_name("evil\xE2\x80\xAEgpj.exe") == "evilgpj.exe");  // no right-to-left override
  CHECK(display_name(std::string(1000, 'a')).size() <= 200);

  CHECK(download_name("my clip.mov", "id") == "my_clip-framepipe.mp4");
  CHECK(download_name("\xC3\xA9", "id") == "id.mp4");
  CHECK(download_name("", "id") == "id.mp4");
  CHECK(download_name("my clip.mov", "id", "flac") == "my_clip-framepipe.flac");
  CHECK(download_name("", "id", "webm") == "id.webm");
}

TEST_CASE("job changes: each stream gets every changed job once, or is told it missed some",
          "[http]") {
  using std::chrono::milliseconds;
  JobChanges changes;
  CHECK(changes.last() == 0);
  auto nothing = changes.wait(0, milliseconds(1));
  CHECK(nothing.job_ids.empty());
  CHECK_FALSE(nothing.missed);

  changes.note("a");
  changes.note("b");
  changes.note("a");
  auto batch = changes.wait(0, milliseconds(0));
  CHECK(batch.job_ids == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(batch.missed);
  CHECK(batch.last == 3);
  CHECK(changes.wait(batch.last, milliseconds(1)).job_ids.empty());

  for (size_t i = 0; i < JobChanges::kCapacity + 5; ++i) changes.note("x" + std::to_string(i));
  auto behind = changes.wait(batch.last, milliseconds(0));
  CHECK(behind.missed);
  CHECK(behind.job_ids.size() == JobChanges::kCapacity);
}

TEST_CASE("job store: a moved data directory keeps its results", "[http]") {
  TemporaryDirectory first;
  TemporaryDirectory second;
  const auto old_base = database(first).parent_path();
  const auto new_base = database(second).parent_path();
  Job job = make_job("m1", 1000);
  job.input_path = (old_base / "jobs" / "m1" / "input.mp4").string();
  job.output_path = (old_base / "jobs" / "m1" / "output.mp4").string();
  {
    JobStore store(database(first));
    store.add(job);
  }
  // The data directory moves: database and job files alike.
  std::filesystem::remove(database(second).parent_path());
  std::filesystem::rename(old_base, new_base);
  std::filesystem::create_directories(old_base);  // for `first` to clean up
  JobStore moved(database(second));
  const auto found = moved.find("m1");
  REQUIRE(found);
  CHECK(found->input_path == (new_base / "jobs" / "m1" / "input.mp4").string());
  CHECK(found->output_path == (new_base / "jobs" / "m1" / "output.mp4").string());
}
