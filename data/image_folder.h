// Image folders in the ImageNet / torchvision ImageFolder layout:
//   root/<class name>/**/<image>.{jpg,jpeg,png,bmp,ppm,pgm}   (extensions in any case)
// Classes are the sub-folders of root sorted by name (byte order), numbered from 0; within
// a class, files are taken folder by folder (sorted) and by sorted name inside each, as
// torchvision's make_dataset walks them. Other files are ignored (neither decoder reads
// TIFF or WebP, which torchvision would also list).
//
// Only the paths are held in memory; each fetch decodes its file, converted to RGB as
// torchvision's loader does with PIL's convert("RGB"): JPEG with libjpeg-turbo
// (data/jpeg.h), PNG, BMP and PPM/PGM with stb_image. The decoder is chosen by the file's
// first bytes, not its extension. A file that does not decode is an Error naming it and the
// decoder's reason. A missing root, a root without class folders and a class folder without
// images are Errors at construction; check_headers() finds a bad file before training.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace slab::data {

class ImageFolderDataset final : public Dataset {
 public:
  explicit ImageFolderDataset(const std::string& root);

  std::string name() const override { return "image folder (" + root_ + ")" + subset_note_; }
  int64_t size() const override { return static_cast<int64_t>(paths_.size()); }
  int64_t num_classes() const override { return static_cast<int64_t>(class_names_.size()); }
  ImageShape image_shape() const override { return {3, 0, 0}; }  // RGB, sizes vary
  int64_t label(int64_t index) const override;
  ImageView image(int64_t index, ImageU8& scratch) const override;

  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::string& path(int64_t index) const;

  // check_image_header for every file, spread over OpenMP's threads; throws the error of the
  // first bad file in this dataset's order (the same file whatever the thread count).
  void check_headers() const;

  const std::string& root() const { return root_; }

 private:
  friend std::shared_ptr<const ImageFolderDataset> class_preserving_subset(
      std::shared_ptr<const ImageFolderDataset> dataset, int64_t count);
  ImageFolderDataset(std::string root, std::string subset_note, std::vector<std::string> class_names,
                     std::vector<std::string> paths, std::vector<int64_t> labels);

  std::string root_;
  std::string subset_note_;  // for name(): ", 10 of 50 examples (...)" for a subset
  std::vector<std::string> class_names_;
  std::vector<std::string> paths_;
  std::vector<int64_t> labels_;
};

// The largest image decoded: each side at most 16384 pixels and 2^26 pixels in all (192 MiB
// as RGB bytes), far above any dataset's photographs and far below what would exhaust
// memory in a loader worker.
constexpr int64_t kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

// `count` examples of `dataset` that keep every class (`dataset` itself when count is 0 or at
// least its size): round-robin over the classes in label order, the i-th file of each class
// (in the folder's order) in round i, a class leaving the rotation once its files run out,
// until `count` are chosen. So each class gets count / num_classes files, rounded down or
// up, and a class with fewer files gives all of them, the others sharing the rest alike.
// With count < num_classes the first `count` classes get one file each (the others none).
// The subset keeps the folder's order (sorted by class) and all its class names.
std::shared_ptr<const ImageFolderDataset> class_preserving_subset(std::shared_ptr<const ImageFolderDataset> dataset,
                                                                  int64_t count);

// A validation folder must hold the training folder's classes, by name (the same sorted
// names give the same labels): throws naming the classes only one side has.
void check_same_classes(const ImageFolderDataset& train, const ImageFolderDataset& validation);

// Reads only the file's header (jpeg_read_header for JPEG, stbi_info otherwise): throws
// naming the file when it is not an image slab decodes, or its width, height or channel
// count is beyond the limits above.
void check_image_header(const std::string& path);

// Decodes one image file to planar RGB bytes in `out` after check_image_header; throws
// naming the file.
void decode_image_file(const std::string& path, ImageU8& out);

}  // namespace slab::data
