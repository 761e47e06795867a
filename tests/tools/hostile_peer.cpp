// A hostile peer for integration tests: connects to each of a cluster's ZeroMQ endpoints the way
// a real node would and sends garbage: random bytes, truncated and oversized envelopes, a wrong
// protocol version, well-formed frames and results whose planes do not match their headers, and
// heartbeats naming a real worker (which the registry must refuse from another peer).
// Usage: hostile_peer BASE_PORT [ROUNDS]
//
// `hostile_peer head BASE_PORT` turns the tables: it poses as a head (registry, ventilator and
// sink on BASE..BASE+2 of 127.0.0.1) for one real worker, deals it lying frames, then one honest
// frame, and exits 0 only if the worker filtered the honest one correctly after all the lies.
//
// `hostile_peer segments BASE_PORT CLIP` poses as a head the same way and deals the worker lying
// segments (see segment_lies), then the honest first segment of CLIP (an H.264 file), and exits 0
// only if the worker refused every lie and transcoded the honest segment.
//
// `hostile_peer shared BASE_PORT JOB_ID INDEX WIDTH HEIGHT PREFIX` lies to the sink about the
// shared memory of a running copy job (see lie_about_shared_memory).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "framepipe/media/decoder.hpp"
#include "framepipe/media/segments.hpp"
#include "framepipe/protocol/codec.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/ventilator/segment_message.hpp"

using namespace framepipe::protocol;
namespace media = framepipe::media;
namespace ventilator = framepipe::ventilator;

namespace {

zmq::message_t random_bytes(std::mt19937& random, std::size_t size) {
  zmq::message_t message(size);
  auto* bytes = static_cast<uint8_t*>(message.data());
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(random());
  return message;
}

void send_parts(zmq::socket_t& socket, Parts parts) {
  send(socket, parts, true);
}

Frame gray_frame(int size) {
  Frame frame;
  frame.job_id = "job";
  frame.width = size;
  frame.height = size;
  frame.pixel_format = "yuv420p";
  frame.linesizes = {size, size / 2, size / 2};
  frame.plane_sizes = {int64_t{size} * size, int64_t{size} * size / 4, int64_t{size} * size / 4};
  frame.chain = "invert";
  frame.out_width = size;
  frame.out_height = size;
  return frame;
}

Parts frame_parts(const Frame& frame, const std::vector<std::size_t>& plane_bytes,
                  const std::string& worker) {
  Parts parts;
  parts.emplace_back(worker.data(), worker.size());
  parts.push_back(pack(frame));
  for (std::size_t bytes : plane_bytes) {
    zmq::message_t plane(bytes);
    std::memset(plane.data(), 100, bytes);
    parts.push_back(std::move(plane));
  }
  return parts;
}

// The lies a hostile ventilator can tell a worker; each must be refused without harm.
std::vector<Parts> lies(const std::string& worker, std::mt19937& random) {
  const Frame honest = gray_frame(64);
  const std::vector<std::size_t> planes = {4096, 1024, 1024};
  std::vector<Parts> out;
  auto lie = [&](auto change, std::vector<std::size_t> bytes) {
    Frame frame = honest;
    change(frame);
    out.push_back(frame_parts(frame, bytes, worker));
  };
  lie([](Frame&) {}, {100, 1024, 1024});         // planes smaller than the header says
  lie([](Frame&) {}, {4096, 1024});              // a plane missing
  lie([](Frame&) {}, {4096, 1024, 1024, 1024});  // a plane too many
  lie([](Frame& f) { f.width = f.height = 1 << 20; }, planes);  // absurd dimensions
  lie([](Frame& f) { f.width = -64; }, planes);
  lie([](Frame& f) { f.out_width = 1 << 20; }, planes);
  lie([](Frame& f) { f.out_width = 63; }, planes);  // odd output size for yuv420p
  lie([](Frame& f) { f.pixel_format = "evil"; }, planes);
  lie([](Frame& f) { f.pixel_format = "vaapi"; }, planes);  // a hardware surface
  lie([](Frame& f) { f.pixel_format = "pal8"; }, planes);   // palette: not a plain picture
  lie([](Frame& f) { f.linesizes = {8, 4, 4}; }, planes);   // rows shorter than the width
  lie([](Frame& f) { f.linesizes = {64, 32}; }, planes);
  lie([](Frame& f) { f.plane_sizes = {4096, 1024, 1 << 30}; }, planes);
  lie([](Frame& f) { f.chain = "nosuchfilter"; }, planes);
  lie([](Frame& f) { f.chain = "scale=width=60000:height=60000"; }, planes);
  lie([](Frame& f) { f.chain = "pixelate=block=0,blur=sigma=100000"; }, planes);
  // Frames by reference from a "ventilator" whose probe the worker never read (there is none):
  // no part, the planes said to be in shared memory.
  for (const std::string name : {"/framepipe-1-1-0", "/etc/passwd", "/framepipe-1-1-0/../x"}) {
    lie(
        [&](Frame& f) {
          f.shared_prefix = "/framepipe-1-1-";
          f.shared_token = 42;
          f.shared_name = name;
          f.offsets = {0, 4096, 5120};
        },
        {});
  }
  for (int i = 0; i < 5; ++i) {  // garbage
    Parts parts;
    parts.emplace_back(worker.data(), worker.size());
    parts.push_back(random_bytes(random, random() % 300));
    out.push_back(std::move(parts));
  }
  return out;
}

// The head's side of a worker's handshake, for one real worker: the registry welcomes its hello
// and acknowledges its heartbeats, the frames socket counts its Readies (one when it joins, then
// one per message it handled or refused) and learns its routing id, the results socket is read by
// the scenario.
class FakeHead {
 public:
  explicit FakeHead(int base)
      : registry_(context_, zmq::socket_type::router),
        frames_(context_, zmq::socket_type::router),
        results_(context_, zmq::socket_type::pull) {
    auto endpoint = [&](int offset) { return tcp_endpoint("127.0.0.1", base + offset); };
    for (auto* socket : {&registry_, &frames_, &results_}) socket->set(zmq::sockopt::linger, 0);
    registry_.bind(endpoint(kRegistryPortOffset));
    frames_.bind(endpoint(kFramesPortOffset));
    results_.bind(endpoint(kResultsPortOffset));
    welcome_ = Welcome{endpoint(kFramesPortOffset), endpoint(kResultsPortOffset), 500, 100};
  }

