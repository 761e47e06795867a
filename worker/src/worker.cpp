#include "framepipe/worker/worker.hpp"

#include <unistd.h>

#include <list>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>
#include <opencv2/core.hpp>
#include <zmq.hpp>

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

#include "framepipe/chain/chain.hpp"
#include "framepipe/filters/filters.hpp"
#include "framepipe/filters/frame_processor.hpp"
#include "framepipe/protocol/dispatcher.hpp"
#include "framepipe/protocol/log_throttle.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/planes.hpp"
#include "framepipe/protocol/shared_memory.hpp"
#include "framepipe/protocol/signals.hpp"
#include "framepipe/worker/process_stats.hpp"
#include "framepipe/worker/segment_message.hpp"
#include "framepipe/worker/segment_transcoder.hpp"

namespace framepipe::worker {

using protocol::now_ms;

namespace {

constexpr std::size_t kChainCacheSize = 4;
// Results queued towards the sink before send blocks: enough to hide a round trip.
constexpr int kResultsHighWaterMark = 4;
// The ventilator's shared-memory buffers stay mapped while frames keep coming from them: about a
// window's worth per job. One unused this long is unmapped (its job is probably over, and the
// mapping would keep its memory); never more than this many at once.
constexpr int64_t kMappingIdleMs = 5000;
constexpr std::size_t kMaxMappings = 1024;
// How often a worker transcoding a segment says it is making progress (well under the smallest
// re-send deadline one would set).
constexpr int64_t kProgressEveryMs = 250;

std::string default_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::random_device random;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", random() & 0xffff);
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + suffix;
}

std::string host_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return host;
}

// The shape of `format`'s planes at width x height, from libav's description of the format.
protocol::PictureShape picture_shape(AVPixelFormat format, const AVPixFmtDescriptor& desc,
                                     int width, int height) {
  protocol::PictureShape shape;
  shape.count = av_pix_fmt_count_planes(format);
  for (int i = 0; i < shape.count && i < 4; ++i) {
    const bool chroma = (i == 1 || i == 2) && !(desc.flags & AV_PIX_FMT_FLAG_RGB);
    const int rows = chroma ? -((-height) >> desc.log2_chroma_h) : height;  // rounded up
    shape.planes[i] = {av_image_get_linesize(format, width, i), rows};
  }
  return shape;
}

// Checks a frame message from the network against its own description before any pixel is read;
// with `shared`, the planes are in that object at the frame's offsets, not in parts.
bool check_frame(const protocol::Frame& frame, std::span<const zmq::message_t> planes,
                 const protocol::SharedMemory* shared, filters::PlanarImage& image,
                 std::string& why) {
  const AVPixelFormat format = av_get_pix_fmt(frame.pixel_format.c_str());
  if (format == AV_PIX_FMT_NONE) return why = "unknown pixel format " + frame.pixel_format, false;
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(format);
  if (desc->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_PAL)) {
    return why = "unsupported pixel format " + frame.pixel_format, false;
  }
  why = protocol::check_dimensions(frame.width, frame.height);
  if (why.empty()) why = protocol::check_dimensions(frame.out_width, frame.out_height);
  if (why.empty() && (frame.out_width % 2 || frame.out_height % 2)) why = "odd output dimensions";
  if (!why.empty()) return false;
  const auto shape = picture_shape(format, *desc, frame.width, frame.height);
  if (shared) {
    if (!planes.empty()) return why = "planes both in parts and in shared memory", false;
    why = protocol::check_planes_in_object(shape, frame.linesizes, frame.plane_sizes, frame.offsets,
                                           shared->size());
  } else {
    std::vector<std::size_t> part_sizes;
    for (const auto& plane : planes) part_sizes.push_back(plane.size());
    why = protocol::check_planes_in_parts(shape, frame.linesizes, frame.plane_sizes, part_sizes);
  }
  if (!why.empty()) return false;
  image = filters::PlanarImage{};
  image.pixel_format = frame.pixel_format;
  image.width = frame.width;
  image.height = frame.height;
  image.color = frame.color;
  for (int i = 0; i < shape.count; ++i) {
    image.data[i] =
        shared ? shared->data() + frame.offsets[i] : static_cast<const uint8_t*>(planes[i].data());
    image.linesize[i] = frame.linesizes[i];
  }
  return true;
}

