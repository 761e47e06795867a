// The pixel side of the filter chain: one Filter per catalogue entry, built on OpenCV, and Chain.
// Filters never modify their input (they may return it unchanged), and produce the same bytes
// for the same input in any process: nothing random, nothing that depends on thread scheduling.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "framepipe/filters/filters.hpp"

#ifndef FRAMEPIPE_CASCADE_DIR
#define FRAMEPIPE_CASCADE_DIR "/usr/share/opencv4/haarcascades"
#endif

namespace framepipe::filters {
namespace {

using chain::ChainSpec;
using chain::FilterStep;

constexpr const char* kFaceCascadeFile = "haarcascade_frontalface_default.xml";
// Faces are searched on a copy at most this wide: the cascade's cost grows with the area.
constexpr int kFaceDetectionWidth = 640;

// Up to twice this sigma, blurs are exact; beyond, they run on a reduced copy whose sigma is
// between this and twice this.
constexpr double kReducedBlurSigma = 6;

// cv::GaussianBlur with the kernel size it derives from sigma, except that a sigma of
// 2 * kReducedBlurSigma or more is applied to a copy reduced by an integer factor and enlarged
// back: a kernel of hundreds of taps costs seconds a frame, and a blur that wide leaves no detail
// the reduced copy could lose (it stays within 2 levels of the exact blur away from the frame's
// borders, within about 10 at them).
cv::Mat gaussian_blur(const cv::Mat& image, double sigma) {
  const int factor = static_cast<int>(sigma / kReducedBlurSigma);
  cv::Mat blurred;
  if (factor < 2) {
    cv::GaussianBlur(image, blurred, cv::Size(), sigma, sigma);
    return blurred;
  }
  const cv::Size reduced_size((image.cols + factor - 1) / factor,
                              (image.rows + factor - 1) / factor);
  cv::Mat reduced;
  cv::resize(image, reduced, reduced_size, 0, 0, cv::INTER_AREA);
  // Reducing and enlarging blur a little themselves, a variance of about factor^2 / 4.
  const double reduced_sigma = std::sqrt(sigma * sigma - factor * factor / 4.0) / factor;
  cv::GaussianBlur(reduced, reduced, cv::Size(), reduced_sigma, reduced_sigma);
  cv::resize(reduced, blurred, image.size(), 0, 0, cv::INTER_LINEAR);
  return blurred;
}

cv::Mat to_gray(const cv::Mat& frame) {
  if (frame.channels() == 1) return frame;
  cv::Mat gray;
  cv::cvtColor(frame, gray, cv::COLOR_BGR2GRAY);
  return gray;
}

cv::Mat to_bgr(const cv::Mat& frame) {
  if (frame.channels() == 3) return frame;
  cv::Mat bgr;
  cv::cvtColor(frame, bgr, cv::COLOR_GRAY2BGR);
  return bgr;
}

class CopyFilter final : public Filter {
 public:
  cv::Mat apply(const cv::Mat& frame) override { return frame; }
};

class GrayscaleFilter final : public Filter {
 public:
  cv::Mat apply(const cv::Mat& frame) override { return to_gray(frame); }
};

class BlurFilter final : public Filter {
 public:
  explicit BlurFilter(const FilterStep& step) : sigma_(step.param("sigma")) {}
  cv::Mat apply(const cv::Mat& frame) override { return gaussian_blur(frame, sigma_); }

 private:
  double sigma_;
};

class SharpenFilter final : public Filter {
 public:
  explicit SharpenFilter(const FilterStep& step)
      : amount_(step.param("amount")), sigma_(step.param("sigma")) {}
  cv::Mat apply(const cv::Mat& frame) override {
    cv::Mat sharpened;
    cv::addWeighted(frame, 1 + amount_, gaussian_blur(frame, sigma_), -amount_, 0, sharpened);
    return sharpened;
  }

 private:
  double amount_;
  double sigma_;
};

class EdgesFilter final : public Filter {
 public:
  explicit EdgesFilter(const FilterStep& step)
      : low_(step.param("low")), high_(step.param("high")) {}
  cv::Mat apply(const cv::Mat& frame) override {
    cv::Mat edges;
    cv::Canny(to_gray(frame), edges, low_, high_);
    return edges;
  }

