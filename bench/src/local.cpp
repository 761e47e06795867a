#include "framepipe/bench/local.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <vector>

#include <opencv2/core.hpp>

#include "framepipe/chain/chain.hpp"
#include "framepipe/chain/geometry.hpp"
#include "framepipe/filters/frame_processor.hpp"
#include "framepipe/media/decoder.hpp"
#include "framepipe/media/remux.hpp"

namespace framepipe::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string lower_case(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool has_audio_stream(const std::string& path, const media::Limits& limits) {
  const media::FormatContextPtr input = media::open_input(path, limits);
  return av_find_best_stream(input.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0) >= 0;
}

}  // namespace

const protocol::OutputFormat& output_format_of(const LocalConfig& config) {
  if (config.format.empty()) {
    const protocol::OutputFormat* by_name = protocol::format_for_file_name(config.output);
    return by_name != nullptr ? *by_name : *protocol::find_output_format(protocol::kDefaultFormat);
  }
  const std::string name = lower_case(config.format);
  const protocol::OutputFormat* format = protocol::find_output_format(name);
  if (format == nullptr) {
    const protocol::FormatRequest unknown{
        .format = name, .chain_is_copy = true, .has_audio = std::nullopt};
    throw std::invalid_argument("--format: " + protocol::format_refusal(unknown).value());
  }
  return *format;
}

LocalResult process_locally(const LocalConfig& config) {
  const auto started = Clock::now();
  auto parsed = chain::parse_chain(config.chain);
  if (!parsed.ok()) throw std::invalid_argument(parsed.error);
  const protocol::OutputFormat& format = output_format_of(config);
  const bool audio_only = format.kind == protocol::MediaKind::audio;
  const protocol::FormatRequest request{
      .format = format.name,
      .chain_is_copy = chain::is_identity(parsed.chain),
      .has_audio =
          audio_only ? std::optional(has_audio_stream(config.input, config.limits)) : std::nullopt};
  if (auto refusal = protocol::format_refusal(request)) throw std::invalid_argument(*refusal);
  if (audio_only) {  // the sound track alone, as the sink writes it: no video is decoded
    const media::RemuxOutcome outcome =
        media::remux(config.input, config.output, format.name, config.limits);
    LocalResult result;
    result.seconds = seconds_since(started);
    result.encode_seconds = result.seconds;
    result.format = format.name;
    result.audio_mode = outcome.audio_mode;
    return result;
  }
  cv::setNumThreads(std::max(1, config.filter_threads));  // TBB: 0 would mean all cores
  filters::Chain chain(parsed.chain);

  media::Decoder decoder(config.input, config.limits);
  const auto& info = decoder.info();
  const chain::OutputPlan plan =
      chain::plan_output(parsed.chain, {{info.width, info.height},
                                        {info.sample_aspect.num, info.sample_aspect.den},
                                        info.pixel_format});
  const chain::Size out = plan.size;
  media::OutputSpec spec;
  spec.path = config.output;
  spec.format = format.name;
  spec.width = out.width;
  spec.height = out.height;
  spec.time_base = info.time_base;
  spec.frame_rate = info.frame_rate;
  spec.color = info.color;
  spec.sample_aspect = {plan.sample_aspect.num, plan.sample_aspect.den};
  spec.audio_source = config.input;
  spec.encoder = config.encoder;
  media::Writer writer(spec, config.limits);

  filters::FrameProcessor processor;
  std::vector<uint8_t> pixels(filters::yuv420p_size(out.width, out.height));
  media::FramePtr encoded = media::make_frame();
  LocalResult result;
  while (true) {
    auto step = Clock::now();
    media::FramePtr frame = decoder.next();
    result.decode_seconds += seconds_since(step);
    if (!frame) break;
    step = Clock::now();
    processor.process(filters::planar_view(*frame, info.color), chain, out.width, out.height,
                      pixels.data());
    result.filter_seconds += seconds_since(step);
    step = Clock::now();
    const int luma = out.width * out.height;
    encoded->format = AV_PIX_FMT_YUV420P;
    encoded->width = out.width;
    encoded->height = out.height;
    encoded->data[0] = pixels.data();
    encoded->data[1] = pixels.data() + luma;
    encoded->data[2] = pixels.data() + luma + luma / 4;
    encoded->linesize[0] = out.width;
    encoded->linesize[1] = out.width / 2;
    encoded->linesize[2] = out.width / 2;
    encoded->pts = frame->pts;
    writer.write(encoded.get());
    result.encode_seconds += seconds_since(step);
    ++result.frames;
  }
  const auto step = Clock::now();
  writer.finish();
  result.encode_seconds += seconds_since(step);
  result.seconds = seconds_since(started);
  result.format = format.name;
  result.audio_mode = writer.audio_mode();
  return result;
}

}  // namespace framepipe::bench
