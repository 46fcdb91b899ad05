// The IDX reader (data/idx.h) on an arbitrary pair of files: the input is the images file,
// a 0xFF 0x00 0xFF separator, the labels file; when the input starts with the gzip magic
// (1f 8b) both files are given the .gz names (zlib's gzread reads plain and gzip alike).
#include <zlib.h>

#include <string_view>

#include "data/idx.h"
#include "fuzz/fuzz_support.h"

using namespace slab;

namespace {

constexpr std::string_view kSeparator("\xFF\x00\xFF", 3);

std::string big_endian(uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>(value >> (24 - 8 * i));
  return bytes;
}

std::string gzip(const std::string& bytes) {
  const std::string path = fuzz::scratch_path("seed.gz");
  gzFile file = gzopen(path.c_str(), "wb");
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
  return fuzz::read_file(path);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_folder()) return 0;
  // Three 4x4 images of classes 0, 1, 9.
  const std::string images = big_endian(2051) + big_endian(3) + big_endian(4) + big_endian(4) + std::string(48, '\x40');
  const std::string labels = big_endian(2049) + big_endian(3) + std::string("\x00\x01\x09", 3);
  fuzz::write_seed("plain.idx", images + std::string(kSeparator) + labels);
  fuzz::write_seed("gzip.idx", gzip(images) + std::string(kSeparator) + gzip(labels));
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t cut = input.find(kSeparator);
  const std::string_view images = input.substr(0, cut);
  const std::string_view labels = cut == std::string_view::npos ? std::string_view() : input.substr(cut + kSeparator.size());
  const bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  const std::string images_path = fuzz::scratch_path(gz ? "images.gz" : "images");
  const std::string labels_path = fuzz::scratch_path(gz ? "labels.gz" : "labels");
  fuzz::write_file(images_path, images);
  fuzz::write_file(labels_path, labels);
  fuzz::refused_or_accepted([&] { data::load_idx_files(images_path, labels_path, "fuzz", 10); });
  return 0;
}
