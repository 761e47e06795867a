#include "render.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <utility>

namespace framepipe::http {
namespace {

using nlohmann::json;

json optional_time(const std::optional<int64_t>& unix_ms) {
  return unix_ms ? json(iso8601(*unix_ms)) : json(nullptr);
}

json ms_ago(const PeerStatus& peer, int64_t now_ms) {
  return peer.last_answer_ms ? json(now_ms - *peer.last_answer_ms) : json(nullptr);
}

std::string silence(const PeerStatus& peer, int64_t now_ms) {
  if (!peer.last_answer_ms) return "it has not answered yet";
  return "no answer for " + std::to_string((now_ms - *peer.last_answer_ms) / 1000) + " s";
}

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

bool no_live_workers(const ClusterSnapshot& cluster, int64_t now_ms) {
  return cluster.registry.alive(now_ms) && cluster.workers.empty();
}

std::string start_a_worker(const ViewContext& context) {
  if (context.worker_command.empty()) return "none has joined the cluster";
  return "start one with " + context.worker_command;
}

// The result's audio codec: the source's when the format keeps it as it is (as media's Writer
// decides), else its encoder's. Nothing while the input is not probed, null without audio.
std::optional<json> output_audio_codec(const Job& job, const protocol::OutputFormat& format) {
  const bool probed = !job.video_codec.empty() || !job.audio_codec.empty();
  if (!probed) return std::nullopt;
  if (job.audio_codec.empty()) return json(nullptr);
  if (protocol::holds_audio(format, job.audio_codec)) return json(job.audio_codec);
  return json(codec_of_encoder(format.audio_encoder));
}

}  // namespace

std::string_view codec_of_encoder(std::string_view encoder) {
  // Every encoder of protocol's format table; tests check each against libavcodec.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kCodecs = {{
      {"libx264", "h264"},
      {"libvpx-vp9", "vp9"},
      {"aac", "aac"},
      {"libopus", "opus"},
      {"libmp3lame", "mp3"},
      {"flac", "flac"},
      {"pcm_s16le", "pcm_s16le"},
      {"libvorbis", "vorbis"},
  }};
  const auto found = std::find_if(kCodecs.begin(), kCodecs.end(),
                                  [&](const auto& entry) { return entry.first == encoder; });
  return found != kCodecs.end() ? found->second : encoder;
}

std::string iso8601(int64_t unix_ms) {
  const time_t seconds = static_cast<time_t>(unix_ms / 1000);
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return text;
}

std::string job_message(const Job& job, const ViewContext& context, int jobs_ahead) {
  const ClusterSnapshot& cluster = *context.cluster;
  const int64_t now = context.now_ms;
  switch (job.state) {
    case JobState::queued:
      if (!cluster.ventilator.alive(now)) {
        return "waiting for the ventilator at " + context.control_endpoint + " (" +
               silence(cluster.ventilator, now) + ")";
      }
      if (no_live_workers(cluster, now)) return "waiting for workers: " + start_a_worker(context);
      if (jobs_ahead > 0) {
        return "queued behind " + std::to_string(jobs_ahead) +
               (jobs_ahead == 1 ? " earlier job" : " earlier jobs");
      }
      return "queued: the ventilator will start it shortly";
    case JobState::running: {
      if (no_live_workers(cluster, now)) {
        return "running, but no worker is connected: " + start_a_worker(context);
      }
      if (!cluster.sink.alive(now))
        return "running, but the sink is silent (" + silence(cluster.sink, now) + ")";
      std::string text = "processing: " + std::to_string(job.frames_done);
      if (job.frames_total > 0) {
        text += " of " + std::string(job.frames_total_exact ? "" : "about ") +
                std::to_string(job.frames_total) + " frames (" +
                fixed(100.0 * static_cast<double>(job.frames_done) /
                          static_cast<double>(job.frames_total),
                      0) +
                "%)";
      } else {
        text += " frames";
      }
      return text + ", " + fixed(job.fps, 1) + " frames/s";
    }
    case JobState::done: {
      std::string text = "done: " + std::to_string(job.frames_done) + " frames";
      if (job.started_unix_ms && job.finished_unix_ms) {
        const double seconds =
            static_cast<double>(*job.finished_unix_ms - *job.started_unix_ms) / 1000.0;
        text += " in " + fixed(seconds, 1) + " s";
      }
      if (job.fps > 0) text += " (" + fixed(job.fps, 1) + " frames/s)";
      text += ", " + fixed(static_cast<double>(job.output_bytes) / (1024.0 * 1024.0), 1) + " MiB";
      if (job.skipped_packets > 0) {
        text += "; " + std::to_string(job.skipped_packets) +
                (job.skipped_packets == 1 ? " damaged packet" : " damaged packets") +
                " of the input skipped, as ffmpeg skips them";
      }
      return text;
    }
    case JobState::failed:
      return "failed: " + job.error.value_or("unknown error");
    case JobState::canceled:
      return "canceled";
  }
  return {};
}

