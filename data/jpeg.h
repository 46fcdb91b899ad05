// JPEG decoding with libjpeg-turbo's libjpeg API (Debian: libjpeg62-turbo-dev), the decoder
// Pillow, and so torchvision's loader, uses, and one fuzzed upstream (OSS-Fuzz). Found at
// configure time (third_party/CMakeLists.txt, SLAB_JPEG); a build without it has no JPEG
// decoder, and both functions below then refuse every file, saying so.
//
// libjpeg's defaults are kept (accurate integer IDCT, fancy upsampling), as Pillow keeps
// them. Corrupt-data warnings are ignored as Pillow ignores them (extraneous bytes before a
// marker), except truncated data ("Premature end of JPEG file"), which Pillow also refuses
// by default. A progressive file with more than 500 scans is refused (libjpeg-turbo's own
// bound for untrusted input, TJFLAG_LIMITSCANS): each scan re-reads the whole image.
#pragma once
#include <functional>
#include <string>

#include "data/image.h"

namespace slab::data {

// Whether this build decodes JPEG (libjpeg found at configure time).
bool jpeg_decoder_built();

// Whether the file starts with a JPEG signature (SOI then a marker: FF D8 FF).
bool has_jpeg_signature(const std::string& path);

struct JpegHeader {
  int width = 0, height = 0;
  int channels = 0;  // components in the file: 1 (grey), 3 (YCbCr or RGB), 4 (CMYK or YCCK)
};

// Reads the file's markers up to its first scan: throws naming the file when it is not a
// JPEG libjpeg reads, its colour space is not one of the above, or the build has no decoder.
JpegHeader read_jpeg_header(const std::string& path);

// Decodes the file to planar RGB bytes in `out`. `check` sees the header before any pixel is
// decoded and throws to refuse it (the size limits of data/image_folder.h). CMYK (as Adobe
// files store it, inverted) becomes RGB as stb_image converts it: R = C * K / 255, and so on.
void decode_jpeg(const std::string& path, const std::function<void(const JpegHeader&)>& check, ImageU8& out);

}  // namespace slab::data
