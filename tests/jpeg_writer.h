// JPEG files that stb_image_write cannot write (progressive, CMYK), written with libjpeg's
// compressor for the tests and fuzz/fuzz_image's seeds. Only in builds with libjpeg
// (SLAB_WITH_JPEG). libjpeg's default error handler ends the program, which for fixed,
// valid inputs here would only mean a broken libjpeg.
#pragma once
#ifdef SLAB_WITH_JPEG
#include <cstdio>
#include <cstdlib>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include <string>
#include <vector>

namespace slab::testing {

// `pixels`: interleaved, `components` per pixel: 3 (RGB, stored as YCbCr) or 4 (CMYK, stored
// as Adobe files store it, inverted, with an Adobe marker).
inline std::string libjpeg_file(const std::vector<unsigned char>& pixels, int width, int height, int components,
                                bool progressive) {
  jpeg_compress_struct info{};
  jpeg_error_mgr errors{};
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(width);
  info.image_height = static_cast<JDIMENSION>(height);
  info.input_components = components;
  info.in_color_space = components == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, 90, TRUE);
  if (progressive) jpeg_simple_progression(&info);
  jpeg_start_compress(&info, TRUE);
  for (int y = 0; y < height; ++y) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + static_cast<size_t>(y) * width * components);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  jpeg_destroy_compress(&info);
  std::free(buffer);
  return out;
}

}  // namespace slab::testing
#endif
