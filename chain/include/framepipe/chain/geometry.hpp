// The output geometry of a chain: the size and sample aspect of the frames it makes, and whether
// frames may skip the workers. plan_output() is the one place that works it out for a job; the
// ventilator, the single-process loop and the bench call it, and the sink encodes what the
// ventilator's JobStart carries from it. Pure arithmetic, no pixels.
#pragma once
#include <string_view>

#include "framepipe/chain/chain.hpp"

namespace framepipe::chain {

// A picture size in pixels.
struct Size {
  int width = 0;
  int height = 0;
  bool operator==(const Size&) const = default;
};

// A sample (pixel) aspect ratio; 0:1 when unknown (then taken as square, and left unwritten).
struct SampleAspect {
  int num = 0;
  int den = 1;
  bool operator==(const SampleAspect&) const = default;
};

// The size of the frames the chain produces from frames of `input` size. Always even in both
// dimensions (4:2:0 output), at least 2x2.
Size output_size(const ChainSpec& chain, Size input);

// The sample aspect ratio of the chain's output for input frames of `input` size and ratio
// `input_aspect`: a step that resizes keeps the picture's display shape (as ffmpeg's scale
// does), a quarter turn inverts the ratio, the others keep it. Unknown stays unknown.
SampleAspect output_sample_aspect(const ChainSpec& chain, Size input, SampleAspect input_aspect);

// True when frames of `pixel_format` (libav's name) and `input` size come out of the chain as
// they went in, so they need no worker: the ventilator sends them straight to the sink.
bool passes_through(const ChainSpec& chain, std::string_view pixel_format, Size input);

// The decoded video a job starts from.
struct InputGeometry {
  Size size;
  SampleAspect sample_aspect;     // 0:1 when unknown
  std::string_view pixel_format;  // libav's name of the decoder's format
};

// What a job's chain makes of that video: the encoded frames' size and sample aspect, and
// whether frames go straight to the encoder (passes_through).
struct OutputPlan {
  Size size;
  SampleAspect sample_aspect;
  bool passes_through = false;
};

OutputPlan plan_output(const ChainSpec& chain, const InputGeometry& input);

}  // namespace framepipe::chain
