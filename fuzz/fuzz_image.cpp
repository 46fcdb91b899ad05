// Image decoding (data/image_folder.h, stb_image through decode_image_file) on arbitrary
// bytes: PNG, JPEG, BMP, PPM/PGM, GIF, whatever stb_image recognises.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include "data/image.h"
#include "data/image_folder.h"
#include "fuzz/fuzz_support.h"

using namespace slab;

namespace {

void add_to(void* context, void* bytes, int size) { static_cast<std::string*>(context)->append(static_cast<char*>(bytes), static_cast<size_t>(size)); }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_folder()) return 0;
  unsigned char pixels[4 * 3 * 3];
  for (size_t i = 0; i < sizeof pixels; ++i) pixels[i] = static_cast<unsigned char>(i * 7);
  std::string png, bmp, jpg;
  stbi_write_png_to_func(add_to, &png, 4, 3, 3, pixels, 12);
  stbi_write_bmp_to_func(add_to, &bmp, 4, 3, 3, pixels);
  stbi_write_jpg_to_func(add_to, &jpg, 4, 3, 3, pixels, 80);
  fuzz::write_seed("rgb.png", png);
  fuzz::write_seed("rgb.bmp", bmp);
  fuzz::write_seed("rgb.jpg", jpg);
  fuzz::write_seed("gray.pgm", std::string("P5\n4 3\n255\n") + std::string(12, '\x55'));
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::scratch_path("input.img");
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  data::ImageU8 image;
  fuzz::refused_or_accepted([&] { data::decode_image_file(path, image); });
  return 0;
}