// The compiled chains of the last few jobs (compiling faceblur loads a cascade).
class ChainCache {
 public:
  filters::Chain* get(const std::string& text, std::string& why) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == text) {
        entries_.splice(entries_.begin(), entries_, it);
        return &entries_.front().second;
      }
    }
    auto parsed = chain::parse_chain(text);
    if (!parsed.ok()) return why = parsed.error, nullptr;
    try {
      entries_.emplace_front(text, filters::Chain(parsed.chain));
    } catch (const std::exception& e) {
      return why = e.what(), nullptr;
    }
    if (entries_.size() > kChainCacheSize) entries_.pop_back();
    return &entries_.front().second;
  }

 private:
  std::list<std::pair<std::string, filters::Chain>> entries_;
};

class Worker {
 public:
  explicit Worker(Config config) : config_(std::move(config)) {
    auto endpoint = protocol::parse_tcp_endpoint(config_.registry_endpoint);
    if (!endpoint) {
      throw std::invalid_argument("not a tcp://HOST:PORT endpoint: " + config_.registry_endpoint);
    }
    registry_host_ = endpoint->host;
    if (config_.name.empty()) config_.name = default_name();
    stats_.state = "idle";
    if (!config_.fault.empty() && config_.fault != "hold-frames") {
      throw std::invalid_argument("unknown fault " + config_.fault);
    }
    registry_inbound_.emplace("worker " + config_.name, false, untrusted_log_);
    frames_inbound_.emplace("worker " + config_.name, false, untrusted_log_);
    listen_to_registry();
    frames_inbound_->on<protocol::Frame>(
        [this](protocol::Frame&& frame, protocol::Inbound& message) { process(frame, message); },
        4);
    frames_inbound_->on<protocol::SharedProbe>(
        [this](protocol::SharedProbe&& probe, protocol::Inbound&) {
          learn_shared_memory(probe.prefix, probe.token);
          send_ready(0, false, {}, -1, 0);  // says whether it shares the ventilator's memory
        });
    frames_inbound_->on<protocol::Segment>(
        [this](protocol::Segment&& segment, protocol::Inbound& message) {
          process_segment(segment, message);
        },
        1);
    // A frame lost to a discard gives its credit back, so the ventilator keeps sending.
    frames_inbound_->on_discard(
        [this](const protocol::Inbound&) { send_ready(1, false, {}, -1, 0); });
  }

  int run() {
    spdlog::info("worker {}: joining the cluster at {} ({} filter thread{})", config_.name,
                 config_.registry_endpoint, config_.threads, config_.threads == 1 ? "" : "s");
    if (!config_.fault.empty()) {
      spdlog::warn("worker {}: fault injection on ({}): for tests only", config_.name,
                   config_.fault);
    }
    connect_registry();
    int64_t last_frame_ms = now_ms();
    while (!stop_requested()) {
      keep_alive();
      const int64_t now = now_ms();
      if (now - last_registry_answer_ms_ > static_cast<int64_t>(heartbeat_ms_) * liveness_ &&
          now >= next_reconnect_ms_) {
        spdlog::warn("worker {}: no answer from the registry for {} ms; connecting again",
                     config_.name, now - last_registry_answer_ms_);
        connect_registry();
        next_reconnect_ms_ = now + reconnect_delay_ms_;
        reconnect_delay_ms_ = std::min(reconnect_delay_ms_ * 2, protocol::kReconnectMaxMs);
      }
      std::vector<zmq::pollitem_t> items = {{registry_.handle(), 0, ZMQ_POLLIN, 0}};
      if (frames_) items.push_back({frames_.handle(), 0, ZMQ_POLLIN, 0});
      const auto wait = std::clamp<int64_t>(next_heartbeat_ms_ - now, 1, 200);
      protocol::poll(items, std::chrono::milliseconds(wait));
      if (items[0].revents & ZMQ_POLLIN) read_registry();
      // One frame per pass, so that heartbeats and the registry's answers keep their rhythm
      // however fast frames arrive.
      if (frames_ && items.size() > 1 && (items[1].revents & ZMQ_POLLIN)) {
        if (frames_inbound_->dispatch(frames_, 1) > 0) last_frame_ms = now_ms();
      }
      if (now_ms() - last_mapping_sweep_ms_ >= 1000) unmap_idle(now_ms());
      // Idle for a while: tell the ventilator so it can take back frames it thinks we hold, and
      // learn about us again if it restarted.
      if (frames_ && now_ms() - last_frame_ms > 2 * heartbeat_ms_ && config_.fault.empty()) {
        send_ready(config_.credit, true, {}, -1, 0);
        last_frame_ms = now_ms();
      }
    }
    spdlog::info("worker {}: stopped after {} frames", config_.name, stats_.frames_done);
    return 0;
  }

