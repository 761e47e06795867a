// framepipe's wire protocol: every message between nodes, its msgpack layout, the protocol version
// and the timing constants. One message = one ZeroMQ multipart message whose first part is the
// msgpack envelope [signature, version, type, body]; frame pixels follow as separate parts, never
// re-packed into msgpack.
//
//   worker  --Hello/Heartbeat-->  registry (ROUTER)   --Welcome/HeartbeatAck/Reregister--> worker
//   client  --ListWorkers-->      registry            --WorkerList--> client
//   worker  --Ready-->            ventilator (ROUTER) --Frame + planes--> worker
//   worker  --Result + yuv420p--> sink (PULL)
//   http    --SubmitJob/CancelJob/Ping--> ventilator control (ROUTER) --SubmitReply/Pong--> http
//   ventilator --JobStart/JobEnd/JobAbort--> sink (PULL)
//   ventilator --Result + planes, or Result naming shared memory--> sink (PULL), `copy` jobs
//   ventilator --VentilatorAlive--> sink (PULL), every second
//   sink    --JobProgress/SinkAlive--> PUB (ventilator and http subscribe)
//   sink    --FramesEncoded--> PUB, as soon as frames are encoded (the ventilator's flow control)
//   ventilator --Segment + packets--> worker; worker --SegmentResult + packets--> sink (PULL):
//   a job distributed as compressed segments that workers decode, filter and encode
//   ventilator --SharedProbe--> a worker that first asks; it answers with a Ready (credit 0)
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

#include "framepipe/protocol/color.hpp"
#include "framepipe/protocol/formats.hpp"
#include "framepipe/protocol/planes.hpp"