  // Waits up to 100 ms for any socket, then answers the registry and counts Readies.
  void poll_once() {
    zmq::pollitem_t items[] = {{registry_.handle(), 0, ZMQ_POLLIN, 0},
                               {frames_.handle(), 0, ZMQ_POLLIN, 0},
                               {results_.handle(), 0, ZMQ_POLLIN, 0}};
    poll(items, 3, std::chrono::milliseconds(100));
    while (auto parts = receive(registry_)) {  // hello and heartbeats: always welcome
      if (parts->size() != 2) continue;
      auto envelope = open((*parts)[1]);
      if (!envelope) continue;
      const std::string peer = (*parts)[0].to_string();
      if (envelope->type() == Type::hello) send_to(registry_, peer, welcome_);
      if (envelope->type() == Type::heartbeat) send_to(registry_, peer, HeartbeatAck{});
    }
    while (auto parts = receive(frames_)) {
      if (parts->size() != 2 || !open((*parts)[1])) continue;
      ++readies_;
      if (worker_.empty()) worker_ = (*parts)[0].to_string();
    }
  }

  // Sends to the worker: `parts` start with its routing id.
  void deal(Parts& parts) { send(frames_, parts, true); }
  std::optional<Parts> result() { return receive(results_); }
  const std::string& worker() const { return worker_; }
  int readies() const { return readies_; }

