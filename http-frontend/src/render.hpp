// The JSON the HTTP API answers with: jobs (with a human "message"), workers and health. Pure
// functions of the job store's and the cluster link's data.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cluster_link.hpp"
#include "job_store.hpp"

namespace framepipe::http {

// What a job's message depends on besides the job.
struct ViewContext {
  int64_t now_ms = 0;  // protocol::now_ms() clock, for the snapshot's times
  const ClusterSnapshot* cluster = nullptr;
  std::string worker_command;    // shown when no worker is live
  std::string control_endpoint;  // named when the ventilator is not answering
};

// "2024-05-01T12:00:00.123Z".
std::string iso8601(int64_t unix_ms);

// The libavcodec name of the codec an encoder of protocol's format table writes ("libvpx-vp9" ->
// "vp9"); an encoder it does not know gives its own name. The job JSON names codecs by it.
std::string_view codec_of_encoder(std::string_view encoder);

// The job's JSON. `jobs_ahead`: unfinished jobs created before it (for a queued job's message).
nlohmann::json job_json(const Job& job, const ViewContext& context, int jobs_ahead);
std::string job_message(const Job& job, const ViewContext& context, int jobs_ahead);

// The registry's live workers; [] while the registry is not answering.
nlohmann::json workers_json(const ClusterSnapshot& cluster, int64_t now_ms);

// GET /health. `healthy` is set when the registry, the ventilator and the sink all answered within
// the liveness window.
nlohmann::json health_json(const ClusterSnapshot& cluster, const ClusterEndpoints& endpoints,
                           int64_t now_ms, bool& healthy);

// Serialized for the wire: invalid UTF-8 (from a peer's error text, say) is replaced, never thrown.
std::string dump(const nlohmann::json& value);

}  // namespace framepipe::http