namespace framepipe::protocol {

inline constexpr std::string_view kSignature = "FPP";
// 2: Frame lost its unused `threads`. 3: JobProgress.state and JobAbort.reason are enums
// (integers), JobAbort has a message. 4: SubmitJob and JobStart carry the output format; Segment
// and SegmentResult. 5: SubmitJob.distribution, JobStart.segment_frames, JobProgress.distribution,
// SegmentResult.damaged_packets; SharedProbe; JobStart.copy_streams.
inline constexpr uint16_t kVersion = 6;
inline constexpr std::string_view kSoftwareVersion = "0.1.0";

// Timing, as in the ZeroMQ guide's Paranoid Pirate: heartbeat every second, dead after 3 missed.
inline constexpr int kHeartbeatIntervalMs = 1000;
inline constexpr int kHeartbeatLiveness = 3;
inline constexpr int kReconnectMinMs = 250;
inline constexpr int kReconnectMaxMs = 32000;
// A worker asks for this many frames at once: one being filtered, one waiting, so the network
// round trip is hidden and no worker hoards frames another could be filtering.
inline constexpr int kWorkerCredit = 2;
// Frames of one job in flight between the ventilator and the sink (decoded, not yet encoded).
inline constexpr int kDefaultWindowFrames = 48;
// Sink progress is published at least this often for every active job.
inline constexpr int kProgressIntervalMs = 250;
// Sockets refuse messages larger than this (the largest frame, kMaxPixels RGBA, plus headers).
inline constexpr int64_t kMaxMessageBytes = kMaxPixels * 4 + (1 << 20);
// Msgpack envelopes are small (a worker list of a thousand workers fits); bigger is hostile.
inline constexpr size_t kMaxEnvelopeBytes = 1024 * 1024;

// Port layout relative to the registry's port B (documented in the README).
inline constexpr int kRegistryPortOffset = 0;
inline constexpr int kFramesPortOffset = 1;    // ventilator ROUTER for workers
inline constexpr int kResultsPortOffset = 2;   // sink PULL
inline constexpr int kProgressPortOffset = 3;  // sink PUB
inline constexpr int kControlPortOffset = 4;   // ventilator ROUTER for the http-frontend

enum class Type : uint8_t {
  hello = 1,
  welcome = 2,
  heartbeat = 3,
  heartbeat_ack = 4,
  reregister = 5,
  list_workers = 6,
  worker_list = 7,
  ready = 10,
  frame = 11,
  result = 12,
  shared_probe = 13,
  submit_job = 20,
  submit_reply = 21,
  cancel_job = 22,
  ping = 23,
  pong = 24,
  job_start = 30,
  job_end = 31,
  job_abort = 32,
  job_progress = 33,
  sink_alive = 34,
  ventilator_alive = 35,
  frames_encoded = 36,
  segment = 40,
  segment_result = 41,
};

// Stage latencies travel as histograms with fixed bucket bounds (milliseconds), ready for
// Prometheus: decode (ventilator), filter (each worker), encode (sink).
inline constexpr std::array<double, 12> kLatencyBucketsMs = {1,   2,   5,   10,   20,   50,
                                                             100, 200, 500, 1000, 2000, 5000};

struct Histogram {
  std::vector<int64_t> counts;  // per bucket (not cumulative); the last one is +Inf
  double sum_ms = 0;
  int64_t count = 0;
  void observe(double ms) {
    if (counts.size() != kLatencyBucketsMs.size() + 1)
      counts.assign(kLatencyBucketsMs.size() + 1, 0);
    std::size_t bucket = 0;
    while (bucket < kLatencyBucketsMs.size() && ms > kLatencyBucketsMs[bucket]) ++bucket;
    ++counts[bucket];
    sum_ms += ms;
    ++count;
  }
  MSGPACK_DEFINE(counts, sum_ms, count)
};

struct WorkerStats {
  std::string state = "idle";  // idle | busy
  int64_t frames_done = 0;
  double fps = 0;          // recent frames per second
  double cpu_percent = 0;  // of one core, over the last interval
  int64_t rss_bytes = 0;
  std::string current_job;    // "" when idle
  double filter_ms = 0;       // mean filter time per frame, recent
  Histogram filter_latency;   // since the worker started
  int64_t frames_shared = 0;  // frames read by reference in the ventilator's shared memory
  MSGPACK_DEFINE(state, frames_done, fps, cpu_percent, rss_bytes, current_job, filter_ms,
                 filter_latency, frames_shared)
};

struct Hello {
  static constexpr Type type = Type::hello;
  std::string name;  // unique per worker process; also its ZeroMQ routing id
  std::string host;
  int32_t pid = 0;
  int32_t cores = 0;
  std::string version;
  MSGPACK_DEFINE(name, host, pid, cores, version)
};

struct Welcome {
  static constexpr Type type = Type::welcome;
  std::string frames_endpoint;  // "*" or "0.0.0.0" as host means "the host you reached me at"
  std::string results_endpoint;
  int32_t heartbeat_ms = kHeartbeatIntervalMs;
  int32_t liveness = kHeartbeatLiveness;
  MSGPACK_DEFINE(frames_endpoint, results_endpoint, heartbeat_ms, liveness)
};

struct Heartbeat {
  static constexpr Type type = Type::heartbeat;
  std::string name;
  WorkerStats stats;
  MSGPACK_DEFINE(name, stats)
};

struct HeartbeatAck {
  static constexpr Type type = Type::heartbeat_ack;
  MSGPACK_DEFINE()
};

// The registry does not know the sender (it restarted, or declared the worker dead): say hello.
struct Reregister {
  static constexpr Type type = Type::reregister;
  MSGPACK_DEFINE()
};

struct ListWorkers {
  static constexpr Type type = Type::list_workers;
  MSGPACK_DEFINE()
};

struct WorkerInfo {
  std::string name;
  std::string host;
  int32_t pid = 0;
  int32_t cores = 0;
  std::string version;
  WorkerStats stats;
  int64_t last_heartbeat_ms_ago = 0;
  int64_t joined_unix_ms = 0;
  MSGPACK_DEFINE(name, host, pid, cores, version, stats, last_heartbeat_ms_ago, joined_unix_ms)
};

struct WorkerList {
  static constexpr Type type = Type::worker_list;
  std::vector<WorkerInfo> workers;
  std::vector<std::string> dead;  // workers declared dead recently (so frames can be re-sent)
  MSGPACK_DEFINE(workers, dead)
};

// Worker -> ventilator: "send me `credit` more frames". After a frame it names the frame it
// finished (and pushed to the sink); `idle` says it holds no frame at all, so any frame the
// ventilator believes it holds was lost on the way.
struct Ready {
  static constexpr Type type = Type::ready;
  std::string name;
  int32_t credit = 0;
  bool idle = false;
  std::string job_id;  // of the finished frame; "" when none
  int64_t index = -1;
  int64_t filter_us = 0;
  // The ventilator instance whose shared memory this worker reads (its probe held this token, as
  // a Frame announced): frames may come by reference. 0: they must come with their planes.
  uint64_t shared_token = 0;
  // Sent with no credit when it starts transcoding the segment job_id/index, and several times a
  // second while it does: the segment is moving, however long it takes as a whole.
  bool progress = false;
  MSGPACK_DEFINE(name, credit, idle, job_id, index, filter_us, shared_token, progress)
};

// Ventilator -> worker, followed by one part per plane (plane_sizes[i] bytes each), or by none when
// the planes are in shared memory.
struct Frame {
  static constexpr Type type = Type::frame;
  std::string job_id;
  int64_t index = 0;  // 0-based, in presentation order
  int64_t pts = 0;    // in the job's time base
  int32_t width = 0;
  int32_t height = 0;
  std::string pixel_format;  // libav name
  std::vector<int32_t> linesizes;
  std::vector<int64_t> plane_sizes;
  ColorInfo color;
  std::string chain;  // canonical filter chain
  int32_t out_width = 0;
  int32_t out_height = 0;
  // The job's shared-memory prefix and the ventilator's probe token (shared_memory.hpp): a worker
  // that reads the token in the probe says so in Ready, and later frames come by reference: no
  // plane part, the planes at `offsets` of the object `shared_name`.
  std::string shared_prefix;
  uint64_t shared_token = 0;
  std::string shared_name;
  std::vector<int64_t> offsets;
  MSGPACK_DEFINE(job_id, index, pts, width, height, pixel_format, linesizes, plane_sizes, color,
                 chain, out_width, out_height, shared_prefix, shared_token, shared_name, offsets)
};

// Worker -> sink, followed by one part: tightly packed yuv420p of out_width x out_height.
struct Result {
  static constexpr Type type = Type::result;
  std::string job_id;
  int64_t index = 0;
  int64_t pts = 0;
  int32_t width = 0;
  int32_t height = 0;
  std::string worker;
  int64_t filter_us = 0;  // time spent converting and filtering
  // Followed by the yuv420p pixels: one tightly packed part (from a worker), or one part per plane
  // with these strides (straight from the ventilator, the decoder's planes as they are).
  std::vector<int32_t> linesizes;
  // Or no part at all: the planes, with these strides, are at these offsets of the ventilator's
  // shared-memory object of this name (a head's sink on the ventilator's machine;
  // shared_memory.hpp).
  std::string shared_name;
  std::vector<int64_t> offsets;
  MSGPACK_DEFINE(job_id, index, pts, width, height, worker, filter_us, linesizes, shared_name,
                 offsets)
};

// Ventilator -> a worker it has not heard from before: where its shared-memory probe is (a job
// prefix of its own, as in Frame) and the token it holds. A worker on the same machine reads the
// token there and answers with a Ready carrying it (credit 0), so that the ventilator knows which
// workers share its memory before it chooses how to deal a job.
struct SharedProbe {
  static constexpr Type type = Type::shared_probe;
  std::string prefix;
  uint64_t token = 0;
  MSGPACK_DEFINE(prefix, token)
};

// How a job is dealt to workers (SubmitJob.distribution).
inline constexpr std::array<std::string_view, 3> kDistributions = {"auto", "frames", "segments"};
inline bool is_distribution(std::string_view name) {
  return std::find(kDistributions.begin(), kDistributions.end(), name) != kDistributions.end();
}

struct SubmitJob {
  static constexpr Type type = Type::submit_job;
  std::string job_id;
  std::string input_path;
  std::string output_path;
  std::string chain;  // canonical
  std::string preset = "veryfast";
  int32_t crf = 20;
  std::string format{kDefaultFormat};  // an OutputFormat's name (formats.hpp)
  // How the job is dealt to workers: "auto", "frames" (decoded frames) or "segments" (compressed
  // segments that workers decode, filter and encode); see kDistributions.
  std::string distribution = "auto";
  MSGPACK_DEFINE(job_id, input_path, output_path, chain, preset, crf, format, distribution)
};

struct SubmitReply {
  static constexpr Type type = Type::submit_reply;
  std::string job_id;
  bool accepted = false;
  std::string error;
  int64_t frames_estimate = 0;
  int32_t width = 0;
  int32_t height = 0;
  int32_t out_width = 0;
  int32_t out_height = 0;
  double duration_seconds = 0;
  std::string video_codec;
  std::string audio_codec;
  // Refused for now (the cluster is busy), not for what the job is: the same job may come again.
  bool retry_later = false;
  MSGPACK_DEFINE(job_id, accepted, error, frames_estimate, width, height, out_width, out_height,
                 duration_seconds, video_codec, audio_codec, retry_later)
};

struct CancelJob {
  static constexpr Type type = Type::cancel_job;
  std::string job_id;
  MSGPACK_DEFINE(job_id)
};

struct Ping {
  static constexpr Type type = Type::ping;
  int64_t nonce = 0;
  MSGPACK_DEFINE(nonce)
};

struct Pong {
  static constexpr Type type = Type::pong;
  int64_t nonce = 0;
  int32_t jobs_active = 0;
  int32_t jobs_queued = 0;
  int32_t workers_ready = 0;
  int64_t frames_in_flight = 0;
  int64_t frames_decoded = 0;
  int64_t frames_resent = 0;
  double decode_ms = 0;  // mean decode time per frame, recent
  Histogram decode_latency;
  // Every job the ventilator holds, queued or running: it forgets a job only once the sink has
  // reported it finished, so a job that is in neither this list nor the sink's final reports was
  // lost (a restarted http-frontend learns here which of its jobs still live).
  std::vector<std::string> jobs;
  MSGPACK_DEFINE(nonce, jobs_active, jobs_queued, workers_ready, frames_in_flight, frames_decoded,
                 frames_resent, decode_ms, decode_latency, jobs)
};

struct JobStart {
  static constexpr Type type = Type::job_start;
  std::string job_id;
  std::string input_path;  // audio source
  std::string output_path;
  int32_t width = 0;  // of the encoded frames
  int32_t height = 0;
  int32_t time_base_num = 1;
  int32_t time_base_den = 25;
  int32_t rate_num = 25;
  int32_t rate_den = 1;
  ColorInfo color;
  std::string preset = "veryfast";
  int32_t crf = 20;
  int32_t sample_aspect_num = 0;  // of the encoded frames; 0 when unknown (square)
  int32_t sample_aspect_den = 1;
  // Frames may come by reference in shared-memory objects named shared_prefix + digits, if the
  // sink reads `shared_token` in the ventilator's probe object ("" when they never do).
  std::string shared_prefix;
  uint64_t shared_token = 0;
  std::string format{kDefaultFormat};  // an OutputFormat's name (formats.hpp)
  // A segmented job: workers return encoded segments (SegmentResult), segment_frames[k] frames in
  // segment k; its JobEnd and FramesEncoded count segments. Empty: frames come as Results.
  std::vector<int64_t> segment_frames;
  std::string distribution_why;  // why the job is dealt as it is, for people
  // A container change: the sink copies input_path's video packets (and copies or encodes its
  // audio) into the format itself; no frame or segment comes, and JobEnd's count means nothing.
  bool copy_streams = false;
  MSGPACK_DEFINE(job_id, input_path, output_path, width, height, time_base_num, time_base_den,
                 rate_num, rate_den, color, preset, crf, sample_aspect_num, sample_aspect_den,
                 shared_prefix, shared_token, format, segment_frames, distribution_why,
                 copy_streams)
};

struct JobEnd {
  static constexpr Type type = Type::job_end;
  std::string job_id;
  int64_t total_frames = 0;     // segments, for a segmented job
  int64_t skipped_packets = 0;  // damaged (or oversized) video the decoder skipped, as ffmpeg does
  MSGPACK_DEFINE(job_id, total_frames, skipped_packets)
};

// Why the ventilator stops a job early.
enum class AbortReason : uint8_t { failed = 0, canceled = 1 };

struct JobAbort {
  static constexpr Type type = Type::job_abort;
  std::string job_id;
  AbortReason reason = AbortReason::failed;
  std::string message;  // for people, with `failed`: what went wrong
  MSGPACK_DEFINE(job_id, reason, message)
};

enum class JobState : uint8_t { running = 0, done = 1, failed = 2, canceled = 3 };
// The state's name, as the HTTP API and the logs spell it.
constexpr std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::running:
      return "running";
    case JobState::done:
      return "done";
    case JobState::failed:
      return "failed";
    case JobState::canceled:
      return "canceled";
  }
  return "unknown";
}
constexpr bool is_final(JobState state) {
  return state != JobState::running;
}

