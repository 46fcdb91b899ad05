#include "data/image_folder.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iterator>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "data/jpeg.h"
#include "data/netpbm.h"

// The one definition of stb_image in slab, with internal linkage (STB_IMAGE_STATIC) so it
// cannot clash with another copy (Debian's libstb, a program that embeds its own).
// stb_image keeps its failure reason in a thread_local, so decoding from several loader
// threads at once is safe. Its JPEG and Netpbm readers are left out (found unsafe on crafted
// files by fuzz/fuzz_image): libjpeg-turbo decodes JPEG (data/jpeg.h), slab reads PGM/PPM
// itself (data/netpbm.h).
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR  // 8-bit formats only
#define STBI_NO_JPEG
#define STBI_NO_PNM
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

ImageFolderDataset::ImageFolderDataset(std::string root, std::string subset_note, std::vector<std::string> class_names,
                                       std::vector<std::string> paths, std::vector<int64_t> labels)
    : root_(std::move(root)),
      subset_note_(std::move(subset_note)),
      class_names_(std::move(class_names)),
      paths_(std::move(paths)),
      labels_(std::move(labels)) {}

void ImageFolderDataset::check_headers() const {
  // Every thread skips the files after the first bad one found so far; each file before it
  // is still checked, so the file reported is the first bad one in order.
  const int64_t count = size();
  std::atomic<int64_t> first_bad{count};
  std::mutex mutex;
  std::exception_ptr error;  // the first bad file's
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < count; ++i) {
    if (i > first_bad.load(std::memory_order_relaxed)) continue;
    try {
      check_image_header(paths_[static_cast<size_t>(i)]);
    } catch (...) {  // an exception must not leave an OpenMP region
      const std::lock_guard<std::mutex> lock(mutex);
      if (i < first_bad.load()) {
        first_bad.store(i);
        error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

std::shared_ptr<const ImageFolderDataset> class_preserving_subset(std::shared_ptr<const ImageFolderDataset> dataset,
                                                                  int64_t count) {
  if (count <= 0 || count >= dataset->size()) return dataset;
  // How many files each class has, and how many the rotation takes from each.
  const size_t classes = dataset->class_names().size();
  std::vector<int64_t> available(classes, 0), taken(classes, 0);
  for (int64_t i = 0; i < dataset->size(); ++i) ++available[static_cast<size_t>(dataset->label(i))];
  int64_t chosen = 0;
  for (int64_t round = 0; chosen < count; ++round)
    for (size_t c = 0; c < classes && chosen < count; ++c)
      if (available[c] > round) {
        ++taken[c];
        ++chosen;
      }
  std::vector<std::string> paths;
  std::vector<int64_t> labels;
  paths.reserve(static_cast<size_t>(count));
  labels.reserve(static_cast<size_t>(count));
  std::vector<int64_t> seen(classes, 0);
  for (int64_t i = 0; i < dataset->size(); ++i) {
    const size_t c = static_cast<size_t>(dataset->label(i));
    if (seen[c]++ < taken[c]) {
      paths.push_back(dataset->path(i));
      labels.push_back(static_cast<int64_t>(c));
    }
  }
  const std::string note = ", " + std::to_string(count) + " of " + std::to_string(dataset->size()) +
                           " examples (round-robin over the classes)";
  return std::shared_ptr<const ImageFolderDataset>(
      new ImageFolderDataset(dataset->root_, note, dataset->class_names(), std::move(paths), std::move(labels)));
}

void check_same_classes(const ImageFolderDataset& train, const ImageFolderDataset& validation) {
  const std::vector<std::string>& a = train.class_names();
  const std::vector<std::string>& b = validation.class_names();
  if (a == b) return;
  std::vector<std::string> only_train, only_validation;  // both lists are sorted
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_train));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_validation));
  auto list = [](const std::vector<std::string>& names) {
    if (names.empty()) return std::string("none");
    std::string out;
    for (size_t i = 0; i < names.size() && i < 20; ++i) out += (i ? ", '" : "'") + names[i] + "'";
    if (names.size() > 20) out += " and " + std::to_string(names.size() - 20) + " more";
    return out;
  };
  SLAB_FAIL("image folders: the validation folder '", validation.root(), "' has other classes than the training folder '",
            train.root(), "' (", a.size(), " and ", b.size(), " classes; a class's label is its place in the sorted names, "
            "so they must match by name): only in training: ", list(only_train), "; only in validation: ",
            list(only_validation));
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

void check_image_size(const std::string& path, int width, int height, int channels) {
  SLAB_CHECK(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide, "image folder: '",
             path, "' is ", width, "x", height, " pixels; each side must be 1 to ", kMaxImageSide);
  SLAB_CHECK(static_cast<int64_t>(width) * height <= kMaxImagePixels, "image folder: '", path, "' is ", width, "x",
             height, " pixels, above the limit of ", kMaxImagePixels, " pixels");
  SLAB_CHECK(channels >= 1 && channels <= 4, "image folder: '", path, "' has ", channels,
             " channels; expected 1 to 4 (grey, grey+alpha, RGB, RGBA)");
}

}  // namespace

void check_image_header(const std::string& path) {
  if (has_jpeg_signature(path)) {
    const JpegHeader header = read_jpeg_header(path);
    check_image_size(path, header.width, header.height, header.channels);
    return;
  }
  if (has_netpbm_signature(path)) {
    const NetpbmHeader header = read_netpbm_header(path);
    check_image_size(path, header.width, header.height, header.channels);
    return;
  }
  int width = 0, height = 0, channels = 0;
  SLAB_CHECK(stbi_info(path.c_str(), &width, &height, &channels) == 1, "image folder: cannot decode '", path,
             "': ", stbi_failure_reason());
  check_image_size(path, width, height, channels);
}

void decode_image_file(const std::string& path, ImageU8& out) {
  if (has_jpeg_signature(path)) {  // one pass: the header is checked before any pixel is decoded
    decode_jpeg(path, [&](const JpegHeader& h) { check_image_size(path, h.width, h.height, h.channels); }, out);
    return;
  }
  if (has_netpbm_signature(path)) {
    decode_netpbm(path, [&](const NetpbmHeader& h) { check_image_size(path, h.width, h.height, h.channels); }, out);
    return;
  }
  check_image_header(path);
  // The file's own channels (req_comp 0), converted to RGB here, so stb_image's own
  // conversion (stbi__convert_format, which read past its buffer on 16-bit PNM samples:
  // fuzz/corpus/image/pgm-16-bit-grey.pgm) is never used. Grey is copied to the three planes
  // and alpha dropped, as Pillow's convert("RGB") does.
  int width = 0, height = 0, channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load(path.c_str(), &width, &height, &channels, 0),
                                                   stbi_image_free);
  SLAB_CHECK(pixels != nullptr, "image folder: cannot decode '", path, "': ", stbi_failure_reason());
  check_image_size(path, width, height, channels);
  // stb_image gives interleaved HWC; slab keeps planar CHW.
  out.reshape(3, height, width);
  const stbi_uc* source = pixels.get();
  const size_t plane = static_cast<size_t>(height) * static_cast<size_t>(width);
  const size_t stride = static_cast<size_t>(channels);
  const bool colour = channels >= 3;  // RGB, RGBA; else grey, grey+alpha
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) out.pixels[c * plane + i] = source[stride * i + (colour ? c : 0)];
}

}  // namespace slab::data