 private:
  void connect_registry() {
    registry_ = zmq::socket_t(context_, zmq::socket_type::dealer);
    protocol::configure(registry_, 100, 100);
    protocol::secure_client(registry_, config_.curve);
    registry_.set(zmq::sockopt::routing_id, config_.name);
    registry_.connect(config_.registry_endpoint);
    say_hello();
    last_registry_answer_ms_ = now_ms();
  }

  void say_hello() {
    protocol::Hello hello{config_.name, host_name(), static_cast<int32_t>(getpid()),
                          static_cast<int32_t>(std::thread::hardware_concurrency()),
                          std::string(protocol::kSoftwareVersion)};
    protocol::send_message(registry_, hello);
  }

  void read_registry() { registry_inbound_->dispatch(registry_, 100); }

  // What the registry may say; any message from it, even a discarded one, shows it is there.
  void listen_to_registry() {
    using protocol::Inbound;
    auto answered = [this] {
      last_registry_answer_ms_ = now_ms();
      reconnect_delay_ms_ = protocol::kReconnectMinMs;
    };
    registry_inbound_->on<protocol::Welcome>(
        [this, answered](protocol::Welcome&& welcome, Inbound&) {
          answered();
          on_welcome(welcome);
        });
    registry_inbound_->on<protocol::Reregister>([this, answered](protocol::Reregister&&, Inbound&) {
      answered();
      spdlog::info("worker {}: the registry does not know us; saying hello again", config_.name);
      say_hello();
    });
    registry_inbound_->on<protocol::HeartbeatAck>(
        [answered](protocol::HeartbeatAck&&, Inbound&) { answered(); });
  }