// Published by the sink: "frames [0, frames_done) of this job are encoded".
struct JobProgress {
  static constexpr Type type = Type::job_progress;
  std::string job_id;
  JobState state = JobState::running;
  int64_t frames_done = 0;
  int64_t frames_total = 0;  // 0 until the ventilator has decoded the whole input
  double fps = 0;
  std::string error;
  int64_t output_bytes = 0;
  double encode_ms = 0;         // mean encode time per frame, recent
  int64_t skipped_packets = 0;  // from JobEnd: damaged video the decoder skipped
  bool shared_memory = false;   // the sink reads this job's frames by reference (JobStart)
  // "frames" or "segments": how the job was dealt to workers; "copied": to none, its streams
  // were copied into the new container (JobStart.copy_streams), frames counting video packets.
  std::string distribution;
  std::string distribution_why;  // and why
  MSGPACK_DEFINE(job_id, state, frames_done, frames_total, fps, error, output_bytes, encode_ms,
                 skipped_packets, shared_memory, distribution, distribution_why)
};

// Published by the sink as soon as frames are encoded (at most once per result it takes in):
// "frames [0, frames_done) of this job are encoded and their buffers released". It is the
// ventilator's flow control, so frames move at the encoder's pace however small they are;
// JobProgress, for people, keeps its own pace.
struct FramesEncoded {
  static constexpr Type type = Type::frames_encoded;
  std::string job_id;
  int64_t frames_done = 0;  // segments, for a segmented job
  MSGPACK_DEFINE(job_id, frames_done)
};

