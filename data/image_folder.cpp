#include "data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "core/error.h"

// The one definition of stb_image in slab, with internal linkage (STB_IMAGE_STATIC) so it
// cannot clash with another copy (Debian's libstb, a program that embeds its own).
// stb_image keeps its failure reason in a thread_local, so decoding from several loader
// threads at once is safe.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR  // 8-bit formats only
#include <stb/stb_image.h>

namespace slab::data {
namespace {

namespace fs = std::filesystem;

bool is_image_file(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* accepted : {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm"})
    if (extension == accepted) return true;
  return false;
}

// The images under one class folder, in torchvision's order: sorted (folder, file name).
std::vector<std::string> images_under(const fs::path& class_folder) {
  std::vector<std::pair<std::string, std::string>> found;  // (parent folder, file name)
  for (const auto& entry :
       fs::recursive_directory_iterator(class_folder, fs::directory_options::follow_directory_symlink)) {
    if (entry.is_regular_file() && is_image_file(entry.path()))
      found.emplace_back(entry.path().parent_path().string(), entry.path().filename().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  paths.reserve(found.size());
  for (const auto& [folder, file] : found) paths.push_back((fs::path(folder) / file).string());
  return paths;
}

}  // namespace

ImageFolderDataset::ImageFolderDataset(const std::string& root) : root_(root) {
  SLAB_CHECK(fs::is_directory(root), "image folder: '", root, "' does not exist or is not a folder");
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) class_names_.push_back(entry.path().filename().string());
  std::sort(class_names_.begin(), class_names_.end());
  SLAB_CHECK(!class_names_.empty(), "image folder: '", root,
             "' holds no class folders; expected root/<class name>/<image files>");
  for (size_t label = 0; label < class_names_.size(); ++label) {
    const std::vector<std::string> images = images_under(fs::path(root) / class_names_[label]);
    SLAB_CHECK(!images.empty(), "image folder: class folder '", (fs::path(root) / class_names_[label]).string(),
               "' holds no images; expected files ending in .jpg, .jpeg, .png, .bmp, .ppm or .pgm");
    paths_.insert(paths_.end(), images.begin(), images.end());
    labels_.insert(labels_.end(), images.size(), static_cast<int64_t>(label));
  }
}

int64_t ImageFolderDataset::label(int64_t index) const {
  check_index(index);
  return labels_[static_cast<size_t>(index)];
}

const std::string& ImageFolderDataset::path(int64_t index) const {
  check_index(index);
  return paths_[static_cast<size_t>(index)];
}

ImageView ImageFolderDataset::image(int64_t index, ImageU8& scratch) const {
  decode_image_file(path(index), scratch);
  return scratch.view();
}

namespace {

// stb_image's JPEG reader writes past a 257-entry table when a Huffman table (a DHT segment)
// declares more than 256 codes in all (found by fuzz/fuzz_image); the JPEG standard allows
// at most 256 (one per byte value), so such a file is refused before stb_image reads it.
// Walks the marker segments, skipping each scan's entropy-coded data.
void check_jpeg_huffman_tables(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  if (bytes.size() < 2 || at(0) != 0xFF || at(1) != 0xD8) return;  // not a JPEG
  size_t i = 2;
  while (i + 4 <= bytes.size() && at(i) == 0xFF) {
    const unsigned marker = at(i + 1);
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0xFF) {
      i += marker == 0xFF ? 1 : 2;  // no length field (fill bytes, restart markers)
      continue;
    }
    const size_t length = static_cast<size_t>(at(i + 2)) << 8 | at(i + 3);
    const size_t end = std::min(bytes.size(), i + 2 + length);
    if (marker == 0xC4)  // DHT: tables of (class/id byte, 16 counts, the symbols)
      for (size_t t = i + 4; t < end && t + 17 <= bytes.size();) {  // stb_image reads a table whole
        size_t codes = 0;
        for (size_t k = 0; k < 16; ++k) codes += at(t + 1 + k);
        SLAB_CHECK(codes <= 256, "image folder: cannot decode '", path, "': a JPEG Huffman table declares ", codes,
                   " codes (at most 256)");
        t += 17 + codes;
      }
    if (length < 2) return;  // stb_image refuses it
    i += 2 + length;
    if (marker == 0xDA)  // a scan's entropy-coded data: on to the next marker (progressive
      while (i + 1 < bytes.size() &&  // files define tables between their scans)
             !(at(i) == 0xFF && at(i + 1) != 0x00 && !(at(i + 1) >= 0xD0 && at(i + 1) <= 0xD7)))
        ++i;
  }
}

}  // namespace

void check_image_header(const std::string& path) {
  check_jpeg_huffman_tables(path);
  int width = 0, height = 0, channels = 0;
  SLAB_CHECK(stbi_info(path.c_str(), &width, &height, &channels) == 1, "image folder: cannot decode '", path,
             "': ", stbi_failure_reason());
  SLAB_CHECK(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide, "image folder: '",
             path, "' is ", width, "x", height, " pixels; each side must be 1 to ", kMaxImageSide);
  SLAB_CHECK(static_cast<int64_t>(width) * height <= kMaxImagePixels, "image folder: '", path, "' is ", width, "x",
             height, " pixels, above the limit of ", kMaxImagePixels, " pixels");
  SLAB_CHECK(channels >= 1 && channels <= 4, "image folder: '", path, "' has ", channels,
             " channels; expected 1 to 4 (grey, grey+alpha, RGB, RGBA)");
}

void decode_image_file(const std::string& path, ImageU8& out) {
  check_image_header(path);
  int width = 0, height = 0, channels_in_file = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load(path.c_str(), &width, &height, &channels_in_file, 3),
                                                   stbi_image_free);
  SLAB_CHECK(pixels != nullptr, "image folder: cannot decode '", path, "': ", stbi_failure_reason());
  // stb_image gives interleaved HWC; slab keeps planar CHW.
  out.reshape(3, height, width);
  const stbi_uc* source = pixels.get();
  const size_t plane = static_cast<size_t>(height) * static_cast<size_t>(width);
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) out.pixels[c * plane + i] = source[3 * i + c];
}

}  // namespace slab::data
