#include "framepipe/ventilator/ventilator.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

#include "framepipe/chain/chain.hpp"
#include "framepipe/chain/geometry.hpp"
#include "framepipe/media/decoder.hpp"
#include "framepipe/media/remux.hpp"
#include "framepipe/media/segments.hpp"
#include "framepipe/protocol/dispatcher.hpp"
#include "framepipe/protocol/formats.hpp"
#include "framepipe/protocol/idle_trim.hpp"
#include "framepipe/protocol/log_throttle.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/shared_memory.hpp"
#include "framepipe/protocol/signals.hpp"
#include "framepipe/ventilator/distribution.hpp"
#include "framepipe/ventilator/scheduler.hpp"
#include "framepipe/ventilator/segment_message.hpp"

namespace framepipe::ventilator {

using protocol::now_ms;

namespace {

constexpr int kMaxQueuedJobs = 256;
constexpr int kMaxWorkerCredit = 16;
constexpr int kDecodeAhead = 4;  // frames decoded before a worker asks, per job
constexpr int64_t kJobStartRetryMs = 2000;
constexpr int64_t kJobEndRetryMs = 5000;
constexpr int64_t kRegistryPollMs = 1000;
constexpr int64_t kDeadlineCheckMs = 500;
constexpr int64_t kAliveIntervalMs = 1000;
constexpr int kMaxBatchMessages = 256;  // read from one socket before the others are served
// A new worker answers the SharedProbe within milliseconds; `auto` waits this long after a worker
// joins before it decides that no worker shares this machine's memory.
constexpr int64_t kProbeAnswerMs = 1000;
constexpr int64_t kMaxWindowSegments = 1024;

// Zero-copy hand-off of decoded planes to ZeroMQ: the message holds a reference to the frame's
// buffer and releases it when ZeroMQ is done with the bytes (on its I/O thread; av_buffer_unref
// is thread-safe).
void release_buffer(void*, void* hint) {
  auto* buffer = static_cast<AVBufferRef*>(hint);
  av_buffer_unref(&buffer);
}

// The linesizes and sizes of `frame`'s planes for the header, and (unless `parts` is null) the
// planes as message parts.
bool frame_planes(const AVFrame& frame, protocol::Frame& header, protocol::Parts* parts) {
  const auto format = static_cast<AVPixelFormat>(frame.format);
  const int planes = av_pix_fmt_count_planes(format);
  if (planes <= 0 || planes > 4) return false;
  ptrdiff_t linesizes[4] = {};
  for (int i = 0; i < planes; ++i) linesizes[i] = frame.linesize[i];
  size_t sizes[4] = {};
  if (av_image_fill_plane_sizes(sizes, format, frame.height, linesizes) < 0) return false;
  for (int i = 0; i < planes; ++i) {
    if (frame.linesize[i] <= 0) return false;
    header.linesizes.push_back(frame.linesize[i]);
    header.plane_sizes.push_back(static_cast<int64_t>(sizes[i]));
    if (!parts) continue;
    AVBufferRef* buffer = av_frame_get_plane_buffer(const_cast<AVFrame*>(&frame), i);
    const bool inside = buffer && frame.data[i] >= buffer->data &&
                        frame.data[i] + sizes[i] <= buffer->data + buffer->size;
    AVBufferRef* reference = inside ? av_buffer_ref(buffer) : nullptr;
    if (reference) {
      parts->emplace_back(frame.data[i], sizes[i], release_buffer, reference);
    } else {
      parts->emplace_back(frame.data[i], sizes[i]);  // copies; only for unusual frame layouts
    }
  }
  return true;
}

struct Job {
  enum class Phase { queued, starting, streaming, finishing };
  protocol::SubmitJob submit;
  protocol::SubmitReply reply;
  std::unique_ptr<media::Decoder> decoder;
  // The decoded frames of its window (the scheduler says which), kept until the sink encodes them.
  std::map<int64_t, media::FramePtr> frames;
  Phase phase = Phase::queued;
  bool end_of_input = false;
  int64_t last_start_sent_ms = 0;
  int64_t last_end_sent_ms = 0;
  protocol::ColorInfo color;
  chain::SampleAspect out_aspect;  // of the encoded frames
  // The chain leaves pixels alone and the decoder gives yuv420p of the output's size: frames go
  // straight to the sink, no worker needed (until a frame comes in another format or size).
  bool direct = false;
  std::string shared_prefix;  // of the decoder's shared-memory frames; "" when it has none
  bool sink_shares = false;   // the sink said it reads them: direct frames go by reference
  // Segments: the plan (when the stream can be cut), and once the job is dealt as segments, the
  // reader of their packets and the packets of its window's segments, by index.
  std::optional<media::SegmentedVideo> segment_plan;
  std::string segment_refusal;  // why it cannot be dealt as segments, when it cannot
  std::unique_ptr<media::SegmentReader> segment_reader;
  std::map<int64_t, std::vector<media::PacketPtr>> segments;
  std::string distribution_why;  // why it is dealt as it is (decided when it starts)
  // A container change: the streams fit the format, so the sink copies them from the input
  // itself; nothing is decoded or dealt, and no worker is needed (decided at submit).
  bool copied = false;
  // An audio file (no pictures): copied, with no decoder (decoder stays null).
  bool audio_file = false;

