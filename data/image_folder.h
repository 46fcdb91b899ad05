// Image folders in the ImageNet / torchvision ImageFolder layout:
//   root/<class name>/**/<image>.{jpg,jpeg,png,bmp,ppm,pgm}   (extensions in any case)
// Classes are the sub-folders of root sorted by name (byte order), numbered from 0; within
// a class, files are taken folder by folder (sorted) and by sorted name inside each, as
// torchvision's make_dataset walks them. Other files are ignored (stb_image cannot decode
// TIFF or WebP, which torchvision would also list).
//
// Only the paths are held in memory; each fetch decodes its file with stb_image (converted
// to RGB, as torchvision's loader does with PIL's convert("RGB")). A file that does not
// decode is an Error naming it and stb_image's reason. A missing root, a root without class
// folders and a class folder without images are Errors at construction.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace slab::data {

class ImageFolderDataset final : public Dataset {
 public:
  explicit ImageFolderDataset(const std::string& root);

  std::string name() const override { return "image folder (" + root_ + ")"; }
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  int64_t num_classes() const override { return static_cast<int64_t>(class_names_.size()); }
  ImageShape image_shape() const override { return {3, 0, 0}; }  // RGB, sizes vary
  int64_t label(int64_t index) const override;
  ImageView image(int64_t index, ImageU8& scratch) const override;

  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::string& path(int64_t index) const;

 private:
  std::string root_;
  std::vector<std::string> class_names_;
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
};

// The largest image decoded: each side at most 16384 pixels and 2^26 pixels in all (192 MiB
// as RGB bytes), far above any dataset's photographs and far below what would exhaust
// memory in a loader worker.
constexpr int64_t kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

// Reads only the file's header (stbi_info): throws naming the file when it is not an image
// stb_image decodes, or its width, height or channel count is beyond the limits above.
void check_image_header(const std::string& path);

// Decodes one image file to planar RGB bytes in `out` after check_image_header; throws
// naming the file.
void decode_image_file(const std::string& path, ImageU8& out);

}  // namespace slab::data
