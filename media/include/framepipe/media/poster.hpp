// A poster for a file: one picture of its video from about a tenth of the way in (an audio file's
// cover art when it has no video), scaled to fit a box and written as a JPEG through one rename,
// so that a reader sees the whole file or none. For the head's library of results. Bad media and a
// failed write are values, never exceptions: a poster is an extra that must never fail a job.
#pragma once
#include <filesystem>
#include <string>
#include <variant>

#include "framepipe/media/av.hpp"

namespace framepipe::media {

struct PosterOptions {
  // The JPEG fits in max_width x max_height (each 2 to protocol::kMaxDimension) with the picture's
  // display aspect ratio (its sample aspect ratio applied) and even dimensions, and is never larger
  // than the picture is displayed.
  int max_width = 320;
  int max_height = 180;
  // libavcodec's mjpeg quantiser: 2 (best, largest) to 31.
  int jpeg_qscale = 4;
  // The picture shown at this fraction of the video's duration, at most max_seek_seconds in; the
  // first picture of a video shorter than min_seek_duration_seconds or of unknown duration.
  double position = 0.1;
  double max_seek_seconds = 10;
  double min_seek_duration_seconds = 1;
  // What one poster may cost, whatever the file, in all: packets of the video stream sent to the
  // decoder (a decoding error counts as one too), and wall time from the call, checked before
  // each packet is read. Once either is spent, the last picture decoded before the target is used;
  // with none, there is no poster. Opening the file has its own bounds (limits: probing).
  int max_packets = 2000;
  double max_seconds = 5;
  // Of the input: pixels of a picture (the video's and a cover's), streams, probing.
  Limits limits;
};

struct Poster {
  int width = 0;  // of the JPEG written
  int height = 0;
  bool from_cover = false;  // an attached picture (cover art), not a frame of a video stream
  double time_seconds = 0;  // of the frame, from the video stream's start; 0 for a cover
};

enum class NoPosterReason {
  no_picture,     // the file has neither a video stream nor a cover (audio alone): normal
  bad_input,      // the file cannot be read, or no picture of it decodes within the limits
  output_failed,  // the JPEG cannot be encoded or written at jpeg_out
};

struct NoPoster {
  NoPosterReason reason = NoPosterReason::bad_input;
  std::string message;  // a sentence for a log line or a user
};

using PosterResult = std::variant<Poster, NoPoster>;

struct PosterSize {
  int width = 0;
  int height = 0;
};

// The poster's size for a width x height picture whose pixels have the shape `sample_aspect`
// ({0,1}: square) in a max_width x max_height box: the display aspect ratio kept, even sides of 2
// or more, never wider or taller than the picture is displayed (unless that is under 2). Throws
// std::invalid_argument for an empty picture or a box under 2x2.
PosterSize poster_size(int width, int height, AVRational sample_aspect, int max_width,
                       int max_height);

// Writes a poster of `input` to `jpeg_out`: the best video stream's picture at the position
// above (a backward seek to a keyframe, then decoding forward to the target; when the seek fails
// or gives no picture, decoding from the start towards the target, which gives the first picture
// that decodes at least), else the first cover picture (also when the video's fails); scaled with
// swscale to fit the box, encoded by libavcodec's mjpeg encoder (full-range yuvj420p), written to
// a temporary file beside jpeg_out and renamed over it. jpeg_out is untouched unless a poster is
// written. Returns the Poster written or why there is none. Throws std::invalid_argument for
// options out of range or a jpeg_out without a file name, std::bad_alloc when memory runs out;
// nothing else.
PosterResult write_poster(const std::filesystem::path& input, const std::filesystem::path& jpeg_out,
                          const PosterOptions& options = {});

}  // namespace framepipe::media