  explicit Job(protocol::SubmitJob job) : submit(std::move(job)) {}
  bool segmented() const { return segment_reader != nullptr; }
};

class Ventilator {
 public:
  explicit Ventilator(const Config& config)
      : config_(config),
        scheduler_({config.window_frames, config.min_deadline_ms, kMaxWorkerCredit}) {
    if (config_.curve.enabled()) authenticator_.emplace(context_, config_.curve);
    protocol::secure_server(frames_, config_.curve);
    protocol::secure_server(control_, config_.curve);
    protocol::secure_client(sink_, config_.curve);
    protocol::secure_client(progress_, config_.curve);
    protocol::configure(frames_, 1000, 1000);
    frames_.set(zmq::sockopt::router_mandatory, 1);
    frames_.bind(config_.frames_bind);
    protocol::configure(control_, 1000, 1000);
    control_.bind(config_.control_bind);
    protocol::configure(sink_, 1000, 1000);
    sink_.connect(config_.results_endpoint);
    protocol::configure(progress_, 1000, 10'000);
    progress_.set(zmq::sockopt::subscribe, "");
    progress_.connect(config_.progress_endpoint);
    connect_registry();
    if (config_.shared_memory) open_probe();
    route_messages();
  }

  int run() {
    spdlog::info(
        "ventilator: frames for workers on {}, jobs from {}, sink at {} (progress {}), registry "
        "{}, window {} frames",
        config_.frames_bind, config_.control_bind, config_.results_endpoint,
        config_.progress_endpoint, config_.registry_endpoint, config_.window_frames);
    while (!stop_requested()) {
      zmq::pollitem_t items[] = {{control_.handle(), 0, ZMQ_POLLIN, 0},
                                 {frames_.handle(), 0, ZMQ_POLLIN, 0},
                                 {progress_.handle(), 0, ZMQ_POLLIN, 0},
                                 {registry_.handle(), 0, ZMQ_POLLIN, 0}};
      protocol::poll(items, 4, std::chrono::milliseconds(has_decode_work() ? 0 : 50));
      if (items[0].revents & ZMQ_POLLIN) from_http_.dispatch(control_, kMaxBatchMessages);
      if (items[1].revents & ZMQ_POLLIN) from_workers_.dispatch(frames_, kMaxBatchMessages);
      if (items[2].revents & ZMQ_POLLIN) from_sink_.dispatch(progress_, kMaxBatchMessages);
      if (items[3].revents & ZMQ_POLLIN) from_registry_.dispatch(registry_, kMaxBatchMessages);
      const int64_t now = now_ms();
      if (now - last_registry_poll_ms_ >= kRegistryPollMs) poll_registry(now);
      activate_jobs(now);
      dispatch();
      send_direct();
      decode_ahead();
      if (now - last_deadline_check_ms_ >= kDeadlineCheckMs) check_deadlines(now);
      if (now - last_alive_sent_ms_ >= kAliveIntervalMs) say_alive(now);
      if (idle_trim_.due(!jobs_.empty(), now)) {
        malloc_trim(0);  // the decoded frames and packets of the jobs that ran
        spdlog::debug("ventilator: no job for {} ms: free heap given back", protocol::kIdleTrimMs);
      }
    }
    spdlog::info("ventilator: stopped with {} job(s) unfinished", jobs_.size());
    return 0;
  }

 private:
  // Who handles what each peer sends.
  void route_messages() {
    using protocol::Inbound;
    from_http_.on<protocol::SubmitJob>([this](protocol::SubmitJob&& submit, Inbound& inbound) {
      protocol::send_to(control_, inbound.peer, on_submit(std::move(submit)));
    });
    from_http_.on<protocol::CancelJob>(
        [this](protocol::CancelJob&& cancel, Inbound&) { on_cancel(cancel.job_id); });
    from_http_.on<protocol::Ping>([this](protocol::Ping&& ping, Inbound& inbound) {
      protocol::send_to(control_, inbound.peer, pong(ping.nonce));
    });
    from_workers_.on<protocol::Ready>([this](protocol::Ready&& ready, Inbound& inbound) {
      if (ready.name != inbound.peer) return inbound.discard("a Ready in another worker's name");
      on_ready(inbound.peer, ready);
    });
    from_sink_.on<protocol::SinkAlive>(
        [this](protocol::SinkAlive&& alive, Inbound&) { on_sink_alive(alive); });
    from_sink_.on<protocol::FramesEncoded>([this](protocol::FramesEncoded&& encoded, Inbound&) {
      if (auto it = jobs_.find(encoded.job_id); it != jobs_.end()) {
        acknowledge(it->second, encoded.frames_done);
      }
    });
    from_sink_.on<protocol::JobProgress>(
        [this](protocol::JobProgress&& progress, Inbound&) { on_progress(progress); });
    from_registry_.on<protocol::WorkerList>([this](protocol::WorkerList&& list, Inbound&) {
      awaiting_registry_ = false;
      for (const auto& dead : list.dead) drop_worker(dead, "was declared dead by the registry");
    });
  }

  // ---- the http-frontend ----
  protocol::SubmitReply on_submit(protocol::SubmitJob submit) {
    if (auto known = jobs_.find(submit.job_id); known != jobs_.end()) return known->second.reply;
    if (auto done = finished_.find(submit.job_id); done != finished_.end()) return done->second;
    protocol::SubmitReply reply;
    reply.job_id = submit.job_id;
    auto refuse = [&](std::string error) {
      reply.error = std::move(error);
      spdlog::warn("ventilator: job {} refused: {}", reply.job_id, reply.error);
      remember_finished(reply);
      return reply;
    };
    if (submit.job_id.empty() || submit.job_id.size() > 128) return refuse("bad job id");
    if (static_cast<int>(jobs_.size()) >= kMaxQueuedJobs) {
      reply.error = "the cluster is busy: too many jobs queued";
      reply.retry_later = true;
      return reply;  // not remembered: the client may try again later
    }
    auto parsed = chain::parse_chain(submit.chain);
    if (!parsed.ok()) return refuse("bad filter chain: " + parsed.error);
    if (submit.distribution.empty()) submit.distribution = "auto";
    if (!protocol::is_distribution(submit.distribution)) {
      return refuse("unknown distribution \"" + submit.distribution.substr(0, 32) +
                    "\": auto, frames or segments");
    }
    auto job = std::make_unique<Job>(std::move(submit));
    try {
      open_decoder(*job);
    } catch (const media::MediaError& e) {
      // No picture to decode: an audio file may still become an audio format.
      std::optional<media::AudioFileInfo> audio;
      try {
        audio = media::probe_audio_file(job->submit.input_path, config_.limits);
      } catch (const media::MediaError&) {
      }
      if (!audio) return refuse(e.what());
      if (auto refusal = audio_file_refusal(*audio, *job, chain::is_identity(parsed.chain))) {
        return refuse(*refusal);
      }
      return queue_audio_file(std::move(job), *audio, std::move(reply));
    }
    const auto& info = job->decoder->info();
    if (auto refusal = protocol::format_refusal(
            {job->submit.format, chain::is_identity(parsed.chain), info.has_audio})) {
      return refuse(*refusal);
    }
    const chain::OutputPlan plan =
        chain::plan_output(parsed.chain, {{info.width, info.height},
                                          {info.sample_aspect.num, info.sample_aspect.den},
                                          info.pixel_format});
    job->submit.chain = chain::canonical(parsed.chain);
    job->color = info.color;
    reply.accepted = true;
    reply.frames_estimate = info.frames_estimate;
    reply.width = info.width;
    reply.height = info.height;
    reply.out_width = plan.size.width;
    reply.out_height = plan.size.height;
    job->direct = plan.passes_through;
    job->out_aspect = plan.sample_aspect;
    if (chain::is_identity(parsed.chain)) plan_copy(*job);
    // A chain that leaves pixels alone goes straight to the sink unless segments are asked for.
    if (!job->copied && (job->submit.distribution == "segments" ||
                         (job->submit.distribution == "auto" && !job->direct))) {
      plan_segments(*job);
      if (job->submit.distribution == "segments" && !job->segment_plan) {
        return refuse("this job cannot be dealt as segments: " + job->segment_refusal);
      }
    }
    reply.duration_seconds = info.duration_seconds;
    reply.video_codec = info.codec;
    reply.audio_codec = info.audio_codec;
    job->reply = reply;
    spdlog::info("ventilator: job {} queued: {} {}x{} {} ({} frames expected), chain '{}' -> {}x{}",
                 reply.job_id, info.container, info.width, info.height, info.codec,
                 info.frames_estimate, job->submit.chain, plan.size.width, plan.size.height);
    const std::string id = job->submit.job_id;
    order_.push_back(id);
    jobs_.emplace(id, std::move(*job));
    return reply;
  }

  // Why an audio file cannot give the job's format and chain; nothing when it can.
  static std::optional<std::string> audio_file_refusal(const media::AudioFileInfo& audio,
                                                       const Job& job, bool chain_is_copy) {
    const protocol::OutputFormat* format = protocol::find_output_format(job.submit.format);
    const std::string what = "the input is an audio file (" + audio.codec + ") with no pictures";
    if (format == nullptr || format->kind != protocol::MediaKind::audio) {
      return what + ", so it cannot become \"" + job.submit.format.substr(0, 32) +
             "\"; use one of: audio " + audio_format_names();
    }
    if (!chain_is_copy) return what + ": filters change pictures; use the chain \"copy\"";
    return std::nullopt;
  }

  static std::string audio_format_names() {
    std::string names;
    for (const protocol::OutputFormat& format : protocol::output_formats()) {
      if (format.kind != protocol::MediaKind::audio) continue;
      if (!names.empty()) names += ", ";
      names += format.name;
    }
    return names;
  }

  // Queues an audio file's job: copied at the sink (its audio as it is when the format holds the
  // codec, else encoded), with no decoder and no worker.
  protocol::SubmitReply queue_audio_file(std::unique_ptr<Job> job,
                                         const media::AudioFileInfo& audio,
                                         protocol::SubmitReply reply) {
    const protocol::OutputFormat& format = *protocol::find_output_format(job->submit.format);
    job->submit.chain = "copy";
    job->copied = true;
    job->audio_file = true;
    job->distribution_why = audio_why(format, audio.codec, "the audio file");
    reply.accepted = true;
    reply.duration_seconds = audio.duration_seconds;
    reply.audio_codec = audio.codec;
    job->reply = reply;
    spdlog::info("ventilator: job {} queued: {} {} audio file -> {}", reply.job_id, audio.container,
                 audio.codec, job->submit.format);
    const std::string id = job->submit.job_id;
    order_.push_back(id);
    jobs_.emplace(id, std::move(*job));
    return reply;
  }

  // "the sound track (aac) fits mp3 ...": what happens to the audio for an audio format.
  static std::string audio_why(const protocol::OutputFormat& format, const std::string& codec,
                               const std::string& source) {
    const bool fits = std::find(format.audio_codecs.begin(), format.audio_codecs.end(), codec) !=
                      format.audio_codecs.end();
    return source + " (" + codec + ") becomes " + std::string(format.name) + " at the head: " +
           (fits ? "copied, not re-encoded" : "encoded to " + std::string(format.audio_encoder));
  }

  void on_cancel(const std::string& job_id) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    protocol::send_message(sink_, protocol::JobAbort{job_id, protocol::AbortReason::canceled, {}});
    spdlog::info("ventilator: job {} canceled", job_id);
    forget(job_id);
  }

