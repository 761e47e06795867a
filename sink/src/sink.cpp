#include "framepipe/sink/sink.hpp"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <span>
#include <thread>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "framepipe/media/remux.hpp"
#include "framepipe/media/writer.hpp"
#include "framepipe/protocol/dispatcher.hpp"
#include "framepipe/protocol/idle_trim.hpp"
#include "framepipe/protocol/log_throttle.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/planes.hpp"
#include "framepipe/protocol/shared_memory.hpp"
#include "framepipe/protocol/signals.hpp"
#include "framepipe/sink/job_tracker.hpp"
#include "framepipe/sink/segment_result.hpp"

namespace framepipe::sink {

using protocol::now_ms;

namespace {

constexpr int64_t kRememberFinishedMs = 60'000;  // final states are re-published this long
constexpr int kMaxBatchMessages = 256;           // read before progress is published and timers run
constexpr int64_t kMaxBatchMs = 50;              // likewise
constexpr int64_t kAliveIntervalMs = 1000;
constexpr std::size_t kMaxSharedObjects = 4096;  // per job; the ventilator uses about a window's
constexpr int64_t kMaxSegmentsAhead = 256;  // of the next one to mux (the ventilator's window: 12)
constexpr std::size_t kMaxSegments = 1'000'000;  // in one job (a 4-second segment: 46 days)

std::size_t yuv420p_bytes(int width, int height) {
  return static_cast<std::size_t>(width) * height * 3 / 2;
}

// The frame's pixels stay in the ZeroMQ message; the AVFrame borrows them (zero-copy) and frees
// the message when libavcodec drops its last reference.
void free_message(void* opaque, uint8_t*) {
  delete static_cast<zmq::message_t*>(opaque);
}

// A message's bytes as a buffer of `frame`, released with the frame.
uint8_t* adopt(AVFrame& frame, int slot, zmq::message_t message) {
  auto* owned = new zmq::message_t(std::move(message));
  auto* data = static_cast<uint8_t*>(owned->data());
  frame.buf[slot] = av_buffer_create(data, owned->size(), free_message, owned, 0);
  if (!frame.buf[slot]) {
    delete owned;
    throw std::bad_alloc();
  }
  return data;
}

struct Pending {
  int64_t pts = 0;
  std::vector<zmq::message_t> pixels;              // all planes in one part, or one part per plane
  std::vector<int32_t> strides;                    // with one part per plane, or in shared memory
  const protocol::SharedMemory* shared = nullptr;  // the planes are in this object (no part)
  std::vector<int64_t> offsets;                    // at these offsets
};

// A frame read in shared memory, while the encoder holds it: the ventilator may reuse the buffer
// only once the frame is reported encoded, and it is reported only once no one here reads it.
struct SharedHold {
  JobTracker<Pending>* tracker;
  int64_t index;
};

// The job owns its mappings and outlives its frames: releasing one only says it is read.
void release_shared(void* opaque, uint8_t*) {
  auto* hold = static_cast<SharedHold*>(opaque);
  hold->tracker->release(hold->index);
  delete hold;
}

// yuv420p pixels, tightly packed in one part (from a worker), one part per plane with its stride
// or in shared memory (straight from the ventilator), as a frame for the encoder, without copying
// them.
media::FramePtr wrap_pixels(Pending pending, int width, int height, int64_t index,
                            JobTracker<Pending>& tracker) {
  media::FramePtr frame = media::make_frame();
  const int luma = width * height;
  std::vector<zmq::message_t>& parts = pending.pixels;
  const std::vector<int32_t>& strides = pending.strides;
  if (pending.shared) {
    auto hold = std::make_unique<SharedHold>(SharedHold{&tracker, index});
    frame->buf[0] = av_buffer_create(pending.shared->data(), pending.shared->size(), release_shared,
                                     hold.get(), AV_BUFFER_FLAG_READONLY);
    if (!frame->buf[0]) throw std::bad_alloc();
    hold.release();
    tracker.hold(index);
    for (int i = 0; i < 3; ++i) {
      frame->data[i] = pending.shared->data() + pending.offsets[i];
      frame->linesize[i] = strides[i];
    }
  } else if (parts.size() == 1) {
    uint8_t* data = adopt(*frame, 0, std::move(parts[0]));
    frame->data[0] = data;
    frame->data[1] = data + luma;
    frame->data[2] = data + luma + luma / 4;
    frame->linesize[0] = width;
    frame->linesize[1] = width / 2;
    frame->linesize[2] = width / 2;
  } else {
    for (int i = 0; i < 3; ++i) {
      frame->data[i] = adopt(*frame, i, std::move(parts[i]));
      frame->linesize[i] = strides[i];
    }
  }
  frame->width = width;
  frame->height = height;
  frame->format = AV_PIX_FMT_YUV420P;
  frame->pts = pending.pts;
  return frame;
}

std::string partial_path(const std::string& output) {
  return output + ".partial.mp4";
}

// The planes of a result from the ventilator (yuv420p as decoded): one part per plane, or in
// shared memory (no part) at the result's offsets.
bool valid_planes(const protocol::Result& result, std::span<zmq::message_t> planes,
                  const protocol::SharedMemory* shared) {
  const auto shape = protocol::yuv420p_shape(result.width, result.height);
  if (shared) {
    return planes.empty() && protocol::check_planes_in_object(shape, result.linesizes, {},
                                                              result.offsets, shared->size())
                                 .empty();
  }
  std::vector<std::size_t> part_sizes;
  for (const auto& plane : planes) part_sizes.push_back(plane.size());
  return protocol::check_planes_in_parts(shape, result.linesizes, {}, part_sizes).empty();
}

// A container change running on a thread of its own, so that the reactor keeps serving other
// jobs: the thread only reads the input and writes the output (no socket); the reactor polls
// `outcome` each pass and reads `packets` for progress. Destroying it stops the copy and joins.
struct CopyRun {
  std::atomic<int64_t> packets{0};  // video packets muxed so far
  std::future<media::RemuxOutcome> outcome;
  std::jthread thread;  // declared last: stopped and joined before the rest goes
};

struct Job {
  protocol::JobStart start;
  // The ventilator's shared-memory objects this job's frames were read from, by name: they stay
  // mapped until the job ends (the ventilator reuses a window's worth of them). Declared before
  // the writer and the reorder buffer, whose frames point into them.
  std::map<std::string, protocol::SharedMemory> mappings;
  bool shared = false;  // frames may come by reference (the ventilator's probe was read)
  std::unique_ptr<media::Writer> writer;
  JobTracker<Pending> tracker;
  int64_t started_ms = 0;
  double encode_ms = 0;
  int64_t skipped_packets = 0;  // the ventilator's count of damaged video it skipped
  // A segmented job: segments in order (its JobEnd counts segments), and what is muxed so far.
  std::unique_ptr<JobTracker<EncodedSegment>> segments;
  std::vector<uint8_t> segment_extradata;  // of the first segment: every segment must match it
  int64_t frames_muxed = 0;
  int64_t segments_damaged = 0;  // damaged packets the workers' decoders skipped
  // A copied job (start.copy_streams): its copy while it runs, and the packets it copied.
  std::unique_ptr<CopyRun> copy;
  int64_t packets_copied = 0;