// Ventilator -> worker, followed by one part: the segment's packets back to back, packet_sizes[i]
// bytes each, in decode order. Everything a worker needs to decode the segment on its own (the
// source stream's description), which of the decoded frames are the segment's, and how to filter
// and encode them.
struct Segment {
  static constexpr Type type = Type::segment;
  std::string job_id;
  int64_t index = 0;  // 0-based
  // The source's video stream.
  std::string codec;  // libavcodec decoder name: one of media's segment codecs
  std::vector<uint8_t> extradata;
  int32_t width = 0;
  int32_t height = 0;
  std::string pixel_format;  // as probed (libav name)
  ColorInfo color;
  int32_t time_base_num = 1;  // of the packets' timestamps
  int32_t time_base_den = 1;
  int32_t rate_num = 0;  // average frame rate; 0/1 when unknown
  int32_t rate_den = 1;
  // The segment: its frames are the decoded ones with pts in [start_pts, end_pts), `frames` of
  // them; `last`: it ends the stream.
  int64_t start_pts = 0;
  int64_t end_pts = 0;
  int64_t frames = 0;
  bool last = false;
  std::vector<int64_t> packet_sizes;
  std::vector<int64_t> packet_pts;
  std::vector<int64_t> packet_dts;
  std::vector<uint8_t> packet_flags;  // AV_PKT_FLAG_KEY and the like
  // The job.
  std::string chain;  // canonical filter chain
  int32_t out_width = 0;
  int32_t out_height = 0;
  int32_t sample_aspect_num = 0;  // of the output
  int32_t sample_aspect_den = 1;
  std::string preset;
  int32_t crf = 20;
  std::string format{kDefaultFormat};  // the output format: the worker encodes with its encoder
  MSGPACK_DEFINE(job_id, index, codec, extradata, width, height, pixel_format, color, time_base_num,
                 time_base_den, rate_num, rate_den, start_pts, end_pts, frames, last, packet_sizes,
                 packet_pts, packet_dts, packet_flags, chain, out_width, out_height,
                 sample_aspect_num, sample_aspect_den, preset, crf, format)
};