  protocol::Pong pong(int64_t nonce) const {
    protocol::Pong pong;
    pong.nonce = nonce;
    for (const auto& [id, job] : jobs_) {
      if (job.phase == Job::Phase::queued) {
        ++pong.jobs_queued;
      } else {
        ++pong.jobs_active;
      }
      if (scheduler_.has_job(id)) pong.frames_in_flight += frames_in_window(job);
      pong.jobs.push_back(id);
    }
    pong.workers_ready = static_cast<int32_t>(scheduler_.workers());
    pong.frames_decoded = frames_decoded_;
    pong.frames_resent = scheduler_.frames_resent();
    pong.decode_ms = decode_ms_;
    pong.decode_latency = decode_latency_;
    return pong;
  }

  // ---- workers ----
  void on_ready(const std::string& name, const protocol::Ready& ready) {
    WorkerReport report;
    report.job_id = ready.job_id;
    report.index = ready.index;
    report.credit = ready.credit;
    report.idle = ready.idle;
    report.reads_shared = probe_ && ready.shared_token == instance_;
    report.filter_us = ready.filter_us;
    report.progress = ready.progress;
    const ReadyOutcome outcome = scheduler_.on_ready(name, report, now_ms());
    if (outcome.new_worker) {
      spdlog::info("ventilator: worker {} asks for frames", name);
      if (probe_) {
        protocol::send_to(
            frames_, name,
            protocol::SharedProbe{protocol::shared_memory_prefix() + "0-", instance_});
      }
    }
    if (outcome.sharing_changed) {
      spdlog::info("ventilator: worker {} {} frames by shared memory", name,
                   report.reads_shared ? "takes" : "no longer takes");
    }
    if (outcome.taken_back > 0) {
      spdlog::warn("ventilator: worker {} should hold {} frame(s) it does not have: sending again",
                   name, outcome.taken_back);
    }
  }