  Job(protocol::JobStart job, int64_t capacity, int64_t now)
      : start(std::move(job)), tracker(capacity, now) {}
  bool segmented() const { return segments != nullptr; }
};

// The output the job's JobStart describes (without the parameter sets of encoded segments).
media::OutputSpec output_spec(const protocol::JobStart& start, int encoder_threads) {
  media::OutputSpec spec;
  spec.path = partial_path(start.output_path);
  spec.width = start.width;
  spec.height = start.height;
  spec.time_base = AVRational{start.time_base_num, start.time_base_den};
  spec.frame_rate = AVRational{start.rate_num, start.rate_den};
  spec.color = start.color;
  if (start.sample_aspect_num > 0 && start.sample_aspect_den > 0) {
    spec.sample_aspect = {start.sample_aspect_num, start.sample_aspect_den};
  }
  spec.audio_source = start.input_path;
  spec.encoder.preset = start.preset;
  spec.encoder.crf = start.crf;
  spec.format = start.format;
  spec.encoder.threads = encoder_threads;
  return spec;
}

class Sink {
 public:
  explicit Sink(const Config& config) : config_(config) {
    if (config_.curve.enabled()) authenticator_.emplace(context_, config_.curve);
    protocol::secure_server(results_, config_.curve);
    protocol::secure_server(progress_, config_.curve);
    protocol::configure(results_, 1000, 64);
    results_.bind(config_.results_bind);
    protocol::configure(progress_, 10'000, 1000);
    progress_.bind(config_.progress_bind);
    route_messages();
  }

  int run() {
    spdlog::info("sink: results on {}, progress published on {}", config_.results_bind,
                 config_.progress_bind);
    int64_t last_publish = 0;
    int64_t last_alive = 0;
    while (!stop_requested()) {
      zmq::pollitem_t item{results_.handle(), 0, ZMQ_POLLIN, 0};
      protocol::poll(&item, 1, std::chrono::milliseconds(50));
      // A batch bounded in count and time, so that progress keeps flowing under a flood of
      // results and a slow encoder (veryslow takes 40 ms a frame even at 360p).
      const int64_t batch_start = now_ms();
      for (int i = 0; i < kMaxBatchMessages && now_ms() - batch_start < kMaxBatchMs; ++i) {
        if (inbound_.dispatch(results_, 1) == 0) break;
      }
      const int64_t now = now_ms();
      if (now - last_publish >= protocol::kProgressIntervalMs) {
        publish_all(now);
        last_publish = now;
      }
      collect_copies();
      if (idle_trim_.due(!jobs_.empty(), now)) {
        malloc_trim(0);  // the frames and encoders of the jobs that ran
        spdlog::debug("sink: no job for {} ms: free heap given back", protocol::kIdleTrimMs);
      }
      if (now - last_alive >= kAliveIntervalMs) {
        protocol::send_message(
            progress_,
            protocol::SinkAlive{static_cast<int32_t>(jobs_.size()), frames_encoded_,
                                encode_latency_, duplicates_dropped_, instance_, frames_shared_});
        last_alive = now;
      }
    }
    for (auto& [id, job] : jobs_) {
      job.copy.reset();
      job.writer.reset();
      std::error_code ignored;
      std::filesystem::remove(partial_path(job.start.output_path), ignored);
    }
    spdlog::info("sink: stopped with {} job(s) unfinished", jobs_.size());
    return 0;
  }

 private:
  // Who handles what: results (with up to three planes) from workers and the ventilator, and the
  // ventilator's job messages.
  void route_messages() {
    using protocol::Inbound;
    inbound_.on<protocol::Result>(
        [this](protocol::Result&& result, Inbound& inbound) { on_result(result, inbound); }, 3);
    inbound_.on<protocol::SegmentResult>(
        [this](protocol::SegmentResult&& result, Inbound& inbound) {
          on_segment(std::move(result), inbound);
        },
        1);
    inbound_.on<protocol::JobStart>(
        [this](protocol::JobStart&& start, Inbound&) { on_start(std::move(start)); });
    inbound_.on<protocol::JobEnd>([this](protocol::JobEnd&& end, Inbound&) { on_end(end); });
    inbound_.on<protocol::JobAbort>(
        [this](protocol::JobAbort&& abort, Inbound&) { on_abort(abort); });
    inbound_.on<protocol::VentilatorAlive>(
        [this](protocol::VentilatorAlive&& alive, Inbound&) { on_ventilator(alive); });
  }

  void on_start(protocol::JobStart start) {
    if (jobs_.count(start.job_id)) return;  // the ventilator repeats JobStart until it hears us
    if (auto done = finished_.find(start.job_id); done != finished_.end()) {
      protocol::send_message(progress_, done->second.progress);
      return;
    }
    const std::string id = start.job_id;
    if (start.copy_streams) {  // no frame comes: the size and timing are the input's own
      if (!id.empty()) start_copy(std::move(start));
      return;
    }
    if (id.empty() || !protocol::check_dimensions(start.width, start.height).empty() ||
        start.width % 2 || start.height % 2 || start.time_base_num <= 0 ||
        start.time_base_den <= 0 || start.segment_frames.size() > kMaxSegments ||
        std::any_of(start.segment_frames.begin(), start.segment_frames.end(),
                    [](int64_t frames) { return frames <= 0; })) {
      spdlog::warn("sink: refused job {}: bad description", id);
      return;
    }
    Job job(std::move(start), config_.reorder_capacity, now_ms());
    const media::OutputSpec spec = output_spec(job.start, config_.encoder_threads);
    if (!job.start.segment_frames.empty()) {
      // The muxer opens with the first segment, whose parameter sets it needs.
      job.segments = std::make_unique<JobTracker<EncodedSegment>>(kMaxSegmentsAhead, now_ms());
    } else {
      try {
        job.writer = std::make_unique<media::Writer>(spec, config_.limits);
      } catch (const std::exception& e) {
        finish(id, job, protocol::JobState::failed,
               std::string("cannot start encoding: ") + e.what());
        return;
      }
    }
    job.started_ms = now_ms();
    job.shared = protocol::reads_shared_probe(job.start.shared_prefix, job.start.shared_token);
    if (job.segmented()) {
      spdlog::info("sink: job {} joining {} segments into {} {}x{}", id,
                   job.start.segment_frames.size(), spec.format, spec.width, spec.height);
    } else {
      spdlog::info("sink: job {} encoding {} {}x{} preset {} crf {}, audio: {}{}", id, spec.format,
                   spec.width, spec.height, spec.encoder.preset, spec.encoder.crf,
                   job.writer->audio_mode(), job.shared ? "; frames by shared memory" : "");
    }
    auto [it, inserted] = jobs_.emplace(id, std::move(job));
    publish(it->second);
  }

  // Starts copying the job's streams into its format on a thread of its own.
  void start_copy(protocol::JobStart start) {
    const std::string id = start.job_id;
    Job job(std::move(start), config_.reorder_capacity, now_ms());
    job.started_ms = now_ms();
    job.copy = std::make_unique<CopyRun>();
    std::promise<media::RemuxOutcome> promise;
    job.copy->outcome = promise.get_future();
    std::atomic<int64_t>& packets = job.copy->packets;  // outlives the thread (CopyRun)
    job.copy->thread =
        std::jthread([&packets, promise = std::move(promise), input = job.start.input_path,
                      output = partial_path(job.start.output_path), format = job.start.format,
                      limits = config_.limits](std::stop_token stop) mutable {
          try {
            promise.set_value(media::remux(input, output, format, limits, [&](int64_t done) {
              packets.store(done, std::memory_order_relaxed);
              return !stop.stop_requested();
            }));
          } catch (...) {
            promise.set_exception(std::current_exception());
          }
        });
    spdlog::info("sink: job {} copying its streams into {}: {}", id, job.start.format,
                 job.start.distribution_why);
    auto [it, inserted] = jobs_.emplace(id, std::move(job));
    publish(it->second);
  }

  // Ends the copied jobs whose copy is over, with its outcome.
  void collect_copies() {
    std::vector<std::string> over;
    for (auto& [id, job] : jobs_) {
      if (job.copy &&
          job.copy->outcome.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
        over.push_back(id);
      }
    }
    for (const auto& id : over) {
      Job& job = jobs_.at(id);
      try {
        const media::RemuxOutcome outcome = job.copy->outcome.get();
        job.copy.reset();
        job.packets_copied = outcome.video_packets;
        std::filesystem::rename(partial_path(job.start.output_path), job.start.output_path);
        spdlog::info("sink: job {}: {} video packets copied, audio: {}", id, outcome.video_packets,
                     outcome.audio_mode);
        finish(id, job, protocol::JobState::done, "");
      } catch (const std::exception& e) {
        finish(id, job, protocol::JobState::failed,
               std::string("copying the streams failed: ") + e.what());
      }
    }
  }

  // The job's mapping of a shared-memory object a result names, mapped on first use; null (and
  // `why` says why) when the name is not one of the job's or the object cannot be read.
  const protocol::SharedMemory* shared_object(Job& job, const std::string& name, std::string& why) {
    if (!job.shared || !protocol::is_shared_frame_name(name, job.start.shared_prefix)) {
      why = "result of job " + job.start.job_id + " names shared memory it may not use";
      return nullptr;
    }
    if (auto it = job.mappings.find(name); it != job.mappings.end()) return &it->second;
    if (job.mappings.size() >= kMaxSharedObjects) {
      why = "result of job " + job.start.job_id + " names too many shared-memory objects";
      return nullptr;
    }
    try {
      return &job.mappings.emplace(name, protocol::SharedMemory::open(name)).first->second;
    } catch (const std::system_error& e) {
      // Frames by reference stop for this job; the ventilator sends them again over the network.
      spdlog::warn("sink: job {}: {}; its frames must come over the network", job.start.job_id,
                   e.what());
      job.shared = false;
      publish(job);
      return nullptr;
    }
  }

  void on_result(const protocol::Result& result, protocol::Inbound& inbound) {
    std::string& why = inbound.why;
    const std::span<zmq::message_t> planes = inbound.payload;
    auto it = jobs_.find(result.job_id);
    if (it == jobs_.end()) {
      if (!finished_.count(result.job_id)) why = "result for unknown job " + result.job_id;
      return;  // a late duplicate of a finished job is normal
    }
    Job& job = it->second;
    if (job.segmented() || job.start.copy_streams) {
      why = "a frame for job " + result.job_id + ", which is " +
            (job.segmented() ? "dealt as segments" : "copied");
      return;
    }
    if (job.tracker.is_duplicate(result.index)) {  // a late duplicate
      job.tracker.count_duplicate();
      ++duplicates_dropped_;
      return;
    }
    const protocol::SharedMemory* shared = nullptr;
    if (!result.shared_name.empty() &&
        (shared = shared_object(job, result.shared_name, why)) == nullptr) {
      return;
    }
    const bool one_part = !shared && planes.size() == 1 &&
                          planes[0].size() == yuv420p_bytes(job.start.width, job.start.height);
    if ((!one_part && !valid_planes(result, planes, shared)) || result.width != job.start.width ||
        result.height != job.start.height) {
      why = "result of job " + result.job_id + " frame " + std::to_string(result.index) +
            " does not match the job";
      return;
    }
    std::vector<zmq::message_t> pixels;
    for (auto& plane : planes) pixels.push_back(std::move(plane));
    switch (job.tracker.offer(result.index, Pending{result.pts, std::move(pixels), result.linesizes,
                                                    shared, result.offsets})) {
      case Verdict::accepted:
        if (shared) ++frames_shared_;
        break;
      case Verdict::duplicate:
        ++duplicates_dropped_;
        return;
      case Verdict::too_far_ahead:
        why = "result too far ahead of the encoder";
        return;
      case Verdict::out_of_range:
        why = "result of job " + result.job_id + " frame " + std::to_string(result.index) +
              " is not one of its frames";
        return;
    }
    encode_ready(result.job_id, job);
  }

  void encode_ready(const std::string& id, Job& job) {
    try {
      while (true) {
        const int64_t index = job.tracker.encoded();
        auto pending = job.tracker.next();
        if (!pending) break;
        const auto started = std::chrono::steady_clock::now();
        auto frame =
            wrap_pixels(std::move(*pending), job.start.width, job.start.height, index, job.tracker);
        job.writer->write(frame.get());
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count();
        job.encode_ms = job.encode_ms == 0 ? ms : 0.95 * job.encode_ms + 0.05 * ms;
        encode_latency_.observe(ms);
        ++frames_encoded_;
      }
      acknowledge(job);
      if (job.tracker.complete()) complete(id, job);
    } catch (const std::exception& e) {
      finish(id, job, protocol::JobState::failed, std::string("encoding failed: ") + e.what());
    }
  }

  // A segment's encoded packets from a worker: checked against the job (its index, its frame
  // count, the encoder's time base, packets inside their part), then muxed in order.
  void on_segment(protocol::SegmentResult result, protocol::Inbound& inbound) {
    std::string& why = inbound.why;
    auto it = jobs_.find(result.job_id);
    if (it == jobs_.end()) {
      if (!finished_.count(result.job_id)) why = "segment for unknown job " + result.job_id;
      return;
    }
    Job& job = it->second;
    const std::string what =
        "segment " + std::to_string(result.index) + " of job " + result.job_id + ": ";
    if (job.segmented() && job.segments->is_duplicate(result.index)) {  // a late duplicate
      job.segments->count_duplicate();
      ++duplicates_dropped_;
      return;
    }
    if (!result.error.empty() && job.segmented() && result.index >= 0 &&
        result.index < static_cast<int64_t>(job.start.segment_frames.size())) {
      finish(job.start.job_id, job, protocol::JobState::failed,
             "segment " + std::to_string(result.index) + " could not be transcoded (worker " +
                 result.worker.substr(0, 64) + "): " + result.error.substr(0, 300));
      return;
    }
    const int64_t index = result.index;
    auto segment = open_segment_result(job.start, std::move(result), inbound.payload, why);
    if (!segment) return;
    switch (job.segments->offer(index, std::move(*segment))) {
      case Verdict::accepted:
        break;
      case Verdict::duplicate:
        ++duplicates_dropped_;
        return;
      case Verdict::too_far_ahead:
        why = what + "too far ahead of the muxer";
        return;
      case Verdict::out_of_range:
        why = what + "not one of its segments";
        return;
    }
    mux_ready(job.start.job_id, job);
  }

  // Muxes the segments that are next in order; the muxer opens with the first.
  void mux_ready(const std::string& id, Job& job) {
    try {
      while (auto segment = job.segments->next()) {
        const int64_t index = job.segments->encoded() - 1;
        if (!job.writer) {
          media::OutputSpec spec = output_spec(job.start, config_.encoder_threads);
          spec.encoded_video = true;
          spec.encoded_video_extradata = segment->extradata;
          job.writer = std::make_unique<media::Writer>(spec, config_.limits);
          job.segment_extradata = segment->extradata;
          spdlog::info("sink: job {} muxing segments into {}, audio: {}", id, spec.format,
                       job.writer->audio_mode());
        } else if (segment->extradata != job.segment_extradata) {
          throw media::MediaError("segment " + std::to_string(index) + " (from worker " +
                                  segment->worker.substr(0, 64) +
                                  ") was encoded with other parameters than the first: every "
                                  "worker must run the same framepipe and encoder libraries");
        }
        if (!segment->packets.empty()) job.writer->write_segment(segment->packets);
        job.frames_muxed += segment->frames;
        job.segments_damaged += segment->damaged_packets;
        frames_encoded_ += segment->frames;
      }
      if (auto done = job.segments->take_acknowledgement()) {
        protocol::send_message(progress_, protocol::FramesEncoded{job.start.job_id, *done});
      }
      if (job.segments->complete()) {
        if (job.frames_muxed == 0) throw media::MediaError("the file has no decodable video frame");
        complete(id, job);
      }
    } catch (const std::exception& e) {
      finish(id, job, protocol::JobState::failed, std::string("joining failed: ") + e.what());
    }
  }

  // Every frame is in: the file is finished and takes its name. Throws what the writer throws.
  void complete(const std::string& id, Job& job) {
    job.writer->finish();
    job.writer.reset();
    std::filesystem::rename(partial_path(job.start.output_path), job.start.output_path);
    finish(id, job, protocol::JobState::done, "");
  }

  void on_end(const protocol::JobEnd& end) {
    auto it = jobs_.find(end.job_id);
    if (it == jobs_.end()) return;
    Job& job = it->second;
    if (job.start.copy_streams) return;  // its packets are counted as they are copied
    if (job.segmented()) {
      if (end.total_frames != static_cast<int64_t>(job.start.segment_frames.size()) ||
          !job.segments->set_total(end.total_frames)) {
        return;
      }
      spdlog::info("sink: job {} has {} segments", end.job_id, end.total_frames);
      mux_ready(end.job_id, job);
      return;
    }
    if (!job.tracker.set_total(end.total_frames)) return;
    job.skipped_packets = std::max<int64_t>(0, end.skipped_packets);
    spdlog::info("sink: job {} has {} frames", end.job_id, end.total_frames);
    encode_ready(end.job_id, job);
  }

  void on_abort(const protocol::JobAbort& abort) {
    const auto state = abort.reason == protocol::AbortReason::canceled
                           ? protocol::JobState::canceled
                           : protocol::JobState::failed;
    auto it = jobs_.find(abort.job_id);
    if (it == jobs_.end()) {
      if (finished_.count(abort.job_id)) return;  // it ended first: its final state stands
      // Failed before the sink heard of it (e.g. the input could not be decoded at all).
      protocol::JobProgress progress;
      progress.job_id = abort.job_id;
      progress.state = state;
      progress.error = abort.message;
      remember(progress);
      return;
    }
    finish(abort.job_id, it->second, state, abort.message);
  }

  // A job the ventilator stopped listing twice in a row was lost when it restarted: no more
  // frames will come, so it fails now with the reason rather than waiting for ever.
  void on_ventilator(const protocol::VentilatorAlive& alive) {
    std::vector<std::string> lost;
    for (auto& [id, job] : jobs_) {
      const bool listed = std::find(alive.jobs.begin(), alive.jobs.end(), id) != alive.jobs.end();
      if (job.tracker.lost_by_ventilator(listed)) lost.push_back(id);
    }
    for (const auto& id : lost) {
      finish(id, jobs_.at(id), protocol::JobState::failed,
             "the ventilator restarted while the job was running; submit it again");
    }
  }

  // Ends a job (it may or may not be in jobs_ yet) and remembers its final state.
  void finish(const std::string& id, Job& job, protocol::JobState state, const std::string& error) {
    job.copy.reset();  // a copy still running stops before its file goes
    job.writer.reset();
    std::error_code ignored;
    std::filesystem::remove(partial_path(job.start.output_path), ignored);
    protocol::JobProgress progress = progress_of(job);
    progress.state = state;
    progress.error = error;
    if (state == protocol::JobState::done) {
      const int64_t frames = job.start.copy_streams ? job.packets_copied
                             : job.segmented()      ? job.frames_muxed
                                                    : job.tracker.total();
      progress.frames_total = frames;
      progress.frames_done = frames;
      progress.output_bytes =
          static_cast<int64_t>(std::filesystem::file_size(job.start.output_path, ignored));
      const double seconds = std::max<int64_t>(1, now_ms() - job.started_ms) / 1000.0;
      progress.fps = static_cast<double>(frames) / seconds;
      spdlog::info(
          "sink: job {} done: {} frames{} in {:.1f} s ({:.1f} frames/s), {} duplicates "
          "dropped",
          id, frames,
          job.segmented() ? " in " + std::to_string(job.start.segment_frames.size()) + " segments"
                          : "",
          seconds, progress.fps,
          job.segmented() ? job.segments->duplicates() : job.tracker.duplicates());
    } else if (state == protocol::JobState::failed) {
      spdlog::warn("sink: job {} failed: {}", id, error);
    } else {
      spdlog::info("sink: job {} {}", id, protocol::to_string(state));
    }
    remember(progress);
    jobs_.erase(id);
  }

  void remember(const protocol::JobProgress& progress) {
    finished_[progress.job_id] = Finished{progress, now_ms()};
    protocol::send_message(progress_, progress);
  }

  protocol::JobProgress progress_of(const Job& job) const {
    protocol::JobProgress progress;
    progress.job_id = job.start.job_id;
    progress.state = protocol::JobState::running;
    progress.skipped_packets = job.skipped_packets + job.segments_damaged;
    progress.distribution = job.start.copy_streams ? "copied"
                            : job.segmented()      ? "segments"
                                                   : "frames";
    progress.distribution_why = job.start.distribution_why;
    if (job.start.copy_streams) {  // frames are video packets; the total is known at the end
      progress.frames_done =
          job.copy ? job.copy->packets.load(std::memory_order_relaxed) : job.packets_copied;
      const double seconds = std::max<int64_t>(1, now_ms() - job.started_ms) / 1000.0;
      progress.fps = static_cast<double>(progress.frames_done) / seconds;
      return progress;
    }
    if (job.segmented()) {
      progress.frames_done = job.frames_muxed;
      int64_t planned = 0;
      for (const int64_t frames : job.start.segment_frames) planned += frames;
      progress.frames_total = planned;
      const double seconds = std::max<int64_t>(1, now_ms() - job.started_ms) / 1000.0;
      progress.fps = static_cast<double>(job.frames_muxed) / seconds;
      return progress;
    }
    // Not past a frame whose shared buffer the encoder still reads (x264 copies its input, so in
    // practice none): the ventilator reuses the buffers of frames reported done.
    progress.frames_done = job.tracker.frames_done();
    progress.frames_total = std::max<int64_t>(job.tracker.total(), 0);
    progress.fps = job.tracker.fps();
    progress.encode_ms = job.encode_ms;
    progress.shared_memory = job.shared;
    return progress;
  }

  void publish(const Job& job) { protocol::send_message(progress_, progress_of(job)); }

  // Tells the ventilator at once that frames were encoded, so that it frees their window slots
  // and sends more: frames flow at the encoder's pace, not at the pace of progress reports.
  void acknowledge(Job& job) {
    if (auto done = job.tracker.take_acknowledgement()) {
      protocol::send_message(progress_, protocol::FramesEncoded{job.start.job_id, *done});
    }
  }

  void publish_all(int64_t now) {
    for (auto& [id, job] : jobs_) {
      if (!job.start.copy_streams) job.tracker.sample_fps(now);
      publish(job);
    }
    for (auto it = finished_.begin(); it != finished_.end();) {
      if (now - it->second.when_ms > kRememberFinishedMs) {
        it = finished_.erase(it);
      } else {
        protocol::send_message(progress_, it->second.progress);
        ++it;
      }
    }
  }

  struct Finished {
    protocol::JobProgress progress;
    int64_t when_ms = 0;
  };

  Config config_;
  zmq::context_t context_{1};
  zmq::socket_t results_{context_, zmq::socket_type::pull};
  zmq::socket_t progress_{context_, zmq::socket_type::pub};
  std::optional<protocol::Authenticator> authenticator_;  // destroyed first: it uses context_
  std::map<std::string, Job> jobs_;
  std::map<std::string, Finished> finished_;
  int64_t frames_encoded_ = 0;
  int64_t duplicates_dropped_ = 0;
  int64_t frames_shared_ = 0;
  protocol::Histogram encode_latency_;
  protocol::LogThrottle untrusted_log_;  // lines about what peers send
  protocol::Dispatcher inbound_{"sink", false, untrusted_log_};
  protocol::IdleTrim idle_trim_;
  const uint64_t instance_ = protocol::new_instance_id();
};

}  // namespace

int run(const Config& config) {
  Sink sink(config);
  return sink.run();
}

}  // namespace framepipe::sink