// Worker -> sink, followed by one part: the encoded packets back to back, in decode order.
struct SegmentResult {
  static constexpr Type type = Type::segment_result;
  std::string job_id;
  int64_t index = 0;
  std::string worker;
  int64_t frames = 0;
  std::vector<uint8_t> extradata;  // the encoder's parameter sets
  int32_t time_base_num = 1;       // of the packets' timestamps (the encoder's)
  int32_t time_base_den = 1;
  std::vector<int64_t> packet_sizes;
  std::vector<int64_t> packet_pts;
  std::vector<int64_t> packet_dts;
  std::vector<int64_t> packet_durations;
  std::vector<uint8_t> packet_flags;
  int64_t transcode_us = 0;     // decoding, filtering and encoding the segment
  int64_t damaged_packets = 0;  // skipped by the worker's decoder, as the ventilator's skips them
  // Why the worker could not transcode the segment ("" when it did; then frames is 0 and no
  // packet follows, only an empty part): the job fails with it rather than going round for ever.
  std::string error;
  MSGPACK_DEFINE(job_id, index, worker, frames, extradata, time_base_num, time_base_den,
                 packet_sizes, packet_pts, packet_dts, packet_durations, packet_flags, transcode_us,
                 damaged_packets, error)
};

struct SinkAlive {
  static constexpr Type type = Type::sink_alive;
  int32_t jobs_active = 0;
  int64_t frames_encoded = 0;
  Histogram encode_latency;
  int64_t duplicates_dropped = 0;
  uint64_t instance = 0;      // random per sink process: a new value means the sink restarted
  int64_t frames_shared = 0;  // results read by reference in shared memory
  MSGPACK_DEFINE(jobs_active, frames_encoded, encode_latency, duplicates_dropped, instance,
                 frames_shared)
};