  void drop_worker(const std::string& name, const char* reason) {
    const int lost = scheduler_.drop_worker(name);
    if (lost < 0) return;
    spdlog::warn("ventilator: worker {} {}: {} frame(s) to send again", name, reason, lost);
  }

  // ---- the sink ----
  void on_progress(const protocol::JobProgress& progress) {
    auto it = jobs_.find(progress.job_id);
    if (it == jobs_.end()) return;
    Job& job = it->second;
    if (job.phase == Job::Phase::starting) {
      job.phase = Job::Phase::streaming;
      spdlog::info("ventilator: job {} started{}", job.submit.job_id,
                   progress.shared_memory ? "; frames go to the sink by shared memory" : "");
    }
    if (job.sink_shares && !progress.shared_memory) {
      // The sink could not read a frame by reference: it reads none of them any more, so the
      // frames sent so might as well never have been; they go again, over the network.
      spdlog::warn("ventilator: job {}: the sink stopped reading shared memory", job.submit.job_id);
      scheduler_.resend_window(job.submit.job_id);
    }
    job.sink_shares = progress.shared_memory && !job.shared_prefix.empty();
    // A segmented job's progress counts frames; its window counts segments (FramesEncoded). A
    // copied job's counts video packets; it has no window.
    if (!job.segmented() && !job.copied) acknowledge(job, progress.frames_done);
    if (protocol::is_final(progress.state)) {
      spdlog::info("ventilator: job {} {} after {} {}", job.submit.job_id,
                   protocol::to_string(progress.state), decoded(job),
                   job.segmented() ? "segments" : "frames");
      forget(job.submit.job_id);
    }
  }

  // The sink encoded frames [0, frames_done): their window slots (and shared buffers) are free.
  void acknowledge(Job& job, int64_t frames_done) {
    if (scheduler_.acknowledge(job.submit.job_id, frames_done, now_ms()) == 0) return;
    const int64_t done = scheduler_.window(job.submit.job_id).done();
    job.frames.erase(job.frames.begin(), job.frames.lower_bound(done));
    job.segments.erase(job.segments.begin(), job.segments.lower_bound(done));
  }

  // Frames between the decoder and the sink: a segmented job's window counts segments.
  int64_t frames_in_window(const Job& job) const {
    const FrameWindow& window = scheduler_.window(job.submit.job_id);
    if (!job.segmented()) return window.in_window();
    int64_t frames = 0;
    const auto& segments = job.segment_plan->segments;
    for (int64_t k = window.done(); k < window.decoded(); ++k) {
      frames += segments[static_cast<std::size_t>(k)].frames;
    }
    return frames;
  }

  int64_t decoded(const Job& job) const {
    return scheduler_.has_job(job.submit.job_id) ? scheduler_.window(job.submit.job_id).decoded()
                                                 : 0;
  }

  // A new sink lost the jobs the old one was encoding: they start again from their first frame
  // (frames the workers still return are the same frames, so nothing is mixed up).
  void on_sink_alive(const protocol::SinkAlive& alive) {
    if (sink_instance_ != 0 && alive.instance != sink_instance_) {
      for (auto& [id, job] : jobs_) {
        if (job.phase == Job::Phase::queued) continue;
        spdlog::warn("ventilator: the sink restarted: job {} starts again from its first frame",
                     id);
        restart(job);
      }
    }
    sink_instance_ = alive.instance;
    if (alive.encode_latency.count > 0) {
      sink_encode_ms_ =
          alive.encode_latency.sum_ms / static_cast<double>(alive.encode_latency.count);
    }
  }

  // Opens the job's decoder; frames are decoded into shared memory, if this machine's /dev/shm
  // works, for a sink or workers on this machine that can read them. Throws MediaError.
  void open_decoder(Job& job) {
    job.shared_prefix.clear();
    job.sink_shares = false;
    if (probe_) {
      job.shared_prefix =
          protocol::shared_memory_prefix() + std::to_string(++decoders_opened_) + "-";
    }
    job.decoder = std::make_unique<media::Decoder>(job.submit.input_path, config_.limits,
                                                   config_.decode_threads, job.shared_prefix);
  }

  // The object a sink or a worker reads to learn that it sees this process's shared memory.
  void open_probe() {
    try {
      protocol::remove_orphaned_shared_memory();
      probe_.emplace(protocol::SharedMemory::create(protocol::shared_memory_prefix() + "probe",
                                                    sizeof instance_));
      std::memcpy(probe_->data(), &instance_, sizeof instance_);
    } catch (const std::system_error& e) {
      spdlog::warn("ventilator: {}: frames go over the network even on this machine", e.what());
    }
  }

  void restart(Job& job) {
    try {
      if (!job.audio_file) open_decoder(job);
    } catch (const media::MediaError& e) {
      fail(job,
           std::string("the sink restarted and the input could not be read again: ") + e.what());
      return;
    }
    job.frames.clear();
    job.segments.clear();
    if (job.segmented()) {
      try {
        job.segment_reader = std::make_unique<media::SegmentReader>(
            job.submit.input_path, config_.limits, *job.segment_plan);
      } catch (const media::MediaError& e) {
        fail(job,
             std::string("the sink restarted and the input could not be read again: ") + e.what());
        return;
      }
    }
    scheduler_.start_job(job.submit.job_id, now_ms(), window_of(job), job.segmented(),
                         longest_segment_frames(job));
    job.end_of_input = job.copied;
    job.phase = Job::Phase::starting;
    job.last_start_sent_ms = 0;
    job.last_end_sent_ms = 0;
  }

