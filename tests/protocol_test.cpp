#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "framepipe/protocol/codec.hpp"
#include "framepipe/protocol/log_throttle.hpp"
#include "framepipe/protocol/net.hpp"
#include "framepipe/protocol/shared_memory.hpp"

using namespace framepipe::protocol;

namespace {

template <class M>
std::optional<M> round_trip(const M& message) {
  zmq::message_t packed = pack(message);
  auto envelope = open(packed);
  REQUIRE(envelope);
  REQUIRE(envelope->type() == M::type);
  return envelope->template body<M>();
}

zmq::message_t pack_raw(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& write) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  write(packer);
  return zmq::message_t(buffer.data(), buffer.size());
}

}  // namespace

TEST_CASE("frame header survives a round trip", "[protocol]") {
  Frame frame;
  frame.job_id = "abc";
  frame.index = 1234567890123;
  frame.pts = -42;
  frame.width = 1920;
  frame.height = 1080;
  frame.pixel_format = "yuv420p";
  frame.linesizes = {1920, 960, 960};
  frame.plane_sizes = {1920 * 1080, 960 * 540, 960 * 540};
  frame.color = ColorInfo{1, 1, 1, 1};
  frame.chain = "blur=sigma=2";
  frame.out_width = 1280;
  frame.out_height = 720;
  auto back = round_trip(frame);
  REQUIRE(back);
  CHECK(back->job_id == "abc");
  CHECK(back->index == 1234567890123);
  CHECK(back->pts == -42);
  CHECK(back->linesizes == frame.linesizes);
  CHECK(back->plane_sizes == frame.plane_sizes);
  CHECK(back->color == frame.color);
  CHECK(back->chain == frame.chain);
  CHECK(back->out_width == 1280);
}

TEST_CASE("every control message survives a round trip", "[protocol]") {
  CHECK(round_trip(Hello{"w1", "host", 12, 4, "0.1.0"})->name == "w1");
  CHECK(round_trip(Welcome{"tcp://*:1", "tcp://*:2", 1000, 3})->results_endpoint == "tcp://*:2");
  WorkerList list;
  list.workers.push_back(WorkerInfo{"w", "h", 1, 2, "v", WorkerStats{}, 5, 6});
  list.dead = {"x"};
  auto back = round_trip(list);
  REQUIRE(back->workers.size() == 1);
  CHECK(back->workers[0].last_heartbeat_ms_ago == 5);
  CHECK(back->dead == std::vector<std::string>{"x"});
  CHECK(round_trip(JobProgress{"j", JobState::done, 10, 10, 2.5, "", 99, 1.0})->output_bytes == 99);
  CHECK(round_trip(Ready{"w", 2, true, "j", 7, 100, 0})->idle);
  CHECK(round_trip(SubmitReply{})->accepted == false);
  SubmitReply busy;
  busy.retry_later = true;
  CHECK(round_trip(busy)->retry_later);
  CHECK_FALSE(round_trip(SubmitReply{})->retry_later);
  CHECK(round_trip(SubmitJob{"j", "/in", "/out", "copy", "veryfast", 20, "webm"})->format ==
        "webm");
  CHECK(round_trip(SubmitJob{})->format == "mp4");
  JobStart start;
  start.format = "flac";
  CHECK(round_trip(start)->format == "flac");
}