 private:
  zmq::context_t context_{1};
  zmq::socket_t registry_;  // ROUTER: hello, heartbeats
  zmq::socket_t frames_;    // ROUTER: Readies in, frames and segments out
  zmq::socket_t results_;   // PULL: the worker's results
  Welcome welcome_;
  std::string worker_;
  int readies_ = 0;
};

int pose_as_head(int base) {
  using Clock = std::chrono::steady_clock;
  FakeHead head(base);
  std::mt19937 random(7);
  int lies_told = 0;
  bool honest_sent = false;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    head.poll_once();
    const std::string& worker = head.worker();
    if (lies_told == 0 && !worker.empty()) {
      for (auto& lie : lies(worker, random)) {
        head.deal(lie);
        ++lies_told;
      }
    }
    // Every lie answered with a Ready (the worker asks for a frame instead of each bad one):
    // now the honest frame.
    if (!honest_sent && lies_told > 0 && head.readies() > lies_told) {
      Frame frame = gray_frame(64);
      frame.index = 7;
      Parts parts = frame_parts(frame, {4096, 1024, 1024}, worker);
      head.deal(parts);
      honest_sent = true;
    }
    while (auto parts = head.result()) {
      auto envelope = parts->empty() ? std::nullopt : open(parts->front());
      auto result = envelope ? envelope->body<Result>() : std::nullopt;
      if (!result || parts->size() != 2) {
        std::fprintf(stderr, "the worker sent a malformed result\n");
        return 1;
      }
      const auto* pixels = static_cast<const uint8_t*>((*parts)[1].data());
      const bool right = result->index == 7 && result->width == 64 && result->height == 64 &&
                         (*parts)[1].size() == 64 * 64 * 3 / 2 && pixels[0] > 140 &&
                         pixels[0] < 170;  // grey 100 inverted (limited or full range)
      std::printf(
          "%d lies told, %d readies, then the honest frame came back %s (index %lld, "
          "%dx%d, %zu bytes, first luma %d)\n",
          lies_told, head.readies(), right ? "right" : "wrong",
          static_cast<long long>(result->index), result->width, result->height, (*parts)[1].size(),
          pixels[0]);
      return right ? 0 : 1;
    }
  }
  std::fprintf(stderr, "timed out: worker %s, %d lies told, %d readies, honest frame %s\n",
               head.worker().empty() ? "never came" : "came", lies_told, head.readies(),
               honest_sent ? "sent" : "not sent");
  return 1;
}

// The first segment of a real clip, as the ventilator would send it.
struct HonestSegment {
  Segment message;
  std::vector<uint8_t> packets;  // the message's one part
};

HonestSegment honest_segment(const std::string& clip) {
  const media::Limits limits;
  const media::SegmentedVideo plan = media::plan_segments(clip, limits, media::SegmentLimits{1});
  if (!plan.refusal.empty() || plan.segments.empty()) {
    throw std::runtime_error(clip + " cannot be cut into segments: " + plan.refusal);
  }
  media::SegmentReader reader(clip, limits, plan);
  auto packets = reader.next();
  if (!packets) throw std::runtime_error(clip + " has no first segment");
  const media::VideoInfo info = media::Decoder(clip, limits, 1).info();
  ventilator::SegmentedJob job;
  job.job_id = "hostile-segments";
  job.parameters = &reader.parameters();
  job.time_base = reader.time_base();
  job.frame_rate = info.frame_rate;
  job.color = info.color;
  job.chain = "grayscale";
  job.out_width = info.width;
  job.out_height = info.height;
  job.sample_aspect = {1, 1};
  job.preset = "veryfast";
  job.crf = 20;
  auto [message, part] =
      ventilator::segment_message(job, plan.segments[0], plan.segments.size() == 1, *packets);
  const auto* bytes = static_cast<const uint8_t*>(part.data());
  return {std::move(message), std::vector<uint8_t>(bytes, bytes + part.size())};
}

// A segment message that lies, and what the lie is (printed if the worker takes it).
struct SegmentLie {
  std::string what;
  Segment message;
  std::vector<std::vector<uint8_t>> parts;  // after the envelope
  // Only decoding can tell: the worker may find a frame in garbage and return it.
  bool may_decode = false;
};