  // Tells the sink which jobs this ventilator works on, so that it can fail the ones a restart
  // of this process lost instead of waiting for their frames for ever.
  void say_alive(int64_t now) {
    last_alive_sent_ms_ = now;
    protocol::VentilatorAlive alive;
    alive.instance = instance_;
    for (const auto& [id, job] : jobs_) {
      if (job.phase != Job::Phase::queued) alive.jobs.push_back(id);
    }
    protocol::send_message(sink_, alive);
  }

  // ---- the registry ----
  void connect_registry() {
    registry_ = zmq::socket_t(context_, zmq::socket_type::dealer);
    protocol::configure(registry_, 10, 100);
    protocol::secure_client(registry_, config_.curve);
    registry_.connect(config_.registry_endpoint);
  }

  void poll_registry(int64_t now) {
    if (awaiting_registry_ && now - last_registry_poll_ms_ > 5 * kRegistryPollMs) {
      connect_registry();  // it restarted or is away: a fresh socket drops stale requests
    }
    awaiting_registry_ = true;
    last_registry_poll_ms_ = now;
    protocol::send_message(registry_, protocol::ListWorkers{});
  }

  // ---- jobs ----
  void activate_jobs(int64_t now) {
    int active = 0;
    for (const auto& id : order_) {
      Job& job = jobs_.at(id);
      if (job.phase == Job::Phase::queued) {
        if ((scheduler_.workers() == 0 && !job.direct && !job.copied) ||
            active >= config_.max_active_jobs) {
          continue;
        }
        if (!distribution_decidable(job, now)) continue;
        if (!decide_distribution(job)) continue;
        job.phase = Job::Phase::starting;
        scheduler_.start_job(id, now, window_of(job), job.segmented(), longest_segment_frames(job));
        // A copied job has nothing to decode: its JobEnd follows its JobStart at once.
        job.end_of_input = job.copied;
        spdlog::info("ventilator: job {} starting as {}: {}", id,
                     job.copied        ? "copied streams"
                     : job.segmented() ? "segments"
                                       : "frames",
                     job.distribution_why);
      }
      ++active;
      if (job.phase == Job::Phase::starting && now - job.last_start_sent_ms >= kJobStartRetryMs) {
        protocol::JobStart start;
        start.job_id = id;
        start.input_path = job.submit.input_path;
        start.output_path = job.submit.output_path;
        start.width = job.reply.out_width;
        start.height = job.reply.out_height;
        if (job.decoder) {  // an audio file has none, and no picture to describe
          const auto& info = job.decoder->info();
          start.time_base_num = info.time_base.num;
          start.time_base_den = info.time_base.den;
          start.rate_num = info.frame_rate.num;
          start.rate_den = info.frame_rate.den;
          start.color = info.color;
        }
        start.preset = job.submit.preset;
        start.crf = job.submit.crf;
        start.format = job.submit.format;
        start.sample_aspect_num = job.out_aspect.num;
        start.sample_aspect_den = job.out_aspect.den;
        start.distribution_why = job.distribution_why;
        start.copy_streams = job.copied;
        if (job.segmented()) {
          start.time_base_num = job.segment_plan->time_base.num;
          start.time_base_den = job.segment_plan->time_base.den;
          for (const auto& segment : job.segment_plan->segments) {
            start.segment_frames.push_back(segment.frames);
          }
        }
        if (job.direct) {  // only the ventilator's own results (direct frames) go by reference
          start.shared_prefix = job.shared_prefix;
          start.shared_token = instance_;
        }
        protocol::send_message(sink_, start);
        job.last_start_sent_ms = now;
      }
      if (job.end_of_input && now - job.last_end_sent_ms >= kJobEndRetryMs) {
        protocol::send_message(sink_, protocol::JobEnd{id, decoded(job), damaged_packets(job)});
        job.last_end_sent_ms = now;
      }
    }
  }

  bool streaming(const Job& job) const {
    return job.phase == Job::Phase::streaming || job.phase == Job::Phase::finishing;
  }