TEST_CASE("a subscription prefix selects exactly its message type", "[protocol]") {
  const std::string encoded = subscription(Type::frames_encoded);
  const auto starts_with = [](const zmq::message_t& message, const std::string& prefix) {
    return message.size() >= prefix.size() &&
           std::memcmp(message.data(), prefix.data(), prefix.size()) == 0;
  };
  auto ack = pack(FramesEncoded{"job", 12});
  CHECK(starts_with(ack, encoded));
  JobProgress progress;
  progress.frames_done = 12;
  CHECK_FALSE(starts_with(pack(progress), encoded));
  CHECK_FALSE(starts_with(pack(SinkAlive{}), encoded));
  CHECK(starts_with(pack(JobProgress{}), subscription(Type::job_progress)));
  CHECK(starts_with(pack(SinkAlive{}), subscription(Type::sink_alive)));
  auto back = round_trip(FramesEncoded{"job", 12});
  REQUIRE(back);
  CHECK(back->frames_done == 12);
  Pong pong;
  pong.jobs = {"a", "b"};
  CHECK(round_trip(pong)->jobs == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a body of another type is refused", "[protocol]") {
  auto packed = pack(Ping{7});
  auto envelope = open(packed);
  REQUIRE(envelope);
  std::string why;
  CHECK_FALSE(envelope->body<Pong>(&why));
  CHECK_THAT(why, Catch::Contains("unexpected"));
}

TEST_CASE("a different protocol version is refused with a reason", "[protocol]") {
  auto packed = pack_raw([](auto& packer) {
    packer.pack_array(4);
    packer.pack(std::string(kSignature));
    packer.pack(kVersion + 1);
    packer.pack(static_cast<uint8_t>(Type::ping));
    packer.pack(Ping{1});
  });
  std::string why;
  CHECK_FALSE(open(packed, &why));
  CHECK_THAT(why, Catch::Contains("version"));
}

TEST_CASE("bad signature, unknown type and wrong shapes are refused", "[protocol]") {
  std::string why;
  auto wrong_signature = pack_raw([](auto& packer) {
    packer.pack_array(4);
    packer.pack(std::string("XYZ"));
    packer.pack(kVersion);
    packer.pack(static_cast<uint8_t>(Type::ping));
    packer.pack(Ping{1});
  });
  CHECK_FALSE(open(wrong_signature, &why));
  auto unknown_type = pack_raw([](auto& packer) {
    packer.pack_array(4);
    packer.pack(std::string(kSignature));
    packer.pack(kVersion);
    packer.pack(static_cast<uint8_t>(200));
    packer.pack(Ping{1});
  });
  CHECK_FALSE(open(unknown_type, &why));
  auto not_array = pack_raw([](auto& packer) { packer.pack(42); });
  CHECK_FALSE(open(not_array, &why));
  // A body whose fields have the wrong types converts to nothing.
  auto wrong_body = pack_raw([](auto& packer) {
    packer.pack_array(4);
    packer.pack(std::string(kSignature));
    packer.pack(kVersion);
    packer.pack(static_cast<uint8_t>(Type::frame));
    packer.pack_array(2);
    packer.pack(std::string("job"));
    packer.pack(std::string("not a number"));
  });
  auto envelope = open(wrong_body, &why);
  REQUIRE(envelope);
  CHECK_FALSE(envelope->body<Frame>(&why));
}

TEST_CASE("truncated messages are refused, never crash", "[protocol]") {
  Frame frame;
  frame.job_id = "job";
  frame.linesizes = {1, 2, 3};
  auto packed = pack(frame);
  const auto* bytes = static_cast<const uint8_t*>(packed.data());
  for (std::size_t length = 0; length < packed.size(); ++length) {
    std::string why;
    CHECK_FALSE(open(bytes, length, &why));
  }
}

TEST_CASE("random garbage is refused, never crashes", "[protocol]") {
  std::mt19937 random(1234);
  std::vector<uint8_t> bytes;
  int opened = 0;
  for (int round = 0; round < 20000; ++round) {
    bytes.resize(1 + random() % 300);
    for (auto& byte : bytes) byte = static_cast<uint8_t>(random());
    if (round % 2) bytes[0] = 0x94;  // a 4-element array, to get past the first check
    std::string why;
    if (auto envelope = open(bytes.data(), bytes.size(), &why)) {
      ++opened;
      (void)envelope->body<Frame>(&why);
    }
  }
  CHECK(opened < 20000);
}

TEST_CASE("oversized envelopes are refused before parsing", "[protocol]") {
  std::vector<uint8_t> huge(kMaxEnvelopeBytes + 1, 0x90);
  std::string why;
  CHECK_FALSE(open(huge.data(), huge.size(), &why));
}

TEST_CASE("a client counts in its IPv4 address or its IPv6 /64", "[protocol]") {
  using framepipe::protocol::client_network;
  CHECK(client_network("192.0.2.7") == "192.0.2.7");
  CHECK(client_network("::ffff:192.0.2.7") == "192.0.2.7");
  CHECK(client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(client_network("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64");
  CHECK(client_network("2001:DB8:1:2::9") == "2001:db8:1:2::/64");
  CHECK(client_network("fe80::1%eth0") == "fe80::/64");
  CHECK(client_network("::1") == "::/64");
  CHECK(client_network("") == "");
  CHECK(client_network("not an address") == "not an address");
  CHECK(client_network("1:2:3") == "1:2:3");
}

TEST_CASE("endpoints parse and wildcards resolve", "[protocol]") {
  auto endpoint = parse_tcp_endpoint("tcp://10.0.0.5:5555");
  REQUIRE(endpoint);
  CHECK(endpoint->host == "10.0.0.5");
  CHECK(endpoint->port == 5555);
  CHECK_FALSE(parse_tcp_endpoint("udp://x:1"));
  CHECK_FALSE(parse_tcp_endpoint("tcp://x:0"));
  CHECK_FALSE(parse_tcp_endpoint("tcp://x:99999"));
  CHECK_FALSE(parse_tcp_endpoint("tcp://x:12ab"));
  CHECK(resolve_wildcard("tcp://*:5556", "head.lan") == "tcp://head.lan:5556");
  CHECK(resolve_wildcard("tcp://0.0.0.0:5556", "10.1.1.1") == "tcp://10.1.1.1:5556");
  CHECK(resolve_wildcard("tcp://other:5556", "10.1.1.1") == "tcp://other:5556");
  CHECK(tcp_endpoint("::1", 80) == "tcp://[::1]:80");
}

TEST_CASE("a log throttle lets a burst through per interval and counts the rest", "[protocol]") {
  LogThrottle throttle(3, std::chrono::seconds(10));
  const auto start = LogThrottle::Clock::now();
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) admitted += throttle.admit(start) ? 1 : 0;
  CHECK(admitted == 3);
  CHECK(throttle.dropped() == 997);
  CHECK(throttle.admit(start + std::chrono::seconds(11)));
}

namespace {

// A shared-memory object's name, unlinked when the guard goes, whichever way the test ends.
class ShmName {
 public:
  explicit ShmName(std::string name) : name_(std::move(name)) {
    ::shm_unlink(name_.c_str());  // left by an earlier run that had the same pid
  }
  ShmName(const ShmName&) = delete;
  ShmName& operator=(const ShmName&) = delete;
  ~ShmName() { ::shm_unlink(name_.c_str()); }
  const std::string& str() const { return name_; }

 private:
  std::string name_;
};

// A name of this test run (a parallel run has another pid) that no framepipe process uses.
std::string test_name(const std::string& tag) {
  return "/framepipe-test-" + std::to_string(getpid()) + "-" + tag;
}

bool in_dev_shm(const std::string& name) {
  return std::filesystem::exists("/dev/shm" + name);
}

// Makes an object by hand, as a process that is later killed would leave it (nothing unlinks it).
void create_by_hand(const std::string& name) {
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, 4096) == 0);
  ::close(fd);
}

// The permissions ("rw-s", "r--s", ...) of this process's mapping that holds `address`.
std::string mapping_permissions(const void* address) {
  const auto target = reinterpret_cast<uintptr_t>(address);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range;
    std::string permissions;
    fields >> range >> permissions;
    const auto dash = range.find('-');
    const uintptr_t start = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (target >= start && target < end) return permissions;
  }
  return "";
}

}  // namespace