 private:
  double low_;
  double high_;
};

class InvertFilter final : public Filter {
 public:
  cv::Mat apply(const cv::Mat& frame) override {
    cv::Mat inverted;
    cv::bitwise_not(frame, inverted);
    return inverted;
  }
};

class SepiaFilter final : public Filter {
 public:
  cv::Mat apply(const cv::Mat& frame) override {
    // The classic sepia matrix (rows give R', G', B' from R, G, B), reordered for BGR.
    static const cv::Matx33f kSepiaBgr(0.131f, 0.534f, 0.272f,   // B'
                                       0.168f, 0.686f, 0.349f,   // G'
                                       0.189f, 0.769f, 0.393f);  // R'
    cv::Mat toned;
    cv::transform(to_bgr(frame), toned, kSepiaBgr);
    return toned;
  }
};

class PixelateFilter final : public Filter {
 public:
  explicit PixelateFilter(const FilterStep& step) : block_(static_cast<int>(step.param("block"))) {}
  cv::Mat apply(const cv::Mat& frame) override {
    cv::Mat pixelated(frame.size(), frame.type());
    // Whole blocks: an area reduction by an integer factor averages each block exactly, and the
    // nearest-neighbour enlargement by the same factor paints it back.
    const int whole_columns = frame.cols / block_;
    const int whole_rows = frame.rows / block_;
    if (whole_columns > 0 && whole_rows > 0) {
      const cv::Rect whole(0, 0, whole_columns * block_, whole_rows * block_);
      cv::Mat means;
      cv::resize(frame(whole), means, cv::Size(whole_columns, whole_rows), 0, 0, cv::INTER_AREA);
      cv::Mat target = pixelated(whole);
      cv::resize(means, target, whole.size(), 0, 0, cv::INTER_NEAREST_EXACT);
    }
    // Partial blocks along the right and bottom edges.
    const cv::Rect bounds(0, 0, frame.cols, frame.rows);
    for (int y = 0; y < frame.rows; y += block_) {
      const int first_x = y < whole_rows * block_ ? whole_columns * block_ : 0;
      for (int x = first_x; x < frame.cols; x += block_) {
        const cv::Rect block = cv::Rect(x, y, block_, block_) & bounds;
        pixelated(block).setTo(cv::mean(frame(block)));
      }
    }
    return pixelated;
  }

 private:
  int block_;
};

std::shared_ptr<cv::CascadeClassifier> load_face_cascade() {
  const char* override_dir = std::getenv("FRAMEPIPE_CASCADE_DIR");
  const std::string dir =
      override_dir != nullptr && *override_dir != '\0' ? override_dir : FRAMEPIPE_CASCADE_DIR;
  const std::string path = dir + "/" + kFaceCascadeFile;
  auto cascade = std::make_shared<cv::CascadeClassifier>();
  std::string reason = "no such file";
  std::error_code error_code;
  if (std::filesystem::is_regular_file(path, error_code)) {
    reason = "not a valid cascade";
    try {
      if (cascade->load(path) && !cascade->empty()) return cascade;
    } catch (const cv::Exception& error) {
      reason = error.what();
    }
  }
  throw std::runtime_error("faceblur: cannot load the Haar cascade '" + path + "' (" + reason +
                           "); install opencv-data or set FRAMEPIPE_CASCADE_DIR to the folder "
                           "that holds " +
                           kFaceCascadeFile);
}

class FaceBlurFilter final : public Filter {
 public:
  FaceBlurFilter(const FilterStep& step, std::shared_ptr<cv::CascadeClassifier> cascade)
      : strength_(step.param("strength")),
        min_size_(step.param("min_size")),
        cascade_(std::move(cascade)) {}

  cv::Mat apply(const cv::Mat& frame) override {
    const std::vector<cv::Rect> faces = detect(frame);
    if (faces.empty()) return frame;
    cv::Mat blurred = frame.clone();
    for (const cv::Rect& face : faces) {
      cv::Mat region = blurred(face);
      gaussian_blur(region, strength_ * std::max(face.width, face.height) / 8).copyTo(region);
    }
    return blurred;
  }

 private:
  // Face rectangles in frame coordinates, enlarged to cover forehead and chin, clipped to the
  // frame, in a fixed order.
  std::vector<cv::Rect> detect(const cv::Mat& frame) {
    const cv::Mat gray = to_gray(frame);
    double scale = 1;
    cv::Mat reduced = gray;
    if (gray.cols > kFaceDetectionWidth) {
      scale = static_cast<double>(kFaceDetectionWidth) / gray.cols;
      const int height = std::max(1, static_cast<int>(std::lround(gray.rows * scale)));
      cv::resize(gray, reduced, cv::Size(kFaceDetectionWidth, height), 0, 0, cv::INTER_AREA);
    }
    cv::Mat equalized;
    cv::equalizeHist(reduced, equalized);
    const int min_side = std::max(1, static_cast<int>(std::lround(min_size_ * scale)));
    std::vector<cv::Rect> found;
    cascade_->detectMultiScale(equalized, found, 1.1, 3, 0, cv::Size(min_side, min_side));
    // The cascade runs in parallel and reports faces in a scheduling-dependent order; blurring
    // overlapping rectangles in a fixed order keeps the output byte-identical.
    std::sort(found.begin(), found.end(), [](const cv::Rect& a, const cv::Rect& b) {
      return std::tie(a.y, a.x, a.height, a.width) < std::tie(b.y, b.x, b.height, b.width);
    });
    const cv::Rect bounds(0, 0, frame.cols, frame.rows);
    std::vector<cv::Rect> faces;
    for (const cv::Rect& face : found) {
      const double left = (face.x - 0.15 * face.width) / scale;
      const double right = (face.x + 1.15 * face.width) / scale;
      const double top = (face.y - 0.25 * face.height) / scale;
      const double bottom = (face.y + 1.15 * face.height) / scale;
      const cv::Rect enlarged(
          cv::Point(static_cast<int>(std::floor(left)), static_cast<int>(std::floor(top))),
          cv::Point(static_cast<int>(std::ceil(right)), static_cast<int>(std::ceil(bottom))));
      const cv::Rect clipped = enlarged & bounds;
      if (!clipped.empty()) faces.push_back(clipped);
    }
    return faces;
  }

