#include "baselines.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <regex>
#include <sstream>
#include <stdexcept>

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

#include "framepipe/chain/geometry.hpp"
#include "framepipe/filters/convert.hpp"
#include "framepipe/media/av.hpp"
#include "framepipe/media/decoder.hpp"
#include "framepipe/protocol/formats.hpp"
#include "process.hpp"

namespace framepipe::bench {
namespace {

constexpr std::size_t kErrorTailBytes = 1500;
constexpr auto kGenerateTimeout = std::chrono::seconds(1800);

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string failure(const std::string& what, const Completed& completed,
                    const std::string& log_path) {
  return what + " " + describe_wait_status(completed.wait_status) + ": " +
         read_tail(log_path, kErrorTailBytes);
}

}  // namespace

std::optional<std::string> ffmpeg_filter_for(const chain::ChainSpec& chain) {
  std::vector<std::string> steps;
  for (const auto& step : chain) {
    if (step.name == "copy") continue;
    if (step.name == "grayscale") {
      steps.push_back("format=gray");
    } else if (step.name == "blur") {
      steps.push_back("gblur=sigma=" + number(step.param("sigma")));
    } else if (step.name == "edges") {
      steps.push_back("edgedetect");
    } else if (step.name == "invert") {
      steps.push_back("negate");
    } else if (step.name == "sepia") {
      // The same classic matrix as framepipe's sepia filter.
      steps.push_back(
          "colorchannelmixer=rr=0.393:rg=0.769:rb=0.189:gr=0.349:gg=0.686:gb=0.168:br=0.272:"
          "bg=0.534:bb=0.131");
    } else if (step.name == "scale") {
      auto side = [](double value) { return value < 0 ? std::string("-2") : number(value); };
      steps.push_back("scale=" + side(step.param("width")) + ":" + side(step.param("height")));
    } else if (step.name == "rotate") {
      const double angle = step.param("angle");
      if (angle == 90) {
        steps.push_back("transpose=1");
      } else if (angle == 180) {
        steps.push_back("hflip,vflip");
      } else if (angle == 270) {
        steps.push_back("transpose=2");
      } else {
        return std::nullopt;
      }
    } else {
      return std::nullopt;  // sharpen, pixelate, faceblur: no ffmpeg filter does the same
    }
  }
  std::string joined;
  for (const auto& step : steps) joined += (joined.empty() ? "" : ",") + step;
  return joined;
}

GenerateSpec parse_generate_spec(const std::string& text) {
  // 1080p30:20s | 720p25:2m | 320x240p25:3s (the "p" before the rate is optional after WxH)
  static const std::regex pattern(
      R"(^(?:(\d+)x(\d+)p?|(\d+)p)(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)(s|m)?$)");
  std::smatch match;
  if (!std::regex_match(text, match, pattern)) {
    throw std::invalid_argument("--generate " + text +
                                ": expected HEIGHTpRATE:DURATION (1080p30:20s, 720p25:2m) or "
                                "WIDTHxHEIGHTpRATE:DURATION (320x240p25:3s)");
  }
  GenerateSpec spec;
  spec.text = text;
  if (match[3].matched) {
    spec.height = std::stoi(match[3]);
    spec.width = static_cast<int>(std::lround(spec.height * 16.0 / 9.0 / 2.0)) * 2;
  } else {
    spec.width = std::stoi(match[1]);
    spec.height = std::stoi(match[2]);
  }
  spec.rate = std::stod(match[4]);
  spec.seconds = std::stod(match[5]) * (match[6] == "m" ? 60 : 1);
  if (spec.width < 16 || spec.height < 16 || spec.width > 7680 || spec.height > 4320 ||
      spec.width % 2 || spec.height % 2) {
    throw std::invalid_argument("--generate " + text + ": size must be even, 16x16 to 7680x4320");
  }
  if (spec.rate <= 0 || spec.rate > 240 || spec.seconds <= 0 || spec.seconds > 3600) {
    throw std::invalid_argument("--generate " + text +
                                ": rate must be in (0, 240], duration in (0, 1 h]");
  }
  return spec;
}

std::string generate_input(const GenerateSpec& spec, const std::string& cache_dir,
                           const std::string& log_path) {
  std::filesystem::create_directories(cache_dir);
  const std::string name = "testsrc2-" + std::to_string(spec.width) + "x" +
                           std::to_string(spec.height) + "-" + number(spec.rate) + "fps-" +
                           number(spec.seconds) + "s-gop2s.mp4";
  const std::string path = cache_dir + "/" + name;
  if (std::filesystem::exists(path)) return path;
  const std::string partial = path + ".partial.mp4";
  const std::vector<std::string> command = {
      "ffmpeg", "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i",
      "testsrc2=size=" + std::to_string(spec.width) + "x" + std::to_string(spec.height) +
          ":rate=" + number(spec.rate),
      "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", number(spec.seconds),
      "-c:v", "libx264", "-preset", "veryfast",
      // A keyframe every 2 seconds, as cameras and phones
      // write them (and what segments are cut at).
      "-g", number(2 * spec.rate), "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", partial};
  const Completed completed = run_to_end(command, log_path, kGenerateTimeout);
  if (!completed.succeeded()) {
    std::filesystem::remove(partial);
    throw std::runtime_error(failure("generating the input with ffmpeg", completed, log_path));
  }
  std::filesystem::rename(partial, path);
  return path;
}

InputInfo probe_input(const std::string& path, const chain::ChainSpec& chain) {
  InputInfo input;
  input.path = path;
  input.bytes = static_cast<long long>(std::filesystem::file_size(path));
  const media::Limits limits;
  chain::OutputPlan plan;
  {
    media::Decoder decoder(path, limits, 1);
    const auto& info = decoder.info();
    plan = chain::plan_output(chain, {{info.width, info.height},
                                      {info.sample_aspect.num, info.sample_aspect.den},
                                      info.pixel_format});
    input.width = info.width;
    input.height = info.height;
    input.duration = info.duration_seconds;
    input.codec = info.codec;
    input.pixel_format = info.pixel_format;
    input.audio_codec = info.audio_codec;
    const media::FramePtr frame = decoder.next();
    if (!frame) throw std::runtime_error(path + ": no decodable video frame");
    // What the ventilator sends: the planes of the frame as decoded (or converted), padding
    // included, since the message holds the frame's own buffers.
    const auto format = static_cast<AVPixelFormat>(frame->format);
    ptrdiff_t linesizes[4] = {};
    for (int i = 0; i < 4; ++i) linesizes[i] = frame->linesize[i];
    size_t sizes[4] = {};
    if (av_image_fill_plane_sizes(sizes, format, frame->height, linesizes) >= 0) {
      for (const size_t size : sizes) input.bytes_to_worker += static_cast<long long>(size);
    }
    const char* name = av_get_pix_fmt_name(format);
    input.wire_pixel_format = name ? name : "unknown";
  }
  input.out_width = plan.size.width;
  input.out_height = plan.size.height;
  input.bytes_to_sink =
      static_cast<long long>(filters::yuv420p_size(plan.size.width, plan.size.height));
  // A chain that leaves yuv420p pixels alone skips the workers: the decoder's planes go from the
  // ventilator straight to the sink.
  if (plan.passes_through) {
    input.bytes_to_sink = input.bytes_to_worker;
    input.bytes_to_worker = 0;
  }

  // The first audio stream's channels, as the sink's Writer takes that stream.
  media::FormatContextPtr format_context = media::open_input(path, limits);
  for (unsigned index = 0; index < format_context->nb_streams; ++index) {
    const AVCodecParameters& parameters = *format_context->streams[index]->codecpar;
    if (parameters.codec_type != AVMEDIA_TYPE_AUDIO) continue;
    input.audio_channels = parameters.ch_layout.nb_channels;
    break;
  }

  // Frames: video packets, counted by demuxing only (one packet is one frame for the codecs a
  // camera or an encoder writes into MP4/MKV; the cluster's own count is in each run).
  const int stream =
      av_find_best_stream(format_context.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream < 0) throw std::runtime_error(path + ": no video stream");
  media::PacketPtr packet = media::make_packet();
  while (av_read_frame(format_context.get(), packet.get()) >= 0) {
    if (packet->stream_index == stream) ++input.frames;
    av_packet_unref(packet.get());
  }
  return input;
}

FfmpegBaseline ffmpeg_command(const BaselineSettings& settings, const InputInfo& input,
                              const chain::ChainSpec& chain) {
  const protocol::OutputFormat* format = protocol::find_output_format(settings.format);
  if (format == nullptr) {
    const protocol::FormatRequest unknown{
        .format = settings.format, .chain_is_copy = true, .has_audio = std::nullopt};
    throw std::invalid_argument("--format: " + protocol::format_refusal(unknown).value());
  }
  const bool audio_only = format->kind == protocol::MediaKind::audio;
  FfmpegBaseline baseline;
  const auto filter = ffmpeg_filter_for(chain);
  baseline.equivalent_filter = filter.has_value();
  baseline.video_filter = audio_only ? "" : filter.value_or("");
  auto add = [&baseline](std::initializer_list<std::string> words) {
    baseline.command.insert(baseline.command.end(), words);
  };
  add({"ffmpeg", "-nostdin", "-y", "-v", "error", "-i", settings.input});
  if (audio_only) {
    add({"-vn"});
  } else {
    if (!baseline.video_filter.empty()) add({"-vf", baseline.video_filter});
    add({"-c:v", std::string(format->video_encoder)});
    if (format->takes_job_quality) {
      add({"-preset", settings.preset, "-crf", std::to_string(settings.crf)});
    }
    // ":v": an option such as "b" (bit rate) exists for audio encoders too.
    for (const auto& [key, value] : format->video_options) {
      add({"-" + std::string(key) + ":v", std::string(value)});
    }
    add({"-pix_fmt", "yuv420p"});
  }
  // The sink's Writer: copied when the format holds the codec, else encoded at the format's rate,
  // mono stays mono, anything else becomes stereo.
  if (!input.audio_codec.empty()) {
    if (protocol::holds_audio(*format, input.audio_codec)) {
      add({"-c:a", "copy"});
    } else {
      add({"-c:a", std::string(format->audio_encoder)});
      const bool mono = input.audio_channels == 1;
      const int64_t bit_rate = mono ? format->audio_bit_rate_mono : format->audio_bit_rate_stereo;
      if (bit_rate > 0) add({"-b:a", std::to_string(bit_rate)});
      if (input.audio_channels > 0) add({"-ac", mono ? "1" : "2"});
    }
  }
  for (const auto& [key, value] : format->muxer_options) {
    add({"-" + std::string(key), std::string(value)});
  }
  add({settings.work_dir + "/ffmpeg-out." + std::string(format->extension)});

  std::string how;
  if (audio_only) {
    how = "the sound track alone (-vn), as the sink writes an audio format";
  } else if (format->video_encoder == "libx264") {
    how = "threads: ffmpeg's default (all cores for decoding, filtering and x264)";
  } else if (format->video_encoder == "libvpx-vp9") {
    // libavcodec gives libvpx g_threads = the core count (at most 16) for threads 0 ("auto"), the
    // ffmpeg CLI's default and the sink's (--encoder-threads 0).
    how =
        "threads: ffmpeg's default (all cores for decoding and filtering; libvpx-vp9 with as many "
        "threads as cores, up to 16, row-mt 1, as the sink's encoder has them; a worker encoding "
        "segments uses one)";
  } else {
    how = "threads: ffmpeg's default";
  }
  how += "; " + std::string(format->name) + " from the format table";
  if (!audio_only) how += ", -pix_fmt yuv420p";
  if (!format->muxer_options.empty()) how += " and the muxer options";
  how += " as the sink writes it; ";
  baseline.note = how + (audio_only        ? std::string("no video")
                         : !filter         ? "no equivalent filter: a plain transcode"
                         : filter->empty() ? "no filter (copy)"
                                           : "equivalent filter " + *filter +
                                                 (filter->find("edgedetect") != std::string::npos
                                                      ? " (edgedetect's thresholds are its own, "
                                                        "not Canny's)"
                                                      : ""));
  return baseline;
}

BaselineSample run_ffmpeg(const std::vector<std::string>& command, const std::string& log_path,
                          std::chrono::seconds timeout) {
  const Completed completed = run_to_end(command, log_path, timeout);
  if (!completed.succeeded()) throw std::runtime_error(failure("ffmpeg", completed, log_path));
  BaselineSample sample;
  sample.seconds = completed.seconds;
  sample.peak_memory_bytes = completed.peak_memory_bytes;
  sample.cpu_seconds = completed.cpu_seconds;
  return sample;
}

std::vector<std::string> single_process_command(const std::string& executable,
                                                const BaselineSettings& settings) {
  const protocol::OutputFormat* format = protocol::find_output_format(settings.format);
  const std::string extension(format != nullptr ? format->extension : settings.format);
  return {
      executable, "process",       settings.input, settings.work_dir + "/single-out." + extension,
      "--format", settings.format, "--filters",    settings.chain,
      "--preset", settings.preset, "--crf",        std::to_string(settings.crf)};
}

BaselineSample run_single_process(const std::vector<std::string>& command,
                                  const std::string& log_path, std::chrono::seconds timeout) {
  std::filesystem::remove(log_path);
  const Completed completed = run_to_end(command, log_path, timeout);
  if (!completed.succeeded()) {
    throw std::runtime_error(failure("framepipe process", completed, log_path));
  }
  BaselineSample sample;
  sample.seconds = completed.seconds;
  sample.peak_memory_bytes = completed.peak_memory_bytes;
  sample.cpu_seconds = completed.cpu_seconds;
  // "300 frames in 4.10 s (73.2 frames/s): decode 0.91 s, filter 0.50 s, encode 2.60 s"
  std::ifstream log(log_path);
  std::string line;
  bool found = false;
  while (std::getline(log, line)) {
    double total = 0;
    double rate = 0;
    if (std::sscanf(line.c_str(),
                    "%lld frames in %lf s (%lf frames/s): decode %lf s, filter %lf s, "
                    "encode %lf s",
                    &sample.frames, &total, &rate, &sample.decode_seconds, &sample.filter_seconds,
                    &sample.encode_seconds) == 6) {
      found = true;
    }
  }
  if (!found) {
    throw std::runtime_error("framepipe process did not print its timings: " +
                             read_tail(log_path, kErrorTailBytes));
  }
  return sample;
}

}  // namespace framepipe::bench
