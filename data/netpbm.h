// Binary PGM (P5) and PPM (P6) files with 8-bit samples, read by slab itself rather than by
// stb_image, whose Netpbm reader overflows an int on a long header number, reads 16-bit
// samples in the wrong byte order and leaves the pixels of a truncated file uninitialised
// (found by fuzz/fuzz_image).
//
// Format (netpbm.sourceforge.net/doc/pgm.html, ppm.html): "P5" or "P6", then width, height
// and the maximum value as ASCII decimals, separated by whitespace and comments (from '#'
// to the end of the line), then one whitespace byte, then height * width samples (P5: one
// per pixel; P6: red, green, blue), one byte each. A maximum value from 1 to 255 is read and
// the samples are scaled to 0..255, round(v * 255 / max), as Pillow scales them; above 255
// (16-bit samples) the file is refused. Only the first image of a file is read.
#pragma once
#include <functional>
#include <string>

#include "data/image.h"

namespace slab::data {

// Whether the file starts with "P5" or "P6".
bool has_netpbm_signature(const std::string& path);

struct NetpbmHeader {
  int width = 0, height = 0;
  int channels = 0;  // 1 (P5) or 3 (P6)
  int max_value = 0;
};

// Reads the header; throws naming the file when it is malformed or its maximum value is
// not 1 to 255. Numbers longer than 9 digits are refused (no image has such a side).
NetpbmHeader read_netpbm_header(const std::string& path);

// Decodes to planar RGB bytes (grey copied to the three planes). `check` sees the header
// before any pixel is allocated; a file shorter than its header says is refused.
void decode_netpbm(const std::string& path, const std::function<void(const NetpbmHeader&)>& check, ImageU8& out);

}  // namespace slab::data