// Ventilator -> sink, every second on the same pipe as JobStart: the jobs it is working on. A job
// the sink encodes that the ventilator no longer lists was lost with a ventilator restart.
struct VentilatorAlive {
  static constexpr Type type = Type::ventilator_alive;
  uint64_t instance = 0;
  std::vector<std::string> jobs;
  MSGPACK_DEFINE(instance, jobs)
};

}  // namespace framepipe::protocol

// Enums travel as integers; a value outside the enum is a malformed body (convert throws, and
// Envelope::body() turns that into nothing), never an enum nobody handles.
namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {
  template <class E, E kLast>
  struct checked_enum {
    const msgpack::object& operator()(const msgpack::object& object, E& value) const {
      const auto number = object.as<int64_t>();
      if (number < 0 || number > static_cast<int64_t>(kLast)) throw msgpack::type_error();
      value = static_cast<E>(number);
      return object;
    }
  };
  template <>
  struct convert<framepipe::protocol::JobState>
      : checked_enum<framepipe::protocol::JobState, framepipe::protocol::JobState::canceled> {};
  template <>
  struct convert<framepipe::protocol::AbortReason>
      : checked_enum<framepipe::protocol::AbortReason, framepipe::protocol::AbortReason::canceled> {
  };
  template <class E>
  struct pack_enum {
    template <class Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& packer, const E& value) const {
      return packer.pack(static_cast<int64_t>(value));
    }
  };
  template <>
  struct pack<framepipe::protocol::JobState> : pack_enum<framepipe::protocol::JobState> {};
  template <>
  struct pack<framepipe::protocol::AbortReason> : pack_enum<framepipe::protocol::AbortReason> {};
  }  // namespace adaptor
}
}  // namespace msgpack