  void on_welcome(const protocol::Welcome& welcome) {
    heartbeat_ms_ = std::clamp(welcome.heartbeat_ms, 100, 60'000);
    liveness_ = std::clamp(welcome.liveness, 2, 100);
    const auto frames = protocol::resolve_wildcard(welcome.frames_endpoint, registry_host_);
    const auto results = protocol::resolve_wildcard(welcome.results_endpoint, registry_host_);
    if (frames == frames_endpoint_ && results == results_endpoint_ && frames_) {
      spdlog::info("worker {}: registered again", config_.name);
      return;
    }
    frames_endpoint_ = frames;
    results_endpoint_ = results;
    frames_ = zmq::socket_t(context_, zmq::socket_type::dealer);
    protocol::configure(frames_, 100, 100);
    protocol::secure_client(frames_, config_.curve);
    frames_.set(zmq::sockopt::routing_id, config_.name);
    frames_.connect(frames_endpoint_);
    results_ = zmq::socket_t(context_, zmq::socket_type::push);
    protocol::configure(results_, kResultsHighWaterMark, 1);
    protocol::secure_client(results_, config_.curve);
    results_.connect(results_endpoint_);
    spdlog::info("worker {}: registered; frames from {}, results to {}", config_.name,
                 frames_endpoint_, results_endpoint_);
    send_ready(config_.credit, true, {}, -1, 0);
  }

  void send_ready(int credit, bool idle, const std::string& job_id, int64_t index,
                  int64_t filter_us) {
    protocol::send_message(frames_, protocol::Ready{config_.name, credit, idle, job_id, index,
                                                    filter_us, shared_token_});
  }

  // While a segment is transcoded: the ventilator sends elsewhere a segment whose worker shows no
  // progress for its re-send deadline (seconds), however long the whole segment may take.
  void say_progress(const protocol::Segment& segment, bool starting) {
    const int64_t now = now_ms();
    if (!starting && now - last_progress_ms_ < kProgressEveryMs) return;
    last_progress_ms_ = now;
    protocol::Ready progress{config_.name,  0, false,        segment.job_id,
                             segment.index, 0, shared_token_};
    progress.progress = true;
    protocol::send_message(frames_, progress);
  }

  // A frame says which ventilator instance it comes from and where that one's probe is: if the
  // probe holds the token, this worker runs on the ventilator's machine and says so in Ready.
  void learn_shared_memory(const protocol::Frame& frame) {
    learn_shared_memory(frame.shared_prefix, frame.shared_token);
  }

  void learn_shared_memory(const std::string& prefix, uint64_t token) {
    if (token == 0 || token == shared_token_ || token == refused_token_) return;
    if (protocol::reads_shared_probe(prefix, token)) {
      shared_token_ = token;
      shared_probe_ = protocol::shared_probe_name(prefix).value_or("");
      mappings_.clear();
      spdlog::info("worker {}: on the ventilator's machine: frames come by shared memory",
                   config_.name);
    } else {
      refused_token_ = token;  // checked once per ventilator instance
    }
  }

  // The mapping of the shared-memory object a frame names, if it is one of the verified
  // ventilator's; null with the reason otherwise. An object that cannot be opened ends frames by
  // reference: the ventilator sends them with their planes from then on.
  const protocol::SharedMemory* shared_frame(const protocol::Frame& frame, std::string& why) {
    if (shared_token_ == 0 || frame.shared_token != shared_token_ ||
        protocol::shared_probe_name(frame.shared_prefix) != shared_probe_ ||
        !protocol::is_shared_frame_name(frame.shared_name, frame.shared_prefix)) {
      why = "it names shared memory this worker may not read";
      return nullptr;
    }
    const int64_t now = now_ms();
    if (auto it = mappings_.find(frame.shared_name); it != mappings_.end()) {
      it->second.used_ms = now;
      return &it->second.memory;
    }
    if (mappings_.size() >= kMaxMappings) {
      mappings_.erase(std::min_element(
          mappings_.begin(), mappings_.end(),
          [](const auto& a, const auto& b) { return a.second.used_ms < b.second.used_ms; }));
    }
    try {
      auto memory = protocol::SharedMemory::open(frame.shared_name);
      return &mappings_.emplace(frame.shared_name, Mapping{std::move(memory), now})
                  .first->second.memory;
    } catch (const std::system_error& e) {
      spdlog::warn("worker {}: {}; frames must come with their planes", config_.name, e.what());
      refused_token_ = shared_token_;
      shared_token_ = 0;
      mappings_.clear();
      why = e.what();
      return nullptr;
    }
  }

  void unmap_idle(int64_t now) {
    last_mapping_sweep_ms_ = now;
    std::erase_if(mappings_,
                  [now](const auto& entry) { return now - entry.second.used_ms > kMappingIdleMs; });
  }

  // Heartbeats when one is due. Called from every loop that can last, so that only a filter that
  // is really stuck silences the worker.
  void keep_alive() {
    const int64_t now = now_ms();
    if (now < next_heartbeat_ms_) return;
    heartbeat(now);
    next_heartbeat_ms_ = now + heartbeat_ms_;
  }

  void heartbeat(int64_t now) {
    const double seconds = std::max<int64_t>(1, now - last_heartbeat_ms_) / 1000.0;
    const double recent_fps = (stats_.frames_done - frames_at_last_heartbeat_) / seconds;
    stats_.fps = last_heartbeat_ms_ == 0 ? 0 : recent_fps;
    stats_.cpu_percent = sampler_.cpu_percent();
    stats_.rss_bytes = ProcessSampler::rss_bytes();
    if (now - last_frame_done_ms_ > 2000) {
      stats_.state = "idle";
      stats_.current_job.clear();
    }
    frames_at_last_heartbeat_ = stats_.frames_done;
    last_heartbeat_ms_ = now;
    protocol::send_message(registry_, protocol::Heartbeat{config_.name, stats_});
  }

  void process(const protocol::Frame& received, protocol::Inbound& message) {
    const protocol::Frame* frame = &received;
    std::string why;
    learn_shared_memory(*frame);
    const protocol::SharedMemory* shared = nullptr;
    filters::PlanarImage image;
    if ((!frame->shared_name.empty() && !(shared = shared_frame(*frame, why))) ||
        !check_frame(*frame, message.payload, shared, image, why)) {
      return message.discard("a frame message: " + why);
    }
    if (config_.fault == "hold-frames") {
      ++stats_.frames_done;  // looks busy to the registry, answers nothing
      return;
    }
    const auto started = std::chrono::steady_clock::now();
    filters::Chain* chain = chains_.get(frame->chain, why);
    zmq::message_t pixels(filters::yuv420p_size(frame->out_width, frame->out_height));
    auto* out = static_cast<uint8_t*>(pixels.data());
    try {
      if (!chain) throw std::invalid_argument(why);
      processor_.process(image, *chain, frame->out_width, frame->out_height, out);
    } catch (const std::exception& e) {
      untrusted_log_.error("worker {}: job {} frame {}: {}", config_.name, frame->job_id,
                           frame->index, e.what());
      send_ready(1, false, {}, -1, 0);
      return;
    }
    const auto filter_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now() - started)
                               .count();
    protocol::Result result{frame->job_id,
                            frame->index,
                            frame->pts,
                            frame->out_width,
                            frame->out_height,
                            config_.name,
                            filter_us,
                            {},
                            {},
                            {}};
    protocol::Parts out_parts;
    out_parts.push_back(protocol::pack(result));
    out_parts.push_back(std::move(pixels));
    // Blocks while the sink is slow or away: back-pressure, not loss. Heartbeats pause meanwhile,
    // which is what a stalled worker should look like.
    while (!protocol::send(results_, out_parts, true)) {
      if (stop_requested()) return;
      keep_alive();
      read_registry();
      zmq::pollitem_t item{results_.handle(), 0, ZMQ_POLLOUT, 0};
      protocol::poll(&item, 1, std::chrono::milliseconds(200));
    }
    ++stats_.frames_done;
    if (shared) ++stats_.frames_shared;
    stats_.state = "busy";
    stats_.current_job = frame->job_id;
    stats_.filter_ms = 0.9 * stats_.filter_ms + 0.1 * (filter_us / 1000.0);
    stats_.filter_latency.observe(filter_us / 1000.0);
    last_frame_done_ms_ = now_ms();
    send_ready(1, false, frame->job_id, frame->index, filter_us);
  }

