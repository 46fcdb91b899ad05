#include "data/netpbm.h"

#include <cstdio>
#include <memory>
#include <vector>

#include "core/error.h"

namespace slab::data {

namespace {

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

File open(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"), std::fclose);
  SLAB_CHECK(file != nullptr, "image folder: cannot open '", path, "'");
  return file;
}

bool is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// The next header number: skips whitespace and comments, then reads at most 9 digits.
int read_number(std::FILE* file, const std::string& path, const char* what) {
  int c = std::fgetc(file);
  while (is_space(c) || c == '#') {
    if (c == '#')
      while (c != EOF && c != '\n' && c != '\r') c = std::fgetc(file);
    c = std::fgetc(file);
  }
  SLAB_CHECK(c >= '0' && c <= '9', "image folder: cannot decode '", path, "': a PGM/PPM header without its ", what);
  int value = 0, digits = 0;
  for (; c >= '0' && c <= '9'; c = std::fgetc(file)) {
    SLAB_CHECK(++digits <= 9, "image folder: cannot decode '", path, "': the PGM/PPM ", what,
               " has more than 9 digits");
    value = value * 10 + (c - '0');
  }
  SLAB_CHECK(is_space(c), "image folder: cannot decode '", path, "': the PGM/PPM ", what,
             " is not followed by whitespace");
  return value;
}

NetpbmHeader read_header(std::FILE* file, const std::string& path) {
  char magic[2] = {};
  SLAB_CHECK(std::fread(magic, 1, 2, file) == 2 && magic[0] == 'P' && (magic[1] == '5' || magic[1] == '6'),
             "image folder: cannot decode '", path, "': not a binary PGM/PPM file (P5 or P6)");
  NetpbmHeader header;
  header.channels = magic[1] == '5' ? 1 : 3;
  header.width = read_number(file, path, "width");
  header.height = read_number(file, path, "height");
  header.max_value = read_number(file, path, "maximum value");  // its one whitespace byte is read
  SLAB_CHECK(header.max_value >= 1, "image folder: cannot decode '", path, "': a PGM/PPM maximum value of 0");
  SLAB_CHECK(header.max_value <= 255, "image folder: cannot decode '", path,
             "': a 16-bit PGM/PPM file (maximum value ", header.max_value,
             ", above 255), which slab does not read; convert it to 8 bits");
  return header;
}

}  // namespace

bool has_netpbm_signature(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"), std::fclose);
  char magic[2] = {};
  return file && std::fread(magic, 1, 2, file.get()) == 2 && magic[0] == 'P' && (magic[1] == '5' || magic[1] == '6');
}

NetpbmHeader read_netpbm_header(const std::string& path) { return read_header(open(path).get(), path); }

void decode_netpbm(const std::string& path, const std::function<void(const NetpbmHeader&)>& check, ImageU8& out) {
  const File file = open(path);
  const NetpbmHeader header = read_header(file.get(), path);
  check(header);
  const size_t width = static_cast<size_t>(header.width), height = static_cast<size_t>(header.height);
  const size_t channels = static_cast<size_t>(header.channels), plane = width * height;
  std::vector<uint8_t> samples(plane * channels);
  SLAB_CHECK(std::fread(samples.data(), 1, samples.size(), file.get()) == samples.size(), "image folder: cannot decode '",
             path, "': the file ends before its ", samples.size(), " bytes of samples");
  uint8_t scaled[256];
  for (int v = 0; v < 256; ++v)
    scaled[v] = static_cast<uint8_t>(v > header.max_value ? 255 : (v * 255 + header.max_value / 2) / header.max_value);
  for (uint8_t v : samples)
    SLAB_CHECK(v <= header.max_value, "image folder: cannot decode '", path, "': a sample of ", int{v},
               " above the maximum value ", header.max_value);
  out.reshape(3, header.height, header.width);
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) out.pixels[c * plane + i] = scaled[samples[i * channels + (channels == 3 ? c : 0)]];
}

}  // namespace slab::data
