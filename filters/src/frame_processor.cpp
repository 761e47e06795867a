#include "framepipe/filters/frame_processor.hpp"

#include <stdexcept>
#include <string>

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
}

namespace framepipe::filters {

PlanarImage planar_view(const AVFrame& frame, const protocol::ColorInfo& color) {
  PlanarImage image;
  const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame.format));
  image.pixel_format = name != nullptr ? name : "";
  image.width = frame.width;
  image.height = frame.height;
  image.color = color;
  for (int i = 0; i < 4; ++i) {
    image.data[i] = frame.data[i];
    image.linesize[i] = frame.linesize[i];
  }
  return image;
}

void FrameProcessor::process(const PlanarImage& image, Chain& chain, int out_width, int out_height,
                             uint8_t* out) {
  // Pixels the chain leaves alone skip the round trip through BGR: exact and much cheaper.
  const bool same_size =
      image.width - image.width % 2 == out_width && image.height - image.height % 2 == out_height;
  if (chain::is_identity(chain.spec()) && same_size) {
    converter_.copy_to_yuv420p(image, out);
    return;
  }
  cv::Mat result = chain.apply(converter_.to_bgr(image));
  if (result.cols != out_width || result.rows != out_height) {
    throw std::runtime_error("the chain made " + std::to_string(result.cols) + "x" +
                             std::to_string(result.rows) + " frames, expected " +
                             std::to_string(out_width) + "x" + std::to_string(out_height));
  }
  converter_.to_yuv420p(result, image.color, out);
}

}  // namespace framepipe::filters