json job_json(const Job& job, const ViewContext& context, int jobs_ahead) {
  json out = {
      {"id", job.id},
      {"state", to_string(job.state)},
      {"filters", job.filters},
      {"preset", job.preset},
      {"crf", job.crf},
      {"format", job.format},
      // How the job was dealt to workers: asked, what ran ("" until it started) and why.
      {"distribution",
       {{"asked", job.distribution},
        {"mode", job.distribution_used},
        {"why", job.distribution_why}}},
      {"frames_done", job.frames_done},
      {"frames_total", job.frames_total},
      {"frames_total_exact", job.frames_total_exact},
      {"fps", job.fps},
      {"encode_ms", job.encode_ms},
      {"shared_memory", job.shared_memory},
      {"skipped_packets", job.skipped_packets},
      {"error", job.error ? json(*job.error) : json(nullptr)},
      {"created_at", iso8601(job.created_unix_ms)},
      {"started_at", optional_time(job.started_unix_ms)},
      {"finished_at", optional_time(job.finished_unix_ms)},
      {"input_name", job.input_name},
      {"input_bytes", job.input_bytes},
      {"output_bytes", job.output_bytes},
      {"message", job_message(job, context, jobs_ahead)},
  };
  if (job.width > 0 && job.height > 0) {
    out["width"] = job.width;
    out["height"] = job.height;
  }
  if (job.out_width > 0 && job.out_height > 0) {
    out["out_width"] = job.out_width;
    out["out_height"] = job.out_height;
  }
  if (job.duration_seconds > 0) out["duration"] = job.duration_seconds;
  if (!job.video_codec.empty()) out["video_codec"] = job.video_codec;
  if (!job.audio_codec.empty()) out["audio_codec"] = job.audio_codec;
  if (const auto* format = protocol::find_output_format(job.format)) {
    out["mime_type"] = format->mime_type;
    // A container change keeps the source's video as it is; otherwise the format's encoder made it.
    const bool video_copied = job.distribution_used == "copied" && !job.video_codec.empty();
    out["output_video_codec"] = format->video_encoder.empty() ? json(nullptr)
                                : video_copied                ? json(job.video_codec)
                                               : json(codec_of_encoder(format->video_encoder));
    if (auto audio = output_audio_codec(job, *format)) out["output_audio_codec"] = *audio;
  }
  if (job.state == JobState::done) out["result_url"] = "/api/jobs/" + job.id + "/result";
  return out;
}

json workers_json(const ClusterSnapshot& cluster, int64_t now_ms) {
  json out = json::array();
  if (!cluster.registry.alive(now_ms)) return out;
  const int64_t list_age = now_ms - cluster.workers_received_ms;
  for (const auto& worker : cluster.workers) {
    out.push_back({
        {"name", worker.name},
        {"host", worker.host},
        {"pid", worker.pid},
        {"cores", worker.cores},
        {"version", worker.version},
        {"state", worker.stats.state},
        {"frames_done", worker.stats.frames_done},
        {"fps", worker.stats.fps},
        {"cpu_percent", worker.stats.cpu_percent},
        {"rss_bytes", worker.stats.rss_bytes},
        {"current_job", worker.stats.current_job},
        {"filter_ms", worker.stats.filter_ms},
        {"frames_shared", worker.stats.frames_shared},
        {"last_heartbeat_ms_ago", worker.last_heartbeat_ms_ago + list_age},
        {"joined_at",
         worker.joined_unix_ms > 0 ? json(iso8601(worker.joined_unix_ms)) : json(nullptr)},
    });
  }
  return out;
}

json health_json(const ClusterSnapshot& cluster, const ClusterEndpoints& endpoints, int64_t now_ms,
                 bool& healthy) {
  const bool registry_ok = cluster.registry.alive(now_ms);
  const bool ventilator_ok = cluster.ventilator.alive(now_ms);
  const bool sink_ok = cluster.sink.alive(now_ms);
  healthy = registry_ok && ventilator_ok && sink_ok;
  const auto& pong = cluster.last_pong;
  return {
      {"status", healthy ? "ok" : "degraded"},
      {"registry",
       {{"ok", registry_ok},
        {"endpoint", endpoints.registry},
        {"last_answer_ms_ago", ms_ago(cluster.registry, now_ms)}}},
      {"ventilator",
       {{"ok", ventilator_ok},
        {"endpoint", endpoints.control},
        {"last_answer_ms_ago", ms_ago(cluster.ventilator, now_ms)},
        {"jobs_active", pong.jobs_active},
        {"jobs_queued", pong.jobs_queued},
        {"workers_ready", pong.workers_ready},
        {"frames_in_flight", pong.frames_in_flight},
        {"frames_decoded", pong.frames_decoded},
        {"frames_resent", pong.frames_resent},
        {"decode_ms", pong.decode_ms}}},
      {"sink",
       {{"ok", sink_ok},
        {"endpoint", endpoints.progress},
        {"last_answer_ms_ago", ms_ago(cluster.sink, now_ms)},
        {"jobs_active", cluster.last_sink_alive.jobs_active},
        {"frames_encoded", cluster.last_sink_alive.frames_encoded},
        {"frames_shared", cluster.last_sink_alive.frames_shared}}},
      {"workers", registry_ok ? cluster.workers.size() : 0},
  };
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace framepipe::http