  // Decodes the next frame of `job` into its window. Returns false when nothing was decoded.
  bool decode_one(Job& job) {
    if (job.end_of_input || !scheduler_.window(job.submit.job_id).has_room()) return false;
    if (job.segmented()) return read_segment(job);
    media::FramePtr frame;
    const auto started = std::chrono::steady_clock::now();
    try {
      frame = job.decoder->next();
    } catch (const media::MediaError& e) {
      fail(job, std::string("decoding failed: ") + e.what());
      return false;
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    decode_ms_ = decode_ms_ == 0 ? ms : 0.98 * decode_ms_ + 0.02 * ms;
    decode_latency_.observe(ms);
    if (!frame) {
      job.end_of_input = true;
      job.phase = Job::Phase::finishing;
      if (decoded(job) == 0) {
        fail(job, "the file has no decodable video frame");
        return false;
      }
      spdlog::info("ventilator: job {} fully decoded: {} frames ({} damaged packets skipped)",
                   job.submit.job_id, decoded(job), job.decoder->damaged_packets());
      protocol::send_message(
          sink_, protocol::JobEnd{job.submit.job_id, decoded(job), job.decoder->damaged_packets()});
      job.last_end_sent_ms = now_ms();
      return false;
    }
    ++frames_decoded_;
    job.frames.emplace(scheduler_.add_frame(job.submit.job_id), std::move(frame));
    return true;
  }

  void fail(Job& job, std::string reason) {
    spdlog::warn("ventilator: job {} failed: {}", job.submit.job_id, reason);
    protocol::send_message(
        sink_, protocol::JobAbort{job.submit.job_id, protocol::AbortReason::failed, reason});
    job.end_of_input = true;
    job.decoder.reset();
    pending_forget_.push_back(job.submit.job_id);
  }

  // Reads the next segment's packets into the window (demuxing only). False when nothing was read.
  bool read_segment(Job& job) {
    std::optional<std::vector<media::PacketPtr>> packets;
    try {
      packets = job.segment_reader->next();
    } catch (const media::MediaError& e) {
      fail(job, std::string("reading the input failed: ") + e.what());
      return false;
    }
    if (!packets) {
      job.end_of_input = true;
      job.phase = Job::Phase::finishing;
      spdlog::info("ventilator: job {} fully read: {} segments, {} frames", job.submit.job_id,
                   decoded(job), job.segment_plan->frames);
      protocol::send_message(sink_, protocol::JobEnd{job.submit.job_id, decoded(job), 0});
      job.last_end_sent_ms = now_ms();
      return false;
    }
    job.segments.emplace(scheduler_.add_frame(job.submit.job_id), std::move(*packets));
    return true;
  }

  // Damaged packets the head's decoder skipped (a segmented job's are counted by its workers).
  static int64_t damaged_packets(const Job& job) {
    return job.segmented() || !job.decoder ? 0 : job.decoder->damaged_packets();
  }

  // Plans the job's segments if its stream and format allow them (demuxing the whole file once,
  // no decoding); otherwise says why not in segment_refusal.
  void plan_segments(Job& job) {
    const auto& info = job.decoder->info();
    const protocol::OutputFormat* format = protocol::find_output_format(job.submit.format);
    if (format == nullptr || format->kind != protocol::MediaKind::video) {
      job.segment_refusal = "an audio format has no video to encode";
    } else if (format->constant_frame_rate) {
      job.segment_refusal = std::string(format->name) + " lays frames on the sink's grid";
    } else if (!media::is_segment_codec(info.codec)) {
      job.segment_refusal = "workers do not decode " + info.codec + " from segments";
    }
    if (!job.segment_refusal.empty()) return;
    const auto started = std::chrono::steady_clock::now();
    media::SegmentedVideo plan;
    try {
      plan = media::plan_segments(job.submit.input_path, config_.limits,
                                  media::SegmentLimits{config_.segment_seconds});
    } catch (const media::MediaError& e) {
      job.segment_refusal = e.what();
      return;
    }
    if (!plan.refusal.empty()) {
      job.segment_refusal = plan.refusal;
      return;
    }
    spdlog::info("ventilator: job {}: {} segments of {} frames planned in {} ms", job.submit.job_id,
                 plan.segments.size(), plan.frames,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
    job.segment_plan = std::move(plan);
  }

  // With the `copy` chain and `auto` distribution, a job whose video codec the format holds as it
  // is is a container change: its streams are copied, not decoded (its audio is encoded only when
  // the format does not hold its codec).
  void plan_copy(Job& job) {
    const auto& info = job.decoder->info();
    const protocol::OutputFormat* format = protocol::find_output_format(job.submit.format);
    if (job.submit.distribution != "auto" || format == nullptr) return;
    if (format->kind == protocol::MediaKind::audio) {  // the sound track alone: no frame needed
      job.copied = true;
      job.direct = false;
      job.distribution_why = audio_why(*format, info.audio_codec, "the sound track");
      return;
    }
    if (media::video_copy_refusal(*format, info.codec, info.container)) return;
    job.copied = true;
    job.direct = false;
    const std::string name(format->name);
    const bool audio_fits = std::find(format->audio_codecs.begin(), format->audio_codecs.end(),
                                      info.audio_codec) != format->audio_codecs.end();
    if (!info.has_audio) {
      job.distribution_why =
          "the " + info.codec + " video fits " + name + ": copied, not re-encoded (no audio)";
    } else if (audio_fits) {
      job.distribution_why = "the streams fit " + name + " (" + info.codec + ", " +
                             info.audio_codec + "): copied, not re-encoded";
    } else {
      job.distribution_why = "the " + info.codec + " video fits " + name +
                             ": copied, not re-encoded; the " + info.audio_codec +
                             " audio does not: encoded to " + std::string(format->audio_encoder);
    }
  }

  // The frames of a segmented job's longest segment, which its deadline scales with; 0 otherwise.
  static int64_t longest_segment_frames(const Job& job) {
    if (!job.segmented() || !job.segment_plan) return 0;
    int64_t longest = 0;
    for (const auto& segment : job.segment_plan->segments) {
      longest = std::max(longest, segment.frames);
    }
    return longest;
  }

  // A segmented job's window: the configured one, or enough for every worker to hold two segments
  // (its credit) when more workers are there; frames: the configured one (0).
  int64_t window_of(const Job& job) const {
    if (!job.segmented()) return 0;
    const auto enough = static_cast<int64_t>(2 * scheduler_.workers() + 2);
    return std::min<int64_t>(kMaxWindowSegments,
                             std::max<int64_t>(config_.window_segments, enough));
  }

  // `auto` decides once every worker has had time to say whether it shares this machine's memory.
  bool distribution_decidable(const Job& job, int64_t now) const {
    if (job.submit.distribution != "auto" || job.direct || !job.segment_plan || !probe_)
      return true;
    return scheduler_.workers_reading_shared() > 0 ||
           now - scheduler_.newest_worker_ms() >= kProbeAnswerMs;
  }

  // How the job is dealt, decided when it starts (the workers are known then). False when it
  // failed (its input could not be read again).
  bool decide_distribution(Job& job) {
    if (job.copied) return true;  // decided at submit, why included
    DistributionFacts facts;
    facts.asked = job.submit.distribution;
    facts.pixels_unchanged = job.direct;
    facts.segment_refusal = job.segment_plan ? "" : job.segment_refusal;
    if (!job.segment_plan && facts.segment_refusal.empty()) facts.segment_refusal = "not planned";
    facts.shared_memory = probe_.has_value();
    facts.workers = scheduler_.workers();
    facts.workers_reading_shared = scheduler_.workers_reading_shared();
    facts.head_cores = std::max(1U, std::thread::hardware_concurrency());
    facts.worker_filter_ms = scheduler_.filter_ms();
    facts.sink_encode_ms = sink_encode_ms_;
    const DistributionChoice choice = choose_distribution(facts);
    job.distribution_why = choice.why;
    if (!choice.segments) return true;
    try {
      job.segment_reader = std::make_unique<media::SegmentReader>(
          job.submit.input_path, config_.limits, *job.segment_plan);
    } catch (const media::MediaError& e) {
      fail(job, std::string("reading the input failed: ") + e.what());
      return false;
    }
    job.direct = false;
    return true;
  }

  bool wants_decoding(const Job& job) const {
    if (!streaming(job) || job.end_of_input) return false;
    const FrameWindow& window = scheduler_.window(job.submit.job_id);
    return window.has_room() && window.pending_sends() < kDecodeAhead;
  }

  bool has_decode_work() const {
    return std::any_of(jobs_.begin(), jobs_.end(),
                       [&](const auto& entry) { return wants_decoding(entry.second); });
  }

  // Keeps a few decoded frames ready per job so workers never wait for the decoder; one frame per
  // job and pass, so that the sockets are served between frames.
  void decode_ahead() {
    for (auto& [id, job] : jobs_) {
      if (wants_decoding(job)) decode_one(job);
    }
    flush_forgotten();
  }

  // Deals frames to workers that asked for them, taking jobs in turn.
  void dispatch() {
    while (scheduler_.has_credit()) {
      Job* job = next_job_with_frames();
      if (!job) break;
      auto assignment = scheduler_.assign(job->submit.job_id);
      if (!assignment) continue;
      switch (send_frame(*job, *assignment)) {
        case Sent::sent:
          scheduler_.sent(*assignment, now_ms());
          break;
        case Sent::unreachable: {
          const int lost = scheduler_.unreachable(*assignment);
          spdlog::warn("ventilator: worker {} is unreachable: {} frame(s) to send again",
                       assignment->worker, lost);
          break;
        }
        case Sent::not_sent:
          break;
      }
    }
    flush_forgotten();
  }

  // Frames of jobs whose chain leaves pixels alone go straight to the sink, the decoder's planes
  // by reference (strides included) as the result's planes. A frame of another format or size
  // (a stream that changes midway) sends its job back to the workers, which convert.
  void send_direct() {
    for (auto& [id, job] : jobs_) {
      if (!job.direct || !streaming(job)) continue;
      while (auto index = scheduler_.next_direct(id)) {
        auto stored = job.frames.find(*index);
        if (stored == job.frames.end()) continue;
        const AVFrame& frame = *stored->second;
        if (!plain_yuv420p(frame, job.reply.out_width, job.reply.out_height)) {
          spdlog::info(
              "ventilator: job {}: frame {} is not plain yuv420p of the job's size; "
              "workers take the job's frames from here",
              id, *index);
          job.direct = false;
          scheduler_.put_back(id, *index);
          break;
        }
        protocol::Result result;
        result.job_id = id;
        result.index = *index;
        result.pts = frame.pts;
        result.width = frame.width;
        result.height = frame.height;
        result.worker = "ventilator";
        auto shared = job.sink_shares ? decoded_in_shared_memory(job, frame) : std::nullopt;
        if (shared) {
          result.shared_name = std::move(shared->name);
          result.offsets.assign(shared->offsets.begin(), shared->offsets.end());
        }
        protocol::Frame layout;
        protocol::Parts planes;
        if (!frame_planes(frame, layout, shared ? nullptr : &planes)) {
          fail(job, "a decoded frame has a layout framepipe cannot send");
          break;
        }
        result.linesizes = std::move(layout.linesizes);
        protocol::Parts parts;
        parts.reserve(1 + planes.size());
        parts.push_back(protocol::pack(result));
        for (auto& plane : planes) parts.push_back(std::move(plane));
        if (!protocol::send(sink_, parts, true)) {  // the sink is not keeping up: later
          scheduler_.put_back(id, *index);
          break;
        }
      }
    }
    flush_forgotten();
  }

  // Where a frame is in the decoder's shared memory, if it is there.
  static std::optional<media::SharedFrames::Location> decoded_in_shared_memory(
      const Job& job, const AVFrame& frame) {
    if (!job.decoder || !job.decoder->shared_frames()) return std::nullopt;
    return job.decoder->shared_frames()->locate(frame);
  }

  static bool plain_yuv420p(const AVFrame& frame, int width, int height) {
    return frame.format == AV_PIX_FMT_YUV420P && frame.width == width && frame.height == height &&
           width % 2 == 0 && height % 2 == 0;
  }

  Job* next_job_with_frames() {
    if (order_.empty()) return nullptr;
    for (std::size_t tried = 0; tried < order_.size(); ++tried) {
      rotation_ = (rotation_ + 1) % order_.size();
      Job& job = jobs_.at(order_[rotation_]);
      if (!streaming(job) || job.direct) continue;
      const FrameWindow& window = scheduler_.window(job.submit.job_id);
      if (!window.has_to_send()) decode_one(job);
      if (window.has_to_send()) return &job;
    }
    return nullptr;
  }

  enum class Sent { sent, not_sent, unreachable };

  // Sends an assigned frame to its worker: by reference when the worker reads this process's
  // shared memory and the frame is there, with its planes otherwise.
  Sent send_frame(Job& job, const Assignment& assignment) {
    if (job.segmented()) return send_segment(job, assignment);
    const int64_t index = assignment.index;
    auto stored = job.frames.find(index);
    if (stored == job.frames.end()) return Sent::not_sent;  // released meanwhile
    const AVFrame& frame = *stored->second;
    protocol::Frame header;
    header.job_id = job.submit.job_id;
    header.index = index;
    header.pts = frame.pts;
    header.width = frame.width;
    header.height = frame.height;
    header.pixel_format = av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame.format));
    header.color = job.color;
    header.chain = job.submit.chain;
    header.out_width = job.reply.out_width;
    header.out_height = job.reply.out_height;
    if (!job.shared_prefix.empty()) {
      header.shared_prefix = job.shared_prefix;
      header.shared_token = instance_;
    }
    auto shared = assignment.by_reference ? decoded_in_shared_memory(job, frame) : std::nullopt;
    if (shared) {
      header.shared_name = std::move(shared->name);
      header.offsets.assign(shared->offsets.begin(), shared->offsets.end());
    }
    protocol::Parts planes;
    if (!frame_planes(frame, header, shared ? nullptr : &planes)) {
      fail(job, "a decoded frame has a layout framepipe cannot send");
      return Sent::not_sent;
    }
    protocol::Parts parts;
    parts.reserve(planes.size() + 2);
    parts.emplace_back(assignment.worker.data(), assignment.worker.size());
    parts.push_back(protocol::pack(header));
    for (auto& plane : planes) parts.push_back(std::move(plane));
    if (!protocol::send(frames_, parts, true)) return Sent::unreachable;
    return Sent::sent;
  }