  // A segment: decoded, filtered and encoded here; the encoded packets go to the sink.
  void process_segment(const protocol::Segment& segment, protocol::Inbound& message) {
    std::string why;
    auto input = open_segment(segment, message.payload, limits_, why);
    if (!input) return message.discard("a segment message: " + why);
    say_progress(segment, true);
    if (config_.fault == "hold-frames") {  // as if stuck from its first frame
      ++stats_.frames_done;
      return;
    }
    const auto started = std::chrono::steady_clock::now();
    filters::Chain* chain = chains_.get(segment.chain, why);
    EncodedSegment encoded;
    try {
      if (!chain) throw std::invalid_argument(why);
      encoded = transcode_segment(input->job, input->plan, input->packets, limits_, *chain,
                                  processor_, [this, &segment] {
                                    // A segment takes seconds: the registry must keep hearing us,
                                    // and we must keep hearing it.
                                    keep_alive();
                                    read_registry();
                                    say_progress(segment, false);
                                  });
    } catch (const std::exception& e) {
      // Said to the sink, which fails the job with the reason: the same segment would fail the
      // same way on any worker.
      untrusted_log_.error("worker {}: job {} segment {}: {}", config_.name, segment.job_id,
                           segment.index, e.what());
      protocol::SegmentResult failure;
      failure.job_id = segment.job_id;
      failure.index = segment.index;
      failure.worker = config_.name;
      failure.error = std::string(e.what()).substr(0, 300);
      if (failure.error.empty()) failure.error = "the segment could not be transcoded";
      protocol::Parts parts;
      parts.push_back(protocol::pack(failure));
      parts.emplace_back();
      protocol::send(results_, parts, true);  // lost when the sink is away: the deadline resends
      send_ready(1, false, segment.job_id, segment.index, 0);
      return;
    }
    const auto transcode_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count();
    auto [result, packets] = segment_result(encoded, segment, config_.name);
    result.transcode_us = transcode_us;
    protocol::Parts parts;
    parts.push_back(protocol::pack(result));
    parts.push_back(std::move(packets));
    while (!protocol::send(results_, parts, true)) {
      if (stop_requested()) return;
      keep_alive();
      read_registry();
      zmq::pollitem_t item{results_.handle(), 0, ZMQ_POLLOUT, 0};
      protocol::poll(&item, 1, std::chrono::milliseconds(200));
    }
    stats_.frames_done += encoded.frames;
    stats_.state = "busy";
    stats_.current_job = segment.job_id;
    const double per_frame_ms = transcode_us / 1000.0 / std::max<int64_t>(1, encoded.frames);
    stats_.filter_ms = 0.9 * stats_.filter_ms + 0.1 * per_frame_ms;
    stats_.filter_latency.observe(per_frame_ms);
    last_frame_done_ms_ = now_ms();
    send_ready(1, false, segment.job_id, segment.index, transcode_us);
  }