// The lies a hostile ventilator can tell a worker about a segment. Each is numbered (index 1000 +
// its rank) so that a result for one names it. Most are refused before anything is decoded; the
// first and the last few get past open_segment and fail when decoded, filtered or encoded (the
// worker logs an error and gives the credit back). The worker logs a few lines per 10 s about
// what peers send: the order puts one of each kind in the test's log.
std::vector<SegmentLie> segment_lies(const HonestSegment& honest, std::mt19937& random) {
  std::vector<SegmentLie> out;
  const auto lie_with = [&](std::string what, const std::function<void(Segment&)>& change,
                            std::vector<std::vector<uint8_t>> parts) {
    Segment message = honest.message;
    message.index = 1000 + static_cast<int64_t>(out.size());
    change(message);
    out.push_back({std::move(what), std::move(message), std::move(parts), false});
  };
  const auto lie = [&](std::string what, const std::function<void(Segment&)>& change) {
    lie_with(std::move(what), change, {honest.packets});
  };
  const int64_t count = static_cast<int64_t>(honest.message.packet_sizes.size());
  if (count < 2) throw std::runtime_error("the clip's first segment has fewer than 2 packets");

  std::vector<uint8_t> garbage(honest.packets.size());
  for (auto& byte : garbage) byte = static_cast<uint8_t>(random());
  lie_with("garbage bytes as packets, with a valid description", [](Segment&) {}, {garbage});
  out.back().may_decode = true;

  lie("packet sizes that overrun the part", [](Segment& s) { s.packet_sizes.back() += 1000; });
  lie("one packet as large as the part plus one", [&](Segment& s) {
    s.packet_sizes.front() = static_cast<int64_t>(honest.packets.size()) + 1;
  });
  lie("a packet size of 2^62", [](Segment& s) { s.packet_sizes.back() = int64_t{1} << 62; });
  lie("a negative packet size", [](Segment& s) { s.packet_sizes.front() = -5; });
  lie("a negative packet size the next one makes up for", [](Segment& s) {
    s.packet_sizes[1] += s.packet_sizes[0] + 5;
    s.packet_sizes[0] = -5;
  });
  lie("the smallest int64 as a packet size",
      [](Segment& s) { s.packet_sizes.front() = std::numeric_limits<int64_t>::min(); });
  lie("a zero packet size", [](Segment& s) {
    s.packet_sizes[1] += s.packet_sizes[0];
    s.packet_sizes[0] = 0;
  });
  lie("bytes after the last packet", [](Segment& s) { s.packet_sizes.back() -= 1; });
  lie("fewer pts than packets", [](Segment& s) { s.packet_pts.pop_back(); });
  lie("more dts than packets", [](Segment& s) { s.packet_dts.push_back(0); });
  lie("no flags", [](Segment& s) { s.packet_flags.clear(); });
  lie("one size too many", [](Segment& s) { s.packet_sizes.push_back(1); });
  lie_with("no packet",
           [](Segment& s) {
             s.packet_sizes.clear();
             s.packet_pts.clear();
             s.packet_dts.clear();
             s.packet_flags.clear();
           },
           {{}});
  lie_with("the packets in no part", [](Segment&) {}, {});
  lie_with("the packets split over two parts", [](Segment&) {},
           {std::vector<uint8_t>(honest.packets.begin(),
                                 honest.packets.begin() + honest.message.packet_sizes.front()),
            std::vector<uint8_t>(honest.packets.begin() + honest.message.packet_sizes.front(),
                                 honest.packets.end())});
  lie("codec rawvideo", [](Segment& s) { s.codec = "rawvideo"; });
  lie("codec png", [](Segment& s) { s.codec = "png"; });
  lie("an empty codec name", [](Segment& s) { s.codec.clear(); });
  lie("a codec name with a newline", [](Segment& s) { s.codec = "h264\nworker: all good"; });
  lie("frames 100000x100000", [](Segment& s) { s.width = s.height = 100000; });
  lie("frames 16384x16384 (above the pixel limit)", [](Segment& s) { s.width = s.height = 16384; });
  lie("a negative width", [](Segment& s) { s.width = -320; });
  lie("a zero height", [](Segment& s) { s.height = 0; });
  lie("output 100000x100000", [](Segment& s) { s.out_width = s.out_height = 100000; });
  lie("an odd output width", [](Segment& s) { s.out_width = 321; });
  lie("a negative output height", [](Segment& s) { s.out_height = -240; });
  lie("an unknown pixel format", [](Segment& s) { s.pixel_format = "evil"; });
  lie("a frame count of 2^40", [](Segment& s) { s.frames = int64_t{1} << 40; });
  lie("a negative frame count", [](Segment& s) { s.frames = -1; });
  lie("a frame count of 0", [](Segment& s) { s.frames = 0; });
  lie("more frames than packets", [&](Segment& s) { s.frames = count + 1; });
  lie("end_pts equal to start_pts", [](Segment& s) { s.end_pts = s.start_pts; });
  lie("end_pts before start_pts", [](Segment& s) {  // the first segment starts at INT64_MIN
    s.start_pts = 1000;
    s.end_pts = 999;
  });
  lie("the widest range backwards", [](Segment& s) {
    s.start_pts = std::numeric_limits<int64_t>::max();
    s.end_pts = std::numeric_limits<int64_t>::min();
  });
  lie("a segment that is not the last, without an end", [](Segment& s) {
    s.last = false;
    s.end_pts = std::numeric_limits<int64_t>::max();
  });
  lie("a packet 2^62 ticks out", [](Segment& s) { s.packet_pts.back() = int64_t{1} << 62; });
  lie("an unknown output format", [](Segment& s) { s.format = "nosuchformat"; });
  lie("a format name that is a path", [](Segment& s) { s.format = "../../etc/passwd"; });
  lie("an audio format", [](Segment& s) { s.format = "mp3"; });
  lie("AVI (frames on the sink's grid)", [](Segment& s) { s.format = "avi"; });
  lie("a zero time base denominator", [](Segment& s) { s.time_base_den = 0; });
  lie("a negative time base numerator", [](Segment& s) { s.time_base_num = -1; });
  lie("a zero frame rate denominator", [](Segment& s) { s.rate_den = 0; });
  lie("a negative frame rate", [](Segment& s) { s.rate_num = -25; });
  lie("crf 99", [](Segment& s) { s.crf = 99; });
  lie("crf -1", [](Segment& s) { s.crf = -1; });
  lie("100 KiB of extradata", [](Segment& s) { s.extradata.assign(100 * 1024, 0); });

  // Past open_segment: only the decoder, the chain or the encoder refuses them.
  lie("garbage extradata", [&](Segment& s) {
    for (auto& byte : s.extradata) byte = static_cast<uint8_t>(random());
  });
  out.back().may_decode = true;
  lie("an unknown filter in the chain", [](Segment& s) { s.chain = "nosuchfilter"; });
  lie("a chain that scales to 60000x60000",
      [](Segment& s) { s.chain = "scale=width=60000:height=60000"; });
  lie("an unknown encoder preset", [](Segment& s) { s.preset = "nosuchpreset"; });
  return out;
}