  // Sends an assigned segment: its packets in one part, with the stream's and the job's
  // description.
  Sent send_segment(Job& job, const Assignment& assignment) {
    auto stored = job.segments.find(assignment.index);
    if (stored == job.segments.end()) return Sent::not_sent;  // released meanwhile
    const AVRational time_base = job.segment_plan->time_base;
    const auto& info = job.decoder->info();
    SegmentedJob described;
    described.job_id = job.submit.job_id;
    described.parameters = &job.segment_reader->parameters();
    described.time_base = time_base;
    described.frame_rate = info.frame_rate;
    described.color = job.color;
    described.chain = job.submit.chain;
    described.out_width = job.reply.out_width;
    described.out_height = job.reply.out_height;
    described.sample_aspect = {job.out_aspect.num, job.out_aspect.den};
    described.preset = job.submit.preset;
    described.crf = job.submit.crf;
    described.format = job.submit.format;
    const auto& plans = job.segment_plan->segments;
    const auto k = static_cast<std::size_t>(assignment.index);
    auto [message, packets] =
        segment_message(described, plans.at(k), k + 1 == plans.size(), stored->second);
    protocol::Parts parts;
    parts.reserve(3);
    parts.emplace_back(assignment.worker.data(), assignment.worker.size());
    parts.push_back(protocol::pack(message));
    parts.push_back(std::move(packets));
    if (!protocol::send(frames_, parts, true)) return Sent::unreachable;
    return Sent::sent;
  }