TEST_CASE("shared memory: create then open sees the same bytes, read-only", "[shared_memory]") {
  const ShmName name(test_name("bytes"));
  constexpr std::size_t kSize = 10'000;  // not a whole number of pages
  SharedMemory created = SharedMemory::create(name.str(), kSize);
  REQUIRE(created.data() != nullptr);
  CHECK(created.size() == kSize);
  CHECK(created.name() == name.str());
  CHECK(in_dev_shm(name.str()));
  CHECK(mapping_permissions(created.data()) == "rw-s");
  CHECK(std::all_of(created.data(), created.data() + kSize,
                    [](uint8_t byte) { return byte == 0; }));  // a new object reads as zeros
  for (std::size_t index = 0; index < kSize; ++index) {
    created.data()[index] = static_cast<uint8_t>(index * 7 + 3);
  }

  const SharedMemory opened = SharedMemory::open(name.str());
  REQUIRE(opened.data() != nullptr);
  CHECK(opened.size() == kSize);  // from fstat, not from the caller
  CHECK(opened.name() == name.str());
  CHECK(opened.data() != created.data());  // a mapping of its own
  CHECK(mapping_permissions(opened.data()) == "r--s");
  CHECK(std::memcmp(opened.data(), created.data(), kSize) == 0);
  CHECK(opened.data()[kSize - 1] == static_cast<uint8_t>((kSize - 1) * 7 + 3));
  // The same pages, not a copy: later writes show through.
  created.data()[1234] = 0xAB;
  CHECK(opened.data()[1234] == 0xAB);
}