  double strength_;
  double min_size_;
  std::shared_ptr<cv::CascadeClassifier> cascade_;  // shared by the faceblur steps of a Chain
};

class ScaleFilter final : public Filter {
 public:
  explicit ScaleFilter(const FilterStep& step) : step_{step} {}
  cv::Mat apply(const cv::Mat& frame) override {
    // output_size of this one step is the scaled size (always even and at least 2x2).
    const cv::Size target = to_cv(chain::output_size(step_, from_cv(frame.size())));
    if (target == frame.size()) return frame;
    int interpolation = cv::INTER_LINEAR;
    if (target.width <= frame.cols && target.height <= frame.rows) {
      interpolation = cv::INTER_AREA;
    } else if (target.width >= frame.cols && target.height >= frame.rows) {
      interpolation = cv::INTER_CUBIC;
    }
    cv::Mat scaled;
    cv::resize(frame, scaled, target, 0, 0, interpolation);
    return scaled;
  }

 private:
  ChainSpec step_;
};

class RotateFilter final : public Filter {
 public:
  explicit RotateFilter(const FilterStep& step) : angle_(step.param("angle")) {}
  cv::Mat apply(const cv::Mat& frame) override {
    cv::Mat rotated;
    if (angle_ == 90) {
      cv::rotate(frame, rotated, cv::ROTATE_90_CLOCKWISE);
    } else if (angle_ == 180) {
      cv::rotate(frame, rotated, cv::ROTATE_180);
    } else {
      cv::rotate(frame, rotated, cv::ROTATE_90_COUNTERCLOCKWISE);
    }
    return rotated;
  }

 private:
  double angle_;
};

std::unique_ptr<Filter> make_filter(const FilterStep& step,
                                    const std::shared_ptr<cv::CascadeClassifier>& face_cascade) {
  const std::string& name = step.name;
  if (name == "copy") return std::make_unique<CopyFilter>();
  if (name == "grayscale") return std::make_unique<GrayscaleFilter>();
  if (name == "blur") return std::make_unique<BlurFilter>(step);
  if (name == "sharpen") return std::make_unique<SharpenFilter>(step);
  if (name == "edges") return std::make_unique<EdgesFilter>(step);
  if (name == "invert") return std::make_unique<InvertFilter>();
  if (name == "sepia") return std::make_unique<SepiaFilter>();
  if (name == "pixelate") return std::make_unique<PixelateFilter>(step);
  if (name == "faceblur") return std::make_unique<FaceBlurFilter>(step, face_cascade);
  if (name == "scale") return std::make_unique<ScaleFilter>(step);
  if (name == "rotate") return std::make_unique<RotateFilter>(step);
  throw std::invalid_argument("filter '" + name + "' is in the catalogue but not implemented");
}

}  // namespace

Chain::Chain(const chain::ChainSpec& spec) {
  // Going through the text validates a hand-built spec exactly like an uploaded one, and fills
  // in the parameters it leaves out.
  chain::ParseResult parsed = chain::parse_chain(chain::canonical(spec));
  if (!parsed.ok()) throw std::invalid_argument("invalid filter chain: " + parsed.error);
  spec_ = std::move(parsed.chain);
  std::shared_ptr<cv::CascadeClassifier> face_cascade;
  for (const FilterStep& step : spec_) {
    if (step.name == "faceblur" && !face_cascade) face_cascade = load_face_cascade();
    filters_.push_back(make_filter(step, face_cascade));
  }
}

Chain::~Chain() = default;
Chain::Chain(Chain&&) noexcept = default;
Chain& Chain::operator=(Chain&&) noexcept = default;

cv::Mat Chain::apply(const cv::Mat& bgr) {
  if (bgr.empty() || (bgr.type() != CV_8UC3 && bgr.type() != CV_8UC1)) {
    throw std::invalid_argument("Chain::apply needs a non-empty CV_8UC3 or CV_8UC1 image");
  }
  cv::Mat frame = bgr;
  for (const std::unique_ptr<Filter>& filter : filters_) frame = filter->apply(frame);

  // 4:2:0 output needs even sides: an odd side loses its last column or row, and a side of one
  // pixel (where cropping would leave nothing) is repeated.
  const cv::Size target = to_cv(chain::output_size(spec_, from_cv(bgr.size())));
  if (frame.cols < target.width || frame.rows < target.height) {
    cv::Mat padded;
    cv::copyMakeBorder(frame, padded, 0, std::max(0, target.height - frame.rows), 0,
                       std::max(0, target.width - frame.cols), cv::BORDER_REPLICATE);
    frame = padded;
  }
  frame = frame(cv::Rect(cv::Point(0, 0), target));
  // The caller gets its own continuous buffer, never a view of its input.
  if (frame.datastart == bgr.datastart || !frame.isContinuous()) frame = frame.clone();
  return frame;
}

}  // namespace framepipe::filters