  // A frame a worker has held far longer than frames usually take is sent again elsewhere, so that
  // one slow or stuck machine cannot hold a job hostage; so is the frame a stalled job waits for
  // when its result never reached the sink.
  void check_deadlines(int64_t now) {
    last_deadline_check_ms_ = now;
    for (const LateFrame& late : scheduler_.check_deadlines(now)) {
      const int64_t deadline = scheduler_.has_job(late.job_id) ? scheduler_.deadline_ms(late.job_id)
                                                               : scheduler_.deadline_ms();
      if (late.reported) {
        spdlog::warn(
            "ventilator: job {} frame {}: {} reported it filtered {} ms ago but the sink never got "
            "it: sending again",
            late.job_id, late.index, late.worker, late.waited_ms);
      } else if (late.silent_ms > 0) {
        spdlog::warn(
            "ventilator: job {} segment {} held by {} for {} ms, without progress for {} ms "
            "(deadline {} ms): sending again",
            late.job_id, late.index, late.worker, late.waited_ms, late.silent_ms,
            scheduler_.deadline_ms());
      } else {
        spdlog::warn(
            "ventilator: job {} frame {} held by {} for {} ms (deadline {} ms): sending again",
            late.job_id, late.index, late.worker, late.waited_ms, deadline);
      }
    }
  }

  void remember_finished(const protocol::SubmitReply& reply) {
    finished_[reply.job_id] = reply;
    if (finished_.size() > 1024) finished_.erase(finished_.begin());
  }

  void forget(const std::string& job_id) { pending_forget_.push_back(job_id); }

  // Jobs are removed between passes, never while a pass iterates over them.
  void flush_forgotten() {
    for (const auto& id : pending_forget_) {
      auto it = jobs_.find(id);
      if (it == jobs_.end()) continue;
      remember_finished(it->second.reply);
      scheduler_.end_job(id);
      jobs_.erase(it);
      std::erase(order_, id);
    }
    pending_forget_.clear();
    if (rotation_ >= order_.size()) rotation_ = 0;
  }

  Config config_;
  Scheduler scheduler_;
  zmq::context_t context_{1};
  zmq::socket_t frames_{context_, zmq::socket_type::router};   // workers
  zmq::socket_t control_{context_, zmq::socket_type::router};  // http-frontend
  zmq::socket_t sink_{context_, zmq::socket_type::push};       // JobStart/JobEnd/JobAbort
  zmq::socket_t progress_{context_, zmq::socket_type::sub};    // sink progress
  zmq::socket_t registry_;                                     // DEALER, ListWorkers
  std::optional<protocol::Authenticator> authenticator_;       // destroyed first: it uses context_
  std::map<std::string, Job> jobs_;
  std::vector<std::string> order_;  // submission order: queued jobs start first come, first served
  std::vector<std::string> pending_forget_;
  std::map<std::string, protocol::SubmitReply> finished_;
  std::size_t rotation_ = 0;
  int64_t last_registry_poll_ms_ = 0;
  bool awaiting_registry_ = false;
  int64_t last_deadline_check_ms_ = 0;
  int64_t frames_decoded_ = 0;
  double decode_ms_ = 0;
  protocol::Histogram decode_latency_;
  const uint64_t instance_ = protocol::new_instance_id();
  std::optional<protocol::SharedMemory> probe_;  // holds instance_; none without shared memory
  int64_t decoders_opened_ = 0;                  // numbers the decoders' shared-memory prefixes
  uint64_t sink_instance_ = 0;
  double sink_encode_ms_ = 0;  // the sink's mean encode time per frame, over its life
  int64_t last_alive_sent_ms_ = 0;
  protocol::LogThrottle untrusted_log_;  // lines about what peers send
  protocol::Dispatcher from_http_{"ventilator (control)", true, untrusted_log_};
  protocol::Dispatcher from_workers_{"ventilator (workers)", true, untrusted_log_};
  protocol::Dispatcher from_sink_{"ventilator (sink)", false, untrusted_log_};
  protocol::Dispatcher from_registry_{"ventilator (registry)", false, untrusted_log_};
  protocol::IdleTrim idle_trim_;
};

}  // namespace

int run(const Config& config) {
  Ventilator ventilator(config);
  return ventilator.run();
}

}  // namespace framepipe::ventilator