Parts segment_parts(const std::string& worker, const Segment& message,
                    const std::vector<std::vector<uint8_t>>& payload) {
  Parts parts;
  parts.emplace_back(worker.data(), worker.size());
  parts.push_back(pack(message));
  for (const auto& part : payload) parts.emplace_back(part.data(), part.size());
  return parts;
}

// Poses as a head that deals a real worker segments of `clip`: every lie of segment_lies, then
// the honest first segment, which must come back transcoded (as many frames as planned, packets
// that fill their part). A result for a lie fails the run: it names the lie the worker took.
int deal_lying_segments(int base, const std::string& clip) {
  using Clock = std::chrono::steady_clock;
  const HonestSegment honest = honest_segment(clip);
  std::mt19937 random(11);
  const std::vector<SegmentLie> lies = segment_lies(honest, random);
  FakeHead head(base);
  int lies_told = 0;
  int errors_returned = 0;
  bool honest_sent = false;
  const auto deadline = Clock::now() + std::chrono::seconds(90);
  while (Clock::now() < deadline) {
    head.poll_once();
    const std::string& worker = head.worker();
    if (lies_told == 0 && !worker.empty()) {
      for (const SegmentLie& lie : lies) {
        Parts parts = segment_parts(worker, lie.message, lie.parts);
        head.deal(parts);
        ++lies_told;
      }
    }
    if (!honest_sent && lies_told > 0 && head.readies() > lies_told) {
      Parts parts = segment_parts(worker, honest.message, {honest.packets});
      head.deal(parts);
      honest_sent = true;
    }
    while (auto parts = head.result()) {
      auto envelope = parts->empty() ? std::nullopt : open(parts->front());
      auto result = envelope ? envelope->body<SegmentResult>() : std::nullopt;
      if (!result || parts->size() != 2) {
        std::fprintf(stderr, "the worker sent a malformed segment result\n");
        return 1;
      }
      const int64_t rank = result->index - 1000;
      // A lie found out only while transcoding comes back as an error (the sink then fails the
      // job with it): refused, not taken.
      if (rank >= 0 && rank < static_cast<int64_t>(lies.size()) && !result->error.empty() &&
          result->frames == 0 && result->packet_sizes.empty() && (*parts)[1].size() == 0) {
        ++errors_returned;
        continue;
      }
      if (rank >= 0 && rank < static_cast<int64_t>(lies.size())) {
        const SegmentLie& lie = lies[static_cast<std::size_t>(rank)];
        std::fprintf(stderr, "the worker transcoded a lie: %s (%lld frames)\n", lie.what.c_str(),
                     static_cast<long long>(result->frames));
        if (lie.may_decode) continue;
        return 1;
      }
      int64_t bytes = 0;
      for (const int64_t size : result->packet_sizes) bytes += size;
      const std::size_t packets = result->packet_sizes.size();
      const bool right = result->error.empty() && result->job_id == honest.message.job_id &&
                         result->index == honest.message.index && result->frames > 0 &&
                         result->frames == honest.message.frames && packets > 0 &&
                         result->packet_pts.size() == packets &&
                         result->packet_dts.size() == packets &&
                         result->packet_flags.size() == packets && (*parts)[1].size() > 0 &&
                         static_cast<std::size_t>(bytes) == (*parts)[1].size();
      std::printf(
          "%d lying segments told (%d refused with an error the sink would fail the job with), "
          "%d readies, then the honest segment came back %s (index %lld, %lld of %lld frames, "
          "%zu packets in %zu bytes)\n",
          lies_told, errors_returned, head.readies(), right ? "right" : "wrong",
          static_cast<long long>(result->index), static_cast<long long>(result->frames),
          static_cast<long long>(honest.message.frames), packets, (*parts)[1].size());
      return right ? 0 : 1;
    }
  }
  std::fprintf(stderr, "timed out: worker %s, %d lying segments told, %d readies, honest %s\n",
               head.worker().empty() ? "never came" : "came", lies_told, head.readies(),
               honest_sent ? "sent" : "not sent");
  return 1;
}

