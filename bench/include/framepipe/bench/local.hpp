// The plain single-process loop a user would otherwise write: decode, the same OpenCV chain,
// encode, one frame after another. It is the bench's baseline and the integration tests'
// reference, built from the same decoder, filter and encoder code as the cluster.
#pragma once
#include <string>

#include "framepipe/media/av.hpp"
#include "framepipe/media/writer.hpp"

namespace framepipe::bench {

struct LocalConfig {
  std::string input;
  std::string output;
  std::string chain = "copy";
  media::EncoderSettings encoder;
  int filter_threads = 1;  // OpenCV threads
  media::Limits limits;
};

struct LocalResult {
  long long frames = 0;
  double seconds = 0;
  double decode_seconds = 0;
  double filter_seconds = 0;
  double encode_seconds = 0;
};

// Throws media::MediaError, or std::invalid_argument for a bad chain.
LocalResult process_locally(const LocalConfig& config);

}  // namespace framepipe::bench
