#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
}

// The metrics, job JSON and static-file helpers are private to the http-frontend.
#include "../http-frontend/src/metrics.hpp"
#include "../http-frontend/src/render.hpp"
#include "../http-frontend/src/reply_waits.hpp"
#include "../http-frontend/src/static_files.hpp"
#include "temporary_directory.hpp"

using namespace framepipe;
using namespace framepipe::http;
using framepipe::testing::TemporaryDirectory;

namespace {

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The value of the sample line `series` (name and labels exactly as written), or NaN.
double sample(const std::string& text, const std::string& series) {
  for (const std::string& line : lines_of(text)) {
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

protocol::Histogram histogram_of(std::initializer_list<double> milliseconds) {
  protocol::Histogram histogram;
  for (double ms : milliseconds) histogram.observe(ms);
  return histogram;
}

protocol::WorkerInfo worker_named(const std::string& name, int64_t frames_done) {
  protocol::WorkerInfo worker;
  worker.name = name;
  worker.host = "host-a";
  worker.version = "0.1.0";
  worker.cores = 4;
  worker.stats.state = "busy";
  worker.stats.frames_done = frames_done;
  worker.stats.fps = 12.5;
  worker.stats.cpu_percent = 97.25;
  worker.stats.rss_bytes = 50 << 20;
  worker.stats.filter_latency = histogram_of({0.5, 3, 3, 700});
  return worker;
}

}  // namespace

TEST_CASE("metrics: routes are patterns from a fixed set", "[http][metrics]") {
  const std::map<std::string, std::string> expected = {
      {"/", "/"},
      {"/dashboard", "/dashboard"},
      {"/dashboard/", "/dashboard/"},
      {"/assets/app.js", "/assets/{name}"},
      {"/assets/", "other"},
      {"/assets/a/b.js", "other"},
      {"/api/jobs", "/api/jobs"},
      {"/api/jobs/", "other"},
      {"/api/jobs/0123abcd", "/api/jobs/{id}"},
      {"/api/jobs/0123abcd/result", "/api/jobs/{id}/result"},
      {"/api/jobs/0123abcd/events", "/api/jobs/{id}/events"},
      {"/api/jobs/0123abcd/other", "other"},
      {"/api/jobs//result", "other"},
      {"/api/events", "/api/events"},
      {"/api/workers", "/api/workers"},
      {"/api/filters", "/api/filters"},
      {"/api/cluster", "/api/cluster"},
      {"/health", "/health"},
      {"/metrics", "/metrics"},
      {"/metrics/", "other"},
      {"", "other"},
      {"/../etc/passwd", "other"},
  };
  for (const auto& [path, route] : expected) {
    INFO(path);
    CHECK(route_of(path) == route);
  }
  CHECK(method_label("GET") == "GET");
  CHECK(method_label("DELETE") == "DELETE");
  CHECK(method_label("get") == "other");
  CHECK(method_label("BREW") == "other");
}

TEST_CASE("metrics: label values are escaped and valid UTF-8", "[http][metrics]") {
  CHECK(escape_label_value("plain-name_1") == "plain-name_1");
  CHECK(escape_label_value("a\"b") == "a\\\"b");
  CHECK(escape_label_value("a\\b") == "a\\\\b");
  CHECK(escape_label_value("a\nb") == "a\\nb");
  CHECK(escape_label_value(std::string("a\tb\x01", 4)) == "a?b?");
  CHECK(escape_label_value("caf\xC3\xA9 \xE2\x82\xAC") == "caf\xC3\xA9 \xE2\x82\xAC");
  CHECK(escape_label_value("bad\xFF") == "bad\xEF\xBF\xBD");
  CHECK(escape_label_value("\xC3") == "\xEF\xBF\xBD");                                  // truncated
  CHECK(escape_label_value("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  CHECK(escape_label_value("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST_CASE("metrics: sample values", "[http][metrics]") {
  CHECK(format_sample_value(0) == "0");
  CHECK(format_sample_value(0.001) == "0.001");
  CHECK(format_sample_value(5) == "5");
  CHECK(format_sample_value(12.5) == "12.5");
  CHECK(format_sample_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
  CHECK(format_sample_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_sample_value(-std::numeric_limits<double>::infinity()) == "-Inf");
}

TEST_CASE("metrics: request and job counters", "[http][metrics]") {
  RequestCounters requests;
  requests.count("GET", "/api/jobs", 200);
  requests.count("GET", "/api/jobs", 200);
  requests.count("POST", "/api/jobs", 201);
  const auto entries = requests.entries();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].method == "GET");
  CHECK(entries[0].count == 2);
  CHECK(entries[1].status == 201);

  JobCounters jobs;
  jobs.count_enqueued();
  jobs.count_final(JobState::done);
  jobs.count_final(JobState::failed);
  jobs.count_final(JobState::failed);
  jobs.count_final(JobState::running);  // not final: not counted
  const JobCounts counts = jobs.counts();
  CHECK(counts.enqueued == 1);
  CHECK(counts.completed == 1);
  CHECK(counts.failed == 2);
  CHECK(counts.canceled == 0);
}

TEST_CASE("metrics: the exposition text", "[http][metrics]") {
  const int64_t now = 1'000'000;
  ClusterSnapshot cluster;
  cluster.registry.last_answer_ms = now - 100;
  cluster.ventilator.last_answer_ms = now - 100;
  // The sink never answered.
  cluster.workers = {worker_named("w1", 4), worker_named("odd \"name\"\n", 0),
                     worker_named("w1", 99)};  // a repeated name is shown once
  cluster.last_pong.frames_in_flight = 7;
  cluster.last_pong.frames_resent = -3;  // garbage from a peer: clamped
  cluster.last_pong.decode_latency = histogram_of({0.2, 1.5, 1.5, 9000});
  cluster.last_sink_alive.frames_encoded = 42;
  cluster.last_sink_alive.encode_latency.counts = {1, 2, 3};  // the wrong number of buckets
  cluster.last_sink_alive.encode_latency.count = 6;

  MetricsView view;
  view.now_ms = now;
  view.cluster = &cluster;
  view.requests = {{"GET", "/metrics", 200, 3}};
  view.jobs = {5, 3, 1, 1};
  view.jobs_by_state = {1, 0, 3, 1, 0};
  const std::string text = render_metrics(view);

  SECTION("every family has HELP then TYPE, and samples follow their family") {
    std::string family;
    std::map<std::string, int> families;
    for (const std::string& line : lines_of(text)) {
      REQUIRE_FALSE(line.empty());
      if (line.starts_with("# HELP ")) {
        family = line.substr(7, line.find(' ', 7) - 7);
        CHECK(++families[family] == 1);
        continue;
      }
      if (line.starts_with("# TYPE ")) {
        CHECK(line.substr(7, family.size() + 1) == family + " ");
        continue;
      }
      INFO(line);
      CHECK(line.starts_with(family));
    }
    CHECK(families.size() >= 20);
  }

  SECTION("counters, gauges and component liveness") {
    CHECK(sample(text,
                 R"(framepipe_http_requests_total{method="GET",route="/metrics",status="200"})") ==
          3);
    CHECK(sample(text, "framepipe_jobs_enqueued_total") == 5);
    CHECK(sample(text, "framepipe_jobs_completed_total") == 3);
    CHECK(sample(text, R"(framepipe_jobs{state="done"})") == 3);
    CHECK(sample(text, R"(framepipe_jobs{state="queued"})") == 1);
    CHECK(sample(text, "framepipe_frames_processed_total") == 42);
    CHECK(sample(text, "framepipe_frames_resent_total") == 0);
    CHECK(sample(text, "framepipe_frames_in_flight") == 7);
    CHECK(sample(text, R"(framepipe_component_up{component="registry"})") == 1);
    CHECK(sample(text, R"(framepipe_component_up{component="sink"})") == 0);
    CHECK(sample(text, "framepipe_workers_live") == 2);
  }

  SECTION("per-worker series, with escaped names") {
    CHECK(sample(text, R"(framepipe_worker_fps{worker="w1"})") == 12.5);
    CHECK(sample(text, R"(framepipe_worker_cpu_percent{worker="w1"})") == 97.25);
    CHECK(sample(text, R"(framepipe_worker_memory_bytes{worker="w1"})") == 50 << 20);
    CHECK(sample(text, R"(framepipe_worker_frames_done_total{worker="w1"})") == 4);
    CHECK(sample(text, R"(framepipe_worker_busy{worker="odd \"name\"\n"})") == 1);
    CHECK(text.find("# TYPE framepipe_worker_frames_done_total counter\n") != std::string::npos);
  }

  SECTION("histograms in seconds, cumulative, +Inf equal to _count") {
    CHECK(text.find("# TYPE framepipe_decode_seconds histogram\n") != std::string::npos);
    CHECK(sample(text, R"(framepipe_decode_seconds_bucket{le="0.001"})") == 1);
    CHECK(sample(text, R"(framepipe_decode_seconds_bucket{le="0.002"})") == 3);
    CHECK(sample(text, R"(framepipe_decode_seconds_bucket{le="5"})") == 3);
    CHECK(sample(text, R"(framepipe_decode_seconds_bucket{le="+Inf"})") == 4);
    CHECK(sample(text, "framepipe_decode_seconds_count") == 4);
    CHECK(sample(text, "framepipe_decode_seconds_sum") == Approx(9.0032));
    CHECK(sample(text, R"(framepipe_filter_seconds_bucket{worker="w1",le="0.005"})") == 3);
    CHECK(sample(text, R"(framepipe_filter_seconds_count{worker="w1"})") == 4);
    // A histogram with the wrong number of buckets is shown empty, still consistent.
    CHECK(sample(text, R"(framepipe_encode_seconds_bucket{le="+Inf"})") == 0);
    CHECK(sample(text, "framepipe_encode_seconds_count") == 0);
  }

  SECTION("no worker series while the registry is silent") {
    cluster.registry.last_answer_ms = now - 60'000;
    const std::string silent = render_metrics(view);
    CHECK(sample(silent, "framepipe_workers_live") == 0);
    CHECK(silent.find("worker=\"w1\"") == std::string::npos);
    CHECK(silent.find("# TYPE framepipe_filter_seconds histogram\n") != std::string::npos);
  }
}

TEST_CASE("static files: only plain names of known types", "[http][web]") {
  for (const char* name : {"app.js", "chart.umd.js", "style.css", "index.html", "a_b-c.png"}) {
    INFO(name);
    CHECK(is_safe_asset_name(name));
  }
  for (const char* name : {"", ".", "..", ".gitignore", "a/b.js", "..%2f", "a..b.js", "a b.js",
                           "a\\b.js", "app.js\n"}) {
    INFO(name);
    CHECK_FALSE(is_safe_asset_name(name));
  }
  CHECK(content_type_for("index.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("app.js") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("style.css") == "text/css; charset=utf-8");
  CHECK_FALSE(content_type_for("package.json.bak"));
  CHECK_FALSE(content_type_for("js"));
  CHECK_FALSE(content_type_for(".js"));
}

TEST_CASE("static files: read from the web directory", "[http][web]") {
  TemporaryDirectory directory;
  const StaticFiles files(directory.path());
  CHECK_FALSE(files.has_pages());
  CHECK_FALSE(files.read("index.html"));

  write_file(directory.path() / "index.html", "<!doctype html>");
  write_file(directory.path() / "app.js", "export {};");
  write_file(directory.path() / "notes.unknown", "x");
  std::filesystem::create_directory(directory.path() / "folder.js");
  REQUIRE(::mkfifo((directory.path() / "pipe.js").c_str(), 0600) == 0);

  CHECK(files.has_pages());
  const auto page = files.read("index.html");
  REQUIRE(page);
  CHECK(page->body == "<!doctype html>");
  CHECK(page->content_type == "text/html; charset=utf-8");
  CHECK(page->etag.size() > 2);
  CHECK(page->etag.front() == '"');
  CHECK(files.read("app.js")->content_type == "text/javascript; charset=utf-8");

  CHECK_FALSE(files.read("notes.unknown"));  // a type that is not served
  CHECK_FALSE(files.read("folder.js"));      // not a regular file
  CHECK_FALSE(files.read("pipe.js"));        // a FIFO: refused without blocking
  CHECK_FALSE(files.read("missing.js"));
  CHECK_FALSE(files.read("../index.html"));

  write_file(directory.path() / "index.html", "<!doctype html><title>changed</title>");
  const auto changed = files.read("index.html");
  REQUIRE(changed);
  CHECK(changed->etag != page->etag);
}

TEST_CASE("static files: the default directory is beside the binary", "[http][web]") {
  const auto directory = default_web_directory();
  CHECK(directory.filename() == "web");
  CHECK(directory.parent_path().filename() == "framepipe");
  CHECK(directory.parent_path().parent_path().filename() == "share");
}

TEST_CASE("reply waits: an upload takes its job's reply, others take the usual way",
          "[http][formats]") {
  using std::chrono::milliseconds;
  ReplyWaits waits;
  protocol::SubmitReply reply;
  reply.job_id = "a";
  reply.error = "the input has no audio track";
  CHECK_FALSE(waits.deliver(reply));  // nobody waits for "a": the caller handles it

  waits.expect("a");
  CHECK_FALSE(waits.wait("a", milliseconds(1)));  // not yet: still waited for
  CHECK(waits.deliver(reply));
  const auto taken = waits.wait("a", milliseconds(0));
  REQUIRE(taken);
  CHECK(taken->error == reply.error);
  CHECK_FALSE(waits.deliver(reply));  // taken once; the job is no longer waited for

  // A reply that comes between the last wait and forget() is not lost.
  waits.expect("b");
  reply.job_id = "b";
  reply.accepted = true;
  CHECK_FALSE(waits.wait("b", milliseconds(1)));
  CHECK(waits.deliver(reply));
  const auto late = waits.forget("b");
  REQUIRE(late);
  CHECK(late->accepted);
  CHECK_FALSE(waits.forget("b"));
  CHECK_FALSE(waits.wait("b", milliseconds(0)));

  // A waiter wakes as soon as the reply arrives from another thread.
  waits.expect("c");
  reply.job_id = "c";
  std::thread link([&] { waits.deliver(reply); });
  const auto woken = waits.wait("c", milliseconds(5000));
  link.join();
  REQUIRE(woken);
  CHECK(woken->job_id == "c");
}

namespace {

// A job in `format` whose input the ventilator probed as `video_codec` and `audio_codec` ("": no
// such track; both "": not probed yet).
nlohmann::json json_of_job(const std::string& format, const std::string& video_codec,
                           const std::string& audio_codec) {
  Job job;
  job.id = "job-1";
  job.format = format;
  job.video_codec = video_codec;
  job.audio_codec = audio_codec;
  const ClusterSnapshot cluster{};
  const ViewContext context{1'000'000, &cluster, "framepipe worker tcp://head:5555",
                            "tcp://head:5556"};
  return job_json(job, context, 0);
}

}  // namespace

TEST_CASE("job JSON: each encoder of the format table names the codec libavcodec gives it",
          "[http][formats]") {
  for (const protocol::OutputFormat& format : protocol::output_formats()) {
    for (std::string_view encoder : {format.video_encoder, format.audio_encoder}) {
      if (encoder.empty()) continue;
      INFO(format.name << ": " << encoder);
      const AVCodec* codec = avcodec_find_encoder_by_name(std::string(encoder).c_str());
      REQUIRE(codec != nullptr);
      CHECK(codec_of_encoder(encoder) == avcodec_get_name(codec->id));
    }
  }
  CHECK(codec_of_encoder("libvpx-vp9") == "vp9");
  CHECK(codec_of_encoder("no-such-encoder") == "no-such-encoder");
}

TEST_CASE("job JSON: the result's format, MIME type and codecs", "[http][formats]") {
  SECTION("a video format encodes the video, and the audio it cannot hold") {
    const auto out = json_of_job("webm", "h264", "aac");
    CHECK(out["format"] == "webm");
    CHECK(out["mime_type"] == "video/webm");
    CHECK(out["output_video_codec"] == "vp9");
    CHECK(out["output_audio_codec"] == "opus");
    CHECK(out["video_codec"] == "h264");  // the input's, as before
    CHECK(out["audio_codec"] == "aac");
  }
  SECTION("audio the container holds is kept as it is") {
    CHECK(json_of_job("webm", "vp9", "opus")["output_audio_codec"] == "opus");
    CHECK(json_of_job("mkv", "h264", "ac3")["output_audio_codec"] == "ac3");
    CHECK(json_of_job("mp4", "h264", "ac3")["output_audio_codec"] == "aac");
    CHECK(json_of_job("mp3", "h264", "mp3")["output_audio_codec"] == "mp3");
  }
  SECTION("an audio format has no video") {
    const auto out = json_of_job("ogg", "h264", "aac");
    CHECK(out["mime_type"] == "audio/ogg");
    REQUIRE(out.contains("output_video_codec"));
    CHECK(out["output_video_codec"].is_null());
    CHECK(out["output_audio_codec"] == "vorbis");
    CHECK(json_of_job("wav", "h264", "aac")["output_audio_codec"] == "pcm_s16le");
  }
  SECTION("an input without audio gives a result without audio") {
    const auto out = json_of_job("mp4", "h264", "");
    CHECK(out["output_video_codec"] == "h264");
    REQUIRE(out.contains("output_audio_codec"));
    CHECK(out["output_audio_codec"].is_null());
  }
  SECTION("the audio codec is not said before the probe") {
    const auto out = json_of_job("mov", "", "");
    CHECK(out["mime_type"] == "video/quicktime");
    CHECK(out["output_video_codec"] == "h264");
    CHECK_FALSE(out.contains("output_audio_codec"));
  }
}