  Config config_;
  media::Limits limits_;  // of what a segment may make this worker decode: the ventilator's
  std::string registry_host_;
  zmq::context_t context_{1};
  zmq::socket_t registry_;  // DEALER to the registry; owned by this thread like every socket here
  zmq::socket_t frames_;    // DEALER to the ventilator
  zmq::socket_t results_;   // PUSH to the sink
  std::string frames_endpoint_;
  std::string results_endpoint_;
  int heartbeat_ms_ = protocol::kHeartbeatIntervalMs;
  int liveness_ = protocol::kHeartbeatLiveness;
  int reconnect_delay_ms_ = protocol::kReconnectMinMs;
  int64_t last_registry_answer_ms_ = 0;
  int64_t next_heartbeat_ms_ = 0;
  int64_t next_reconnect_ms_ = 0;
  int64_t last_heartbeat_ms_ = 0;
  int64_t last_frame_done_ms_ = 0;
  int64_t last_progress_ms_ = 0;
  int64_t frames_at_last_heartbeat_ = 0;
  protocol::WorkerStats stats_;
  // Frames by reference: the ventilator instance whose probe this worker read (0: none), its
  // probe's name, an instance whose probe it could not read, and the objects it has mapped.
  uint64_t shared_token_ = 0;
  std::string shared_probe_;
  uint64_t refused_token_ = 0;
  struct Mapping {
    protocol::SharedMemory memory;
    int64_t used_ms = 0;
  };
  std::map<std::string, Mapping> mappings_;
  int64_t last_mapping_sweep_ms_ = 0;
  ProcessSampler sampler_;
  ChainCache chains_;
  filters::FrameProcessor processor_;
  protocol::LogThrottle untrusted_log_;  // lines about what peers send
  // The inbound paths from the registry and from the ventilator (set up once the name is known).
  std::optional<protocol::Dispatcher> registry_inbound_;
  std::optional<protocol::Dispatcher> frames_inbound_;
};

}  // namespace

int run(Config config) {
  // Debian's OpenCV runs on TBB, where 0 means "all cores", not "none": ask for exactly N.
  cv::setNumThreads(std::max(1, config.threads));
  Worker worker(std::move(config));
  return worker.run();
}

}  // namespace framepipe::worker
