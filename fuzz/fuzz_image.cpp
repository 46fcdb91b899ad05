// Image decoding (data/image_folder.h, decode_image_file) on arbitrary bytes: JPEG through
// libjpeg-turbo (data/jpeg.h), PNG, BMP, PPM/PGM, GIF and whatever else stb_image recognises.
// libjpeg is Debian's build, not instrumented: coverage and the sanitizers see slab's side of
// each call (the header limits, the error paths, the pixel conversion), not libjpeg's own
// reads and writes (libjpeg-turbo is fuzzed upstream, in OSS-Fuzz, with its own targets).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

#include "data/image.h"
#include "data/image_folder.h"
#include "fuzz/fuzz_support.h"
#include "tests/jpeg_writer.h"

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
  std::string gray_jpg;
  stbi_write_jpg_to_func(add_to, &gray_jpg, 4, 3, 1, pixels, 80);
  fuzz::write_seed("gray.jpg", gray_jpg);
  // A Huffman table declaring 16 x 17 = 272 codes (at most 256 are possible): stb_image's
  // JPEG reader wrote out of bounds on such tables; libjpeg refuses them.
  std::string bogus = jpg;
  const size_t dht = bogus.find("\xFF\xC4");
  for (size_t k = 0; k < 16; ++k) bogus[dht + 5 + k] = 17;
  fuzz::write_seed("huffman-272-codes.jpg", bogus);
#ifdef SLAB_WITH_JPEG
  const std::vector<unsigned char> rgb(pixels, pixels + sizeof pixels), cmyk(4 * 4 * 3, 0x90);
  fuzz::write_seed("progressive.jpg", testing::libjpeg_file(rgb, 4, 3, 3, true));
  fuzz::write_seed("cmyk.jpg", testing::libjpeg_file(cmyk, 4, 3, 4, false));
#endif
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::scratch_path("input.img");
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  data::ImageU8 image;
  fuzz::refused_or_accepted([&] { data::decode_image_file(path, image); });
  return 0;
}