TEST_CASE("shared memory: create refuses an existing name and keeps its object",
          "[shared_memory]") {
  const ShmName name(test_name("exists"));
  SharedMemory first = SharedMemory::create(name.str(), 4096);
  first.data()[0] = 42;
  try {
    SharedMemory::create(name.str(), 8192);
    FAIL("create of an existing name succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == EEXIST);
  }
  CHECK(in_dev_shm(name.str()));  // the failed create unlinked nothing
  const SharedMemory opened = SharedMemory::open(name.str());
  CHECK(opened.size() == 4096);
  CHECK(opened.data()[0] == 42);
}

TEST_CASE("shared memory: a failed create leaves no object behind", "[shared_memory]") {
  const ShmName name(test_name("empty"));
  CHECK_THROWS_AS(SharedMemory::create(name.str(), 0), std::system_error);
  CHECK_FALSE(in_dev_shm(name.str()));
}

TEST_CASE("shared memory: open of a missing name throws", "[shared_memory]") {
  const ShmName name(test_name("missing"));
  try {
    SharedMemory::open(name.str());
    FAIL("open of a missing name succeeded");
  } catch (const std::system_error& e) {
    CHECK(e.code().value() == ENOENT);
  }
}

TEST_CASE("shared memory: the creator unlinks its object, moves pass that on", "[shared_memory]") {
  const ShmName first_name(test_name("owner-a"));
  const ShmName second_name(test_name("owner-b"));

  SECTION("destroyed") {
    {
      const SharedMemory memory = SharedMemory::create(first_name.str(), 4096);
      CHECK(in_dev_shm(first_name.str()));
    }
    CHECK_FALSE(in_dev_shm(first_name.str()));
  }

  SECTION("an opener does not unlink") {
    const SharedMemory memory = SharedMemory::create(first_name.str(), 4096);
    { const SharedMemory opened = SharedMemory::open(first_name.str()); }
    CHECK(in_dev_shm(first_name.str()));
  }

  SECTION("move construction") {
    std::optional<SharedMemory> source(SharedMemory::create(first_name.str(), 4096));
    uint8_t* const data = source->data();
    data[10] = 99;
    std::optional<SharedMemory> target(std::move(*source));
    CHECK(target->data() == data);
    CHECK(target->size() == 4096);
    CHECK(target->name() == first_name.str());
    CHECK(target->data()[10] == 99);
    source.reset();  // the moved-from object
    CHECK(in_dev_shm(first_name.str()));
    CHECK(target->data()[10] == 99);  // still mapped
    target.reset();
    CHECK_FALSE(in_dev_shm(first_name.str()));
  }

  SECTION("move assignment") {
    std::optional<SharedMemory> source(SharedMemory::create(first_name.str(), 4096));
    std::optional<SharedMemory> target(SharedMemory::create(second_name.str(), 8192));
    *target = std::move(*source);
    CHECK_FALSE(in_dev_shm(second_name.str()));  // the target's own object went
    CHECK(target->name() == first_name.str());
    CHECK(target->size() == 4096);
    source.reset();
    CHECK(in_dev_shm(first_name.str()));
    target.reset();
    CHECK_FALSE(in_dev_shm(first_name.str()));
  }
}

TEST_CASE("shared memory names are checked before use", "[shared_memory]") {
  const std::string pid = std::to_string(getpid());
  CHECK(shared_memory_prefix() == "/framepipe-" + pid + "-");
  CHECK(is_shared_job_prefix(shared_memory_prefix() + "7-"));
  CHECK_FALSE(is_shared_job_prefix(shared_memory_prefix()));

  CHECK(is_shared_job_prefix("/framepipe-12-3-"));
  CHECK(is_shared_frame_name("/framepipe-12-3-45", "/framepipe-12-3-"));
  CHECK(is_shared_frame_name("/framepipe-12-3-0", "/framepipe-12-3-"));

  SECTION("job prefixes") {
    CHECK_FALSE(is_shared_job_prefix(""));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-12-"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-12-3"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-12-3-4-"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-12--"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe--3-"));
    CHECK_FALSE(is_shared_job_prefix("framepipe-12-3-"));
    CHECK_FALSE(is_shared_job_prefix("/other-12-3-"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-1a-3-"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-12-x-"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-12-3-/../"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-12-probe"));
    const std::string twenty(20, '9');
    CHECK(is_shared_job_prefix("/framepipe-" + twenty + "-" + twenty + "-"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-" + twenty + "1-3-"));
    CHECK_FALSE(is_shared_job_prefix("/framepipe-12-" + twenty + "1-"));
  }

  SECTION("frame names") {
    const std::string prefix = "/framepipe-12-3-";
    CHECK_FALSE(is_shared_frame_name("", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-3-45", ""));
    CHECK_FALSE(is_shared_frame_name("", ""));
    CHECK_FALSE(is_shared_frame_name(prefix, prefix));  // no number
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-4-45", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-13-3-45", prefix));
    CHECK_FALSE(is_shared_frame_name("/other-12-3-45", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-3-4/../x", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-3-4/x", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-3-4a", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-3-a4", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-3-4-", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-3- 4", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-3-45", "/framepipe-12-3"));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-probe", prefix));
    CHECK_FALSE(is_shared_frame_name("/framepipe-12-probe", "/framepipe-12-"));
    CHECK(is_shared_frame_name(prefix + std::string(20, '9'), prefix));
    CHECK_FALSE(is_shared_frame_name(prefix + std::string(21, '9'), prefix));
    CHECK_FALSE(is_shared_frame_name(prefix + std::string(200, '1'), prefix));
  }

  SECTION("probe names") {
    CHECK(shared_probe_name("/framepipe-12-3-") ==
          std::optional<std::string>("/framepipe-12-probe"));
    CHECK(shared_probe_name(shared_memory_prefix() + "0-") ==
          std::optional<std::string>("/framepipe-" + pid + "-probe"));
    CHECK_FALSE(shared_probe_name(""));
    CHECK_FALSE(shared_probe_name("/framepipe-12-"));
    CHECK_FALSE(shared_probe_name("/framepipe-12-3"));
    CHECK_FALSE(shared_probe_name("/framepipe-12-3-4"));
    CHECK_FALSE(shared_probe_name("/framepipe-12-probe"));
    CHECK_FALSE(shared_probe_name("/other-12-3-"));
  }
}

TEST_CASE("orphaned shared memory of dead processes is removed, of live ones kept",
          "[shared_memory]") {
  // A process that is gone (reaped, so its pid names no process).
  const pid_t dead = fork();
  REQUIRE(dead >= 0);
  if (dead == 0) _exit(0);
  int status = 0;
  REQUIRE(waitpid(dead, &status, 0) == dead);

  // A live process other than this one: waits until its pipe closes.
  int pipe_ends[2];
  REQUIRE(pipe(pipe_ends) == 0);
  const pid_t alive = fork();
  REQUIRE(alive >= 0);
  if (alive == 0) {
    ::close(pipe_ends[1]);
    char byte = 0;
    while (::read(pipe_ends[0], &byte, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  ::close(pipe_ends[0]);
  struct Reaper {
    int pipe_end;
    pid_t child;
    ~Reaper() {
      ::close(pipe_end);  // the child's read returns and it exits
      waitpid(child, nullptr, 0);
    }
  } reaper{pipe_ends[1], alive};

  const std::string dead_pid = std::to_string(dead);
  const ShmName dead_frame("/framepipe-" + dead_pid + "-1-0");
  const ShmName dead_probe("/framepipe-" + dead_pid + "-probe");
  const ShmName not_ours("/notframepipe-" + dead_pid + "-1-0");
  const ShmName own_frame("/framepipe-" + std::to_string(getpid()) + "-1-0");
  const ShmName live_frame("/framepipe-" + std::to_string(alive) + "-1-0");
  for (const ShmName* name : {&dead_frame, &dead_probe, &not_ours, &own_frame, &live_frame}) {
    create_by_hand(name->str());
    REQUIRE(in_dev_shm(name->str()));
  }

  // Other runs' orphans may go too, so at least these two.
  CHECK(remove_orphaned_shared_memory() >= 2);
  CHECK_FALSE(in_dev_shm(dead_frame.str()));
  CHECK_FALSE(in_dev_shm(dead_probe.str()));
  CHECK(in_dev_shm(not_ours.str()));
  CHECK(in_dev_shm(own_frame.str()));
  CHECK(in_dev_shm(live_frame.str()));
}

TEST_CASE("job states and abort reasons travel as integers, others are malformed", "[protocol]") {
  JobProgress progress;
  progress.state = JobState::canceled;
  CHECK(round_trip(progress)->state == JobState::canceled);
  const auto abort = round_trip(JobAbort{"j", AbortReason::failed, "cannot decode"});
  CHECK(abort->reason == AbortReason::failed);
  CHECK(abort->message == "cannot decode");
  CHECK(round_trip(JobAbort{"j", AbortReason::canceled, {}})->reason == AbortReason::canceled);
  // An envelope of `type` whose body is [job id, value].
  auto job_and = [](Type type, const auto& value) {
    return pack_raw([&](auto& packer) {
      packer.pack_array(4);
      packer.pack(kSignature);
      packer.pack(kVersion);
      packer.pack(static_cast<uint8_t>(type));
      packer.pack_array(2);
      packer.pack(std::string("j"));
      packer.pack(value);
    });
  };
  for (const int64_t state : {-1, 4, 255, 1000}) {
    auto packed = job_and(Type::job_progress, state);
    auto envelope = open(packed);
    REQUIRE(envelope);
    std::string why;
    CHECK_FALSE(envelope->body<JobProgress>(&why));
    CHECK_THAT(why, Catch::Contains("malformed"));
  }
  // The old spelling (version 1, a string) is malformed too.
  auto packed = job_and(Type::job_abort, std::string("canceled"));
  CHECK_FALSE(open(packed)->body<JobAbort>());
  CHECK(to_string(JobState::running) == "running");
}