// Results that name shared memory, sent to the sink for a real running job whose frames come by
// shared memory under `prefix`: objects outside the job's names, planes outside the object,
// malformed layouts; every one must be refused. Last, a name of the job's shape that does not
// exist: the sink stops reading the job's frames by reference, and the job must still finish
// with every frame right (the ventilator sends them again over TCP).
int lie_about_shared_memory(int base, const std::string& job, int64_t index, int width, int height,
                            const std::string& prefix) {
  zmq::context_t context(1);
  zmq::socket_t results(context, zmq::socket_type::push);
  results.set(zmq::sockopt::linger, 2000);
  results.connect(tcp_endpoint("127.0.0.1", base + kResultsPortOffset));
  const std::vector<int32_t> strides = {width, width / 2, width / 2};
  const int64_t luma = int64_t{width} * height;
  const std::vector<int64_t> offsets = {0, luma, luma + luma / 4};
  int lies = 0;
  const auto lie = [&](const std::string& name, std::vector<int32_t> linesizes,
                       std::vector<int64_t> at, int extra_parts = 0) {
    Result result;
    result.job_id = job;
    result.index = index;  // a frame the job has not received yet: a lie let in would replace it
    result.width = width;
    result.height = height;
    result.worker = "evil";
    result.linesizes = std::move(linesizes);
    result.shared_name = name;
    result.offsets = std::move(at);
    Parts parts;
    parts.push_back(pack(result));
    for (int i = 0; i < extra_parts; ++i) parts.emplace_back(16);
    send(results, parts, false);
    ++lies;
  };
  const std::string first = prefix + "0";  // the decoder's first buffer: it exists
  const std::string pid_prefix = prefix.substr(0, prefix.find('-', 11) + 1);
  for (const std::string& name : {std::string("/etc/passwd"), std::string("/framepipe-1-1-0"),
                                  pid_prefix + "probe", prefix + "0/../../etc/passwd", prefix + "x",
                                  prefix, std::string(4000, 'a'), prefix + std::string(40, '1')}) {
    lie(name, strides, offsets);
  }
  lie(first, strides, {0, luma});                               // two offsets
  lie(first, strides, {-1, luma, luma + luma / 4});             // before the object
  lie(first, strides, {0, luma, int64_t{1} << 40});             // far past it
  lie(first, strides, {0, luma, luma * 1000});                  // past it
  lie(first, {width / 2, width / 4, width / 4}, offsets);       // strides below the width
  lie(first, {width + 100000, width / 2, width / 2}, offsets);  // absurd stride
  lie(first, {width, width / 2}, offsets);                      // two strides
  lie(first, strides, offsets, 3);                              // pixels as well
  std::printf("%d lies about shared memory told for job %s\n", lies, job.c_str());
  lie(prefix + "999999", strides, offsets);  // the job's shape, no such object
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "head") return pose_as_head(std::stoi(argv[2]));
  if (argc >= 4 && std::string(argv[1]) == "segments") {
    try {
      return deal_lying_segments(std::stoi(argv[2]), argv[3]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hostile_peer segments: %s\n", e.what());
      return 2;
    }
  }
  if (argc >= 8 && std::string(argv[1]) == "shared") {
    return lie_about_shared_memory(std::stoi(argv[2]), argv[3], std::stoll(argv[4]),
                                   std::stoi(argv[5]), std::stoi(argv[6]), argv[7]);
  }
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: hostile_peer BASE_PORT [ROUNDS] | hostile_peer head BASE_PORT | "
                 "hostile_peer segments BASE_PORT CLIP | hostile_peer shared "
                 "BASE_PORT JOB_ID INDEX WIDTH HEIGHT PREFIX\n");
    return 2;
  }
  const int base = std::stoi(argv[1]);
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 200;
  std::mt19937 random(42);
  zmq::context_t context(1);
  auto endpoint = [&](int offset) { return tcp_endpoint("127.0.0.1", base + offset); };

  zmq::socket_t registry(context, zmq::socket_type::dealer);
  zmq::socket_t frames(context, zmq::socket_type::dealer);
  zmq::socket_t results(context, zmq::socket_type::push);
  zmq::socket_t control(context, zmq::socket_type::dealer);
  registry.connect(endpoint(kRegistryPortOffset));
  frames.connect(endpoint(kFramesPortOffset));
  results.connect(endpoint(kResultsPortOffset));
  control.connect(endpoint(kControlPortOffset));
  for (auto* socket : {&registry, &frames, &results, &control}) {
    socket->set(zmq::sockopt::linger, 2000);
    socket->set(zmq::sockopt::sndhwm, 100000);
  }

  Frame frame;
  frame.job_id = "no-such-job";
  frame.width = 64;
  frame.height = 64;
  frame.pixel_format = "yuv420p";
  frame.linesizes = {64, 32, 32};
  frame.plane_sizes = {4096, 1024, 1024};
  frame.chain = "copy";
  frame.out_width = 64;
  frame.out_height = 64;

  // A real worker's name, so this peer can pose as it to the registry (which must refuse).
  std::string victim;
  {
    Parts ask;
    ask.push_back(pack(ListWorkers{}));
    send(registry, ask, false);
    zmq::pollitem_t item{registry.handle(), 0, ZMQ_POLLIN, 0};
    for (int tries = 0; tries < 20 && victim.empty(); ++tries) {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      while (auto answer = receive(registry)) {
        auto envelope = answer->size() == 1 ? open(answer->front()) : std::nullopt;
        auto list = envelope ? envelope->body<WorkerList>() : std::nullopt;
        if (list && !list->workers.empty()) victim = list->workers.front().name;
      }
    }
  }

  for (int round = 0; round < rounds; ++round) {
    if (!victim.empty()) {
      WorkerStats lie;
      lie.frames_done = 999'999;
      send_parts(registry, [&] {
        Parts p;
        p.push_back(pack(Heartbeat{victim, lie}));
        return p;
      }());
    }
    for (auto* socket : {&registry, &frames, &results, &control}) {
      // Random bytes of random length, in one or several parts.
      Parts garbage;
      const int parts = 1 + static_cast<int>(random() % 4);
      for (int i = 0; i < parts; ++i) garbage.push_back(random_bytes(random, random() % 600));
      send_parts(*socket, std::move(garbage));
      // A valid envelope cut short.
      zmq::message_t whole = pack(frame);
      Parts truncated;
      truncated.emplace_back(whole.data(), random() % whole.size());
      send_parts(*socket, std::move(truncated));
    }
    // A frame header whose planes are too small for its dimensions (to the ventilator it is an
    // unexpected type; a worker-shaped peer would get it from the ventilator).
    Parts lying_frame;
    lying_frame.push_back(pack(frame));
    lying_frame.push_back(random_bytes(random, 100));
    send_parts(frames, std::move(lying_frame));
    // A result for a job that does not exist, and one with absurd dimensions.
    Parts lying_result;
    lying_result.push_back(
        pack(Result{"no-such-job", 0, 0, 1 << 20, 1 << 20, "evil", 0, {}, {}, {}}));
    lying_result.push_back(random_bytes(random, 1000));
    send_parts(results, std::move(lying_result));
    // A heartbeat for a worker nobody knows, a hello with an absurd name, a job for a file that
    // is not there and a bogus chain.
    send_parts(registry, [&] {
      Parts p;
      p.push_back(pack(Heartbeat{"stranger", WorkerStats{}}));
      return p;
    }());
    send_parts(registry, [&] {
      Parts p;
      p.push_back(pack(Hello{std::string(300, 'x'), "h", 1, 1, "v"}));
      return p;
    }());
    send_parts(control, [&] {
      Parts p;
      p.push_back(pack(SubmitJob{"evil-" + std::to_string(round), "/etc/passwd", "/tmp/x",
                                 "nosuchfilter", "veryfast", 20}));
      return p;
    }());
  }
  // Messages above the sockets' size limit: the socket refuses them (ZMQ_MAXMSGSIZE) and drops
  // the connection before buffering them, whatever they claim to be.
  static std::vector<char> oversized(kMaxMessageBytes + (1 << 20));  // zeros; sent without copies
  for (auto* socket : {&registry, &frames, &results, &control}) {
    Parts huge;
    huge.emplace_back(oversized.data(), oversized.size(), nullptr, nullptr);
    send_parts(*socket, std::move(huge));
  }
  std::printf("sent %d rounds of hostile messages and 4 oversized ones%s\n", rounds,
              victim.empty() ? "" : ", posing as a worker to the registry");
  return 0;
}
