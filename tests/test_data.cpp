// The data room: dataset files (CIFAR-10/100 binary, MNIST-format IDX, image folders),
// transforms (against Pillow golden numbers and brute-force references), seeded shuffling,
// and the threaded loader (identical batches for any worker count, exact resume, early
// stop without deadlock, no steady-state allocation).
#include <doctest/doctest.h>
#include <omp.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/error.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "data/cifar.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/jpeg.h"
#include "data/loader.h"
#include "data/sampling.h"
#include "data/transforms.h"
#include "tests/jpeg_writer.h"
#include "tests/skip.h"
#include "tools/trainer/training_data.h"

// stb_image_write builds the test image folders; static so it cannot clash with any copy.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

using namespace slab;
using namespace slab::data;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system's temp dir, removed with everything in it at scope exit.
class TempFolder {
 public:
  TempFolder() {
    static std::atomic<int> counter{0};
    path_ =
        fs::temp_directory_path() / ("slab-test-data-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void write_gzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(file);
}

// Pixel value of image `n`, channel c, row y, column x in the synthetic CIFAR files: varied
// enough that a swapped plane, row or image shows.
uint8_t cifar_pixel(int n, int c, int y, int x) { return static_cast<uint8_t>(n * 37 + c * 101 + y * 7 + x * 3); }

// CIFAR records: label byte(s) then the planar 3x32x32 pixels.
std::vector<uint8_t> cifar_records(const std::vector<std::vector<uint8_t>>& labels, int first_image) {
  std::vector<uint8_t> bytes;
  for (size_t r = 0; r < labels.size(); ++r) {
    bytes.insert(bytes.end(), labels[r].begin(), labels[r].end());
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) bytes.push_back(cifar_pixel(first_image + static_cast<int>(r), c, y, x));
  }
  return bytes;
}

std::vector<uint8_t> big_endian(std::initializer_list<uint32_t> words) {
  std::vector<uint8_t> bytes;
  for (uint32_t w : words)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(w >> shift));
  return bytes;
}

std::vector<uint8_t> idx_images(uint32_t count, uint32_t rows, uint32_t columns) {
  std::vector<uint8_t> bytes = big_endian({2051, count, rows, columns});
  for (uint32_t i = 0; i < count * rows * columns; ++i) bytes.push_back(static_cast<uint8_t>(i * 13 + 5));
  return bytes;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> bytes = big_endian({2049, static_cast<uint32_t>(labels.size())});
  bytes.insert(bytes.end(), labels.begin(), labels.end());
  return bytes;
}

std::vector<float> fetch_floats(const Dataset& dataset, int64_t index) {
  std::vector<float> out(static_cast<size_t>(dataset.image_shape().numel()));
  dataset.fetch(index, out.data());
  return out;
}

// An in-memory dataset of n random-looking images of `shape`, labels i % classes.
std::shared_ptr<InMemoryDataset> synthetic_dataset(int64_t n, ImageShape shape, int64_t classes = 10) {
  std::vector<uint8_t> pixels(static_cast<size_t>(n * shape.numel()));
  Generator generator(99, 3);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(generator.next_u32() >> 24);
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = i % classes;
  return std::make_shared<InMemoryDataset>("synthetic", shape, classes, std::move(pixels), std::move(labels));
}

ImageU8 pattern_image(int64_t channels, int64_t height, int64_t width) {
  ImageU8 image;
  image.reshape(channels, height, width);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i % 251 + 1);  // never 0
  return image;
}

std::vector<uint8_t> to_bytes(const ImageView& view) {
  std::vector<uint8_t> bytes;
  for (int64_t c = 0; c < view.channels; ++c)
    for (int64_t y = 0; y < view.height; ++y) bytes.insert(bytes.end(), view.row(c, y), view.row(c, y) + view.width);
  return bytes;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// doctest::Contains takes doctest's own string; this accepts a std::string message part.
doctest::Contains contains(const std::string& text) { return doctest::Contains(text.c_str()); }

// CI clones the repository with shared/ beside it, as here; anyone else can build that
// folder from the official CIFAR-10 release (docs/data.md#getting-the-data).
const std::string kCifarSubset = SLAB_SOURCE_DIR "/../shared/data/cifar10-subset";
const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist";

}  // namespace

// ---- CIFAR --------------------------------------------------------------------------------

TEST_CASE("CIFAR-10: the batch files that exist load in order, planar and labelled") {
  TempFolder folder;
  write_file(folder / "data_batch_1.bin", cifar_records({{3}, {0}, {9}}, 0));
  write_file(folder / "data_batch_3.bin", cifar_records({{7}, {1}}, 3));  // 2 missing: allowed
  write_file(folder / "test_batch.bin", cifar_records({{5}}, 100));
  std::string names;
  for (const char* name : {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"})
    names += std::string(name) + "\n";
  std::ofstream(folder / "batches.meta.txt") << names;

  auto train = load_cifar10(folder.path().string(), Split::train);
  CHECK(train->size() == 5);
  CHECK(train->num_classes() == 10);
  CHECK(train->image_shape() == ImageShape{3, 32, 32});
  CHECK(train->labels() == std::vector<int64_t>{3, 0, 9, 7, 1});
  CHECK(train->class_names().at(3) == "cat");
  const std::vector<float> image = fetch_floats(*train, 4);
  CHECK(image[0] == static_cast<float>(cifar_pixel(4, 0, 0, 0)) / 255.0f);
  CHECK(image[1024 + 32 * 5 + 6] == static_cast<float>(cifar_pixel(4, 1, 5, 6)) / 255.0f);
  CHECK(image[2048 + 32 * 31 + 31] == static_cast<float>(cifar_pixel(4, 2, 31, 31)) / 255.0f);

  auto test = load_cifar10(folder.path().string(), Split::test);
  CHECK(test->size() == 1);
  CHECK(test->label(0) == 5);
  CHECK(fetch_floats(*test, 0)[2048 + 33] == static_cast<float>(cifar_pixel(100, 2, 1, 1)) / 255.0f);
  CHECK_THROWS_WITH_AS(test->label(1), contains("out of range"), Error);
}

TEST_CASE("CIFAR-10: the archive's inner folder is found") {
  TempFolder folder;
  write_file(folder / "cifar-10-batches-bin/test_batch.bin", cifar_records({{2}, {4}}, 0));
  CHECK(load_cifar10(folder.path().string(), Split::test)->size() == 2);
}

TEST_CASE("CIFAR-10: bad folders and files are errors naming the file and what was expected") {
  TempFolder folder;
  CHECK_THROWS_WITH_AS(load_cifar10(folder / "absent", Split::train), contains("does not exist"), Error);
  // An empty folder names the files it looked for.
  CHECK_THROWS_WITH_AS(load_cifar10(folder.path().string(), Split::train), contains("data_batch_1.bin"), Error);
  CHECK_THROWS_WITH_AS(load_cifar10(folder.path().string(), Split::test), contains("test_batch.bin"), Error);

  std::vector<uint8_t> records = cifar_records({{1}, {2}}, 0);
  records.pop_back();  // 6145 bytes: not a multiple of 3073
  write_file(folder / "data_batch_2.bin", records);
  CHECK_THROWS_WITH_AS(load_cifar10(folder.path().string(), Split::train),
                       contains("data_batch_2.bin' has 6145 bytes, which is not a multiple of the record "
                                "size 3073"),
                       Error);
  write_file(folder / "data_batch_2.bin", {});
  CHECK_THROWS_WITH_AS(load_cifar10(folder.path().string(), Split::train), contains("data_batch_2.bin' is empty"),
                       Error);
  write_file(folder / "data_batch_2.bin", cifar_records({{1}, {10}}, 0));
  CHECK_THROWS_WITH_AS(load_cifar10(folder.path().string(), Split::train),
                       contains("data_batch_2.bin', record 1: label byte 0 is 10; expected 0 to 9"), Error);
}

TEST_CASE("CIFAR-100: two label bytes, the fine one is the class") {
  TempFolder folder;
  write_file(folder / "train.bin", cifar_records({{19, 99}, {0, 42}, {7, 0}}, 0));
  auto train = load_cifar100(folder.path().string(), Split::train);
  CHECK(train->size() == 3);
  CHECK(train->num_classes() == 100);
  CHECK(train->labels() == std::vector<int64_t>{99, 42, 0});
  CHECK(fetch_floats(*train, 1)[5] == static_cast<float>(cifar_pixel(1, 0, 0, 5)) / 255.0f);
  CHECK_THROWS_WITH_AS(load_cifar100(folder.path().string(), Split::test), contains("test.bin"), Error);

  write_file(folder / "test.bin", cifar_records({{20, 1}}, 0));
  CHECK_THROWS_WITH_AS(load_cifar100(folder.path().string(), Split::test),
                       contains("test.bin', record 0: label byte 0 is 20; expected 0 to 19"), Error);
  write_file(folder / "test.bin", cifar_records({{3, 100}}, 0));
  CHECK_THROWS_WITH_AS(load_cifar100(folder.path().string(), Split::test),
                       contains("label byte 1 is 100; expected 0 to 99"), Error);
  // CIFAR-10 records (3073 bytes) are not CIFAR-100 records.
  write_file(folder / "test.bin", cifar_records({{3}, {4}}, 0));
  CHECK_THROWS_WITH_AS(load_cifar100(folder.path().string(), Split::test), contains("record size 3074"), Error);
}

TEST_CASE("CIFAR-10: the real subset loads (10,000 train, 1,000 test)") {
  if (!fs::is_directory(kCifarSubset)) {
    slab::testing::skip(std::string(kCifarSubset) + " is absent");
    return;
  }
  auto train = load_cifar10(kCifarSubset, Split::train);
  auto test = load_cifar10(kCifarSubset, Split::test);
  CHECK(train->size() == 10000);
  CHECK(test->size() == 1000);
  CHECK(train->class_names().at(0) == "airplane");
  // Class counts stated in the subset's README.
  std::vector<int64_t> train_counts(10), test_counts(10);
  for (int64_t label : train->labels()) ++train_counts[static_cast<size_t>(label)];
  for (int64_t label : test->labels()) ++test_counts[static_cast<size_t>(label)];
  CHECK(*std::min_element(train_counts.begin(), train_counts.end()) == 937);
  CHECK(*std::max_element(train_counts.begin(), train_counts.end()) == 1032);
  CHECK(*std::min_element(test_counts.begin(), test_counts.end()) == 86);
  CHECK(*std::max_element(test_counts.begin(), test_counts.end()) == 112);
  // Record 1234 read straight from the file agrees with the dataset.
  std::ifstream in(kCifarSubset + "/data_batch_1.bin", std::ios::binary);
  std::vector<uint8_t> record(3073);
  in.seekg(1234 * 3073);
  in.read(reinterpret_cast<char*>(record.data()), 3073);
  const std::vector<float> image = fetch_floats(*train, 1234);
  CHECK(train->label(1234) == record[0]);
  bool all_equal = true;
  for (size_t i = 0; i < 3072; ++i) all_equal = all_equal && image[i] == static_cast<float>(record[i + 1]) / 255.0f;
  CHECK(all_equal);
}

// ---- IDX ----------------------------------------------------------------------------------

TEST_CASE("IDX: plain and gzip files give the same dataset") {
  TempFolder plain, packed;
  const std::vector<uint8_t> images = idx_images(3, 4, 5), labels = idx_labels({7, 0, 9});
  write_file(plain / "train-images-idx3-ubyte", images);
  write_file(plain / "train-labels-idx1-ubyte", labels);
  write_gzip(packed / "train-images-idx3-ubyte.gz", images);
  write_gzip(packed / "train-labels-idx1-ubyte.gz", labels);
  auto a = load_idx_folder(plain.path().string(), Split::train);
  auto b = load_idx_folder(packed.path().string(), Split::train);
  CHECK(a->size() == 3);
  CHECK(a->image_shape() == ImageShape{1, 4, 5});
  CHECK(a->labels() == std::vector<int64_t>{7, 0, 9});
  CHECK(b->labels() == a->labels());
  CHECK(fetch_floats(*a, 2) == fetch_floats(*b, 2));
  // Image 2, row 1, column 3 is byte 2*20 + 1*5 + 3 of the pixel data.
  CHECK(fetch_floats(*a, 2)[8] == static_cast<float>(static_cast<uint8_t>(48 * 13 + 5)) / 255.0f);
  CHECK_THROWS_WITH_AS(load_idx_folder(plain.path().string(), Split::test), contains("t10k-images-idx3-ubyte"), Error);
}

TEST_CASE("IDX: the dotted spelling is accepted") {
  TempFolder folder;
  write_file(folder / "t10k-images.idx3-ubyte", idx_images(2, 3, 3));
  write_gzip(folder / "t10k-labels.idx1-ubyte.gz", idx_labels({1, 2}));
  CHECK(load_idx_folder(folder.path().string(), Split::test)->size() == 2);
}

TEST_CASE("IDX: malformed files are errors naming the file and the expected value") {
  TempFolder folder;
  const std::string images = folder / "images", labels = folder / "labels";
  auto load = [&] { return load_idx_files(images, labels, "test set"); };
  write_file(labels, idx_labels({1, 2, 3}));

  write_file(images, idx_labels({1, 2, 3}));  // a labels file where images belong
  CHECK_THROWS_WITH_AS(load(), contains("'" + images + "': magic number 2049; expected 2051"), Error);
  write_file(images, idx_images(3, 0, 5));
  CHECK_THROWS_WITH_AS(load(), contains("the row count is 0"), Error);
  write_file(images, idx_images(4, 2, 2));
  CHECK_THROWS_WITH_AS(load(), contains("holds 3 labels but '" + images + "' holds 4 images"), Error);

  std::vector<uint8_t> truncated = idx_images(3, 2, 2);
  truncated.resize(truncated.size() - 1);
  write_file(images, truncated);
  CHECK_THROWS_WITH_AS(load(), contains("'" + images + "' is truncated: expected 12 bytes of pixels, found 11"), Error);
  write_gzip(images + ".gz", truncated);
  CHECK_THROWS_WITH_AS(load_idx_files(images + ".gz", labels), contains("is truncated: expected 12 bytes"), Error);
  // A gzip stream cut short is also caught.
  std::vector<uint8_t> packed_bytes;
  {
    write_gzip(images + ".gz", idx_images(3, 2, 2));
    std::ifstream in(images + ".gz", std::ios::binary);
    packed_bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  packed_bytes.resize(packed_bytes.size() / 2);
  write_file(images + ".gz", packed_bytes);
  CHECK_THROWS_WITH_AS(load_idx_files(images + ".gz", labels), contains(images + ".gz"), Error);

  std::vector<uint8_t> longer = idx_images(3, 2, 2);
  longer.push_back(0);
  write_file(images, longer);
  CHECK_THROWS_WITH_AS(load(), contains("longer than its header says: expected exactly 28 bytes"), Error);

  write_file(images, idx_images(3, 2, 2));
  write_file(labels, idx_images(3, 2, 2));
  CHECK_THROWS_WITH_AS(load(), contains("'" + labels + "': magic number 2051; expected 2049"), Error);
  write_file(labels, idx_labels({1, 10, 3}));
  CHECK_THROWS_WITH_AS(load(), contains("label 10 of example 1; expected 0 to 9"), Error);
  write_file(labels, idx_labels({1, 2, 3}));
  CHECK(load()->size() == 3);
  CHECK_THROWS_WITH_AS(load_idx_files(folder / "nothing", labels), contains("does not exist"), Error);
  CHECK_THROWS_WITH_AS(load_idx_folder(folder / "nothing", Split::train), contains("does not exist"), Error);
}

TEST_CASE("IDX: Debian's Fashion-MNIST loads") {
  if (!fs::is_directory(kFashionMnist)) {
    slab::testing::skip(std::string(kFashionMnist) + " is absent (Debian package dataset-fashion-mnist)");
    return;
  }
  auto test = load_idx_folder(kFashionMnist, Split::test, "Fashion-MNIST");
  CHECK(test->size() == 10000);
  CHECK(test->image_shape() == ImageShape{1, 28, 28});
  std::vector<int64_t> counts(10);
  for (int64_t label : test->labels()) ++counts[static_cast<size_t>(label)];
  CHECK(counts == std::vector<int64_t>(10, 1000));  // Fashion-MNIST's test set is balanced
  auto train = load_idx_folder(kFashionMnist, Split::train, "Fashion-MNIST");
  CHECK(train->size() == 60000);
  CHECK(train->name().find("Fashion-MNIST train") == 0);
}

// ---- image folders ------------------------------------------------------------------------

namespace {

// An RGB image whose bytes encode (image id, channel, row, column).
std::vector<uint8_t> interleaved_rgb(int id, int height, int width) {
  std::vector<uint8_t> pixels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) pixels.push_back(static_cast<uint8_t>(id * 50 + c * 70 + y * 9 + x * 4));
  return pixels;
}

void write_png(const std::string& path, int id, int height, int width) {
  fs::create_directories(fs::path(path).parent_path());
  const std::vector<uint8_t> pixels = interleaved_rgb(id, height, width);
  REQUIRE(stbi_write_png(path.c_str(), width, height, 3, pixels.data(), width * 3) != 0);
}

}  // namespace

TEST_CASE("image folder: classes sorted by name, files in torchvision's walk order, decoded to CHW") {
  TempFolder root;
  write_png(root / "dog/b.png", 1, 5, 7);
  write_png(root / "dog/A.PNG", 2, 6, 4);     // extensions in any case; 'A' < 'b' in byte order
  write_png(root / "dog/zz/c.png", 3, 3, 3);  // a sub-folder comes after the files beside it
  write_png(root / "cat/x.png", 4, 8, 8);
  {
    const std::vector<uint8_t> gray = {0, 64, 128, 255};
    REQUIRE(stbi_write_png((root / "cat/gray.png").c_str(), 2, 2, 1, gray.data(), 2) != 0);
    const std::vector<uint8_t> pixels = interleaved_rgb(5, 16, 16);
    REQUIRE(stbi_write_jpg((root / "cat/photo.jpg").c_str(), 16, 16, 3, pixels.data(), 100) != 0);
  }
  write_file(root / "cat/notes.txt", {1, 2, 3});  // ignored

  ImageFolderDataset dataset(root.path().string());
  CHECK(dataset.class_names() == std::vector<std::string>{"cat", "dog"});
  REQUIRE(dataset.size() == 6);
  CHECK(dataset.num_classes() == 2);
  CHECK(!dataset.image_shape().fixed());
  const std::vector<std::string> expected = {"cat/gray.png", "cat/photo.jpg", "cat/x.png",
                                             "dog/A.PNG",    "dog/b.png",     "dog/zz/c.png"};
  for (int64_t i = 0; i < 6; ++i) {
    CHECK(dataset.path(i) == root / expected[static_cast<size_t>(i)]);
    CHECK(dataset.label(i) == (i < 3 ? 0 : 1));
  }

  ImageU8 scratch;
  ImageView view = dataset.image(4, scratch);  // dog/b.png: id 1, 5x7
  CHECK(view.shape() == ImageShape{3, 5, 7});
  CHECK(view.row(2, 4)[6] == static_cast<uint8_t>(50 + 140 + 36 + 24));
  CHECK(view.row(0, 0)[0] == 50);
  view = dataset.image(0, scratch);  // gray becomes RGB with equal planes
  CHECK(view.shape() == ImageShape{3, 2, 2});
  for (int c = 0; c < 3; ++c) CHECK(view.row(c, 1)[1] == 255);
  CHECK(view.row(1, 0)[1] == 64);
  if (jpeg_decoder_built()) {
    view = dataset.image(1, scratch);  // JPEG at quality 100: close, not exact
    CHECK(view.shape() == ImageShape{3, 16, 16});
    CHECK(std::abs(static_cast<int>(view.row(1, 8)[8]) - (5 * 50 + 70 + 72 + 32) % 256) <= 6);
  } else {
    CHECK_THROWS_WITH_AS(dataset.image(1, scratch), contains("this build of slab has no JPEG decoder"), Error);
  }
  // Without a fixed-size step there is no single shape to fetch into.
  std::vector<float> out(3 * 16 * 16);
  CHECK_THROWS_WITH_AS(dataset.fetch(1, out.data()), contains("vary"), Error);
}

TEST_CASE("image folder: errors name the folder or file") {
  TempFolder root;
  CHECK_THROWS_WITH_AS(ImageFolderDataset(root / "absent"), contains("does not exist"), Error);
  CHECK_THROWS_WITH_AS(ImageFolderDataset(root.path().string()), contains("holds no class folders"), Error);
  fs::create_directories(root.path() / "empty_class");
  write_png(root / "real/a.png", 0, 4, 4);
  CHECK_THROWS_WITH_AS(ImageFolderDataset(root.path().string()),
                       contains("class folder '" + root / "empty_class" + "' holds no images"), Error);
  fs::remove(root.path() / "empty_class");
  write_file(root / "real/broken.jpg", {0xFF, 0xD8, 0xFF, 0x00, 0x12});
  ImageFolderDataset dataset(root.path().string());
  ImageU8 scratch;
  CHECK(dataset.image(0, scratch).height == 4);
  CHECK_THROWS_WITH_AS(dataset.image(1, scratch), contains("cannot decode '" + root / "real/broken.jpg" + "'"), Error);
}

namespace {

// A baseline JPEG written by stb_image_write (RGB, or grey with channels = 1).
std::vector<uint8_t> jpeg_bytes(int id, int height, int width, int channels = 3) {
  std::vector<uint8_t> pixels = interleaved_rgb(id, height, width);
  if (channels == 1)
    for (size_t i = 0; i < pixels.size() / 3; ++i) pixels[i] = pixels[3 * i];
  std::vector<uint8_t> bytes;
  REQUIRE(stbi_write_jpg_to_func(
              [](void* context, void* data, int size) {
                auto* out = static_cast<std::vector<uint8_t>*>(context);
                out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
              },
              &bytes, width, height, channels, pixels.data(), 90) != 0);
  return bytes;
}

// The offset of the first marker FF <marker> of a JPEG.
size_t marker_at(const std::vector<uint8_t>& jpeg, uint8_t marker) {
  for (size_t i = 0; i + 1 < jpeg.size(); ++i)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == marker) return i;
  FAIL("no marker");
  return 0;
}

// The JPEG with its frame header (SOF0) claiming height x width.
std::vector<uint8_t> with_claimed_size(std::vector<uint8_t> jpeg, int height, int width) {
  const size_t sof = marker_at(jpeg, 0xC0);  // FF C0, length (2), precision (1), height (2), width (2)
  jpeg[sof + 5] = static_cast<uint8_t>(height >> 8);
  jpeg[sof + 6] = static_cast<uint8_t>(height);
  jpeg[sof + 7] = static_cast<uint8_t>(width >> 8);
  jpeg[sof + 8] = static_cast<uint8_t>(width);
  return jpeg;
}

bool have_jpeg_decoder() {
  if (jpeg_decoder_built()) return true;
  slab::testing::skip("this build has no JPEG decoder (SLAB_JPEG=OFF, or libjpeg62-turbo-dev absent at configure time)");
  return false;
}

}  // namespace

TEST_CASE("image folder: JPEG through libjpeg, chosen by content, with the header limits") {
  if (!have_jpeg_decoder()) return;
  TempFolder root;
  write_file(root / "a/grey.jpg", jpeg_bytes(1, 8, 6, 1));
  write_file(root / "a/photo.png", jpeg_bytes(2, 5, 7));  // a JPEG named .png: the bytes decide
  ImageU8 image;
  decode_image_file(root / "a/grey.jpg", image);
  CHECK(image.view().shape() == ImageShape{3, 8, 6});
  for (int c = 1; c < 3; ++c) CHECK(image.view().row(c, 3)[2] == image.view().row(0, 3)[2]);  // grey: equal planes
  decode_image_file(root / "a/photo.png", image);
  CHECK(image.view().shape() == ImageShape{3, 5, 7});
  CHECK(std::abs(static_cast<int>(image.view().row(2, 4)[6]) - (2 * 50 + 140 + 36 + 24) % 256) <= 8);

  // The header check reads the frame's size before any pixel is decoded.
  const std::string huge = root / "a/huge.jpg";
  write_file(huge, with_claimed_size(jpeg_bytes(3, 8, 8), 16, kMaxImageSide + 1));
  CHECK_THROWS_WITH_AS(check_image_header(huge), contains("'" + huge + "' is 16385x16 pixels; each side must be 1 to 16384"),
                       Error);
  CHECK_THROWS_WITH_AS(decode_image_file(huge, image), contains("16385x16 pixels"), Error);
  write_file(root / "a/many.jpg", with_claimed_size(jpeg_bytes(3, 8, 8), 16384, 16384));
  CHECK_THROWS_WITH_AS(check_image_header(root / "a/many.jpg"), contains("above the limit of 67108864 pixels"), Error);

  // Truncated data is refused (as Pillow refuses it), not filled in.
  std::vector<uint8_t> truncated = jpeg_bytes(4, 64, 64);
  truncated.resize(truncated.size() / 2);
  write_file(root / "a/truncated.jpg", truncated);
  check_image_header(root / "a/truncated.jpg");  // its header is whole
  CHECK_THROWS_WITH_AS(decode_image_file(root / "a/truncated.jpg", image),
                       contains("cannot decode '" + root / "a/truncated.jpg" + "': Premature end of JPEG file"), Error);

  // A Huffman table declaring more than 256 codes (stb_image's JPEG reader wrote out of
  // bounds on such tables; fuzz/corpus/image/huffman-272-codes.jpg).
  std::vector<uint8_t> bogus = jpeg_bytes(5, 8, 8);
  const size_t dht = marker_at(bogus, 0xC4);  // FF C4, length (2), class/id (1), 16 counts
  for (size_t k = 0; k < 16; ++k) bogus[dht + 5 + k] = 17;
  write_file(root / "a/bogus-huffman.jpg", bogus);
  CHECK_THROWS_WITH_AS(decode_image_file(root / "a/bogus-huffman.jpg", image),
                       contains("cannot decode '" + root / "a/bogus-huffman.jpg" + "': Bogus Huffman table"), Error);
}

TEST_CASE("image folder: progressive and CMYK JPEG") {
#ifdef SLAB_WITH_JPEG
  TempFolder root;
  const std::vector<uint8_t> rgb = interleaved_rgb(3, 16, 24);
  write_file(root / "progressive.jpg", [&] {
    const std::string bytes = slab::testing::libjpeg_file(rgb, 24, 16, 3, true);
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  }());
  ImageU8 image;
  decode_image_file(root / "progressive.jpg", image);
  REQUIRE(image.view().shape() == ImageShape{3, 16, 24});
  CHECK(std::abs(static_cast<int>(image.view().row(1, 5)[7]) - rgb[(5 * 24 + 7) * 3 + 1]) <= 8);

  // CMYK as Adobe files store it (inverted): R = C * K / 255.
  std::vector<uint8_t> cmyk;
  for (int i = 0; i < 8 * 8; ++i) cmyk.insert(cmyk.end(), {200, 128, 40, 180});
  write_file(root / "cmyk.jpg", [&] {
    const std::string bytes = slab::testing::libjpeg_file(cmyk, 8, 8, 4, false);
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  }());
  const JpegHeader header = read_jpeg_header(root / "cmyk.jpg");
  CHECK(header.channels == 4);
  decode_image_file(root / "cmyk.jpg", image);
  REQUIRE(image.view().shape() == ImageShape{3, 8, 8});
  CHECK(std::abs(image.view().row(0, 4)[4] - 200 * 180 / 255) <= 3);
  CHECK(std::abs(image.view().row(1, 4)[4] - 128 * 180 / 255) <= 3);
  CHECK(std::abs(image.view().row(2, 4)[4] - 40 * 180 / 255) <= 3);
#else
  slab::testing::skip("this build has no JPEG decoder (SLAB_JPEG=OFF, or libjpeg62-turbo-dev absent at configure time)");
#endif
}

TEST_CASE("image folder: PGM/PPM read by slab, PNG channel layouts become RGB") {
  TempFolder root;
  ImageU8 image;
  // 16-bit PGM is refused (stb_image's reader, not used, read past its buffer on them:
  // fuzz/corpus/image/pgm-16-bit-grey.pgm).
  std::vector<uint8_t> pgm16 = {'P', '5', '\n', '3', ' ', '2', '\n', '6', '5', '5', '3', '5', '\n'};
  for (int i = 0; i < 6; ++i) pgm16.insert(pgm16.end(), {static_cast<uint8_t>(40 * i), 0x77});
  write_file(root / "grey16.pgm", pgm16);
  CHECK_THROWS_WITH_AS(decode_image_file(root / "grey16.pgm", image), contains("a 16-bit PGM/PPM file"), Error);
  std::vector<uint8_t> pgm8 = {'P', '5', '\n', '3', ' ', '2', '\n', '2', '5', '5', '\n', 0, 40, 80, 120, 160, 200};
  write_file(root / "grey8.pgm", pgm8);
  decode_image_file(root / "grey8.pgm", image);
  REQUIRE(image.view().shape() == ImageShape{3, 2, 3});
  for (int c = 0; c < 3; ++c) CHECK(image.view().row(c, 1)[2] == 200);
  // A maximum value below 255 is scaled (round(v * 255 / max)); a comment may sit in the
  // header; P6 is RGB.
  const std::vector<uint8_t> ppm = {'P', '6', ' ', '#', ' ', 'x', '\n', '2', ' ', '1', ' ', '1', '5', '\n',
                                    0, 5, 15, 15, 10, 1};
  write_file(root / "rgb.ppm", ppm);
  decode_image_file(root / "rgb.ppm", image);
  REQUIRE(image.view().shape() == ImageShape{3, 1, 2});
  CHECK(image.view().row(1, 0)[0] == 85);
  CHECK(image.view().row(0, 0)[1] == 255);
  CHECK(image.view().row(2, 0)[1] == 17);
  // A truncated file, a sample above the maximum, a number of 10 digits (stb_image's reader
  // overflowed an int on long numbers: fuzz/corpus/image/pgm-long-number.pgm).
  write_file(root / "short.pgm", {'P', '5', ' ', '3', ' ', '2', ' ', '2', '5', '5', '\n', 1, 2, 3});
  CHECK_THROWS_WITH_AS(decode_image_file(root / "short.pgm", image), contains("the file ends before its 6 bytes"), Error);
  write_file(root / "above.pgm", {'P', '5', ' ', '1', ' ', '1', ' ', '9', '\n', 10});
  CHECK_THROWS_WITH_AS(decode_image_file(root / "above.pgm", image), contains("a sample of 10 above the maximum value 9"),
                       Error);
  write_file(root / "long.pgm", {'P', '5', ' ', '1', ' ', '1', ' ', '2', '1', '1', '1', '1', '1', '1', '1', '1', '1', '\n', 1});
  CHECK_THROWS_WITH_AS(check_image_header(root / "long.pgm"), contains("the PGM/PPM maximum value has more than 9 digits"),
                       Error);
  // Grey + alpha and RGBA PNG: the alpha is dropped.
  const std::vector<uint8_t> grey_alpha = {10, 255, 20, 0, 30, 128, 40, 7};
  REQUIRE(stbi_write_png((root / "ga.png").c_str(), 2, 2, 2, grey_alpha.data(), 4) != 0);
  decode_image_file(root / "ga.png", image);
  for (int c = 0; c < 3; ++c) CHECK(image.view().row(c, 1)[0] == 30);
  const std::vector<uint8_t> rgba = {1, 2, 3, 4, 5, 6, 7, 8};
  REQUIRE(stbi_write_png((root / "rgba.png").c_str(), 2, 1, 4, rgba.data(), 8) != 0);
  decode_image_file(root / "rgba.png", image);
  CHECK(image.view().row(0, 0)[1] == 5);
  CHECK(image.view().row(1, 0)[1] == 6);
  CHECK(image.view().row(2, 0)[1] == 7);
}

TEST_CASE("image folder: check_headers reports the first bad file in order, whatever the thread count") {
  TempFolder root;
  for (int i = 0; i < 150; ++i) write_png(root / ("a/" + std::to_string(1000 + i) + ".png"), i, 2, 3);
  for (int i = 0; i < 150; ++i) write_png(root / ("b/" + std::to_string(1000 + i) + ".png"), i, 2, 3);
  ImageFolderDataset good(root.path().string());
  good.check_headers();
  write_file(root / "b/1100.png", {0x89, 'P', 'N', 'G', 0, 0});            // later in order
  write_png(root / "b/1040.bmp", 0, kMaxImageSide + 1, 1);                   // the first bad one
  write_file(root / "b/1120.jpg", {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02});     // later too
  ImageFolderDataset dataset(root.path().string());
  const int threads = omp_get_max_threads();
  const std::string first_bad = root / "b/1040.bmp";
  for (int t : {1, 2, 4}) {
    omp_set_num_threads(t);
    CHECK_THROWS_WITH_AS(dataset.check_headers(), contains("'" + first_bad + "' is 1x16385 pixels"), Error);
  }
  omp_set_num_threads(threads);
}

TEST_CASE("image folder: a limit keeps every class, round-robin in class order") {
  TempFolder root;
  for (int i = 0; i < 5; ++i) write_png(root / ("a/" + std::to_string(i) + ".png"), i, 2, 2);
  for (int i = 0; i < 2; ++i) write_png(root / ("b/" + std::to_string(i) + ".png"), i, 2, 2);
  for (int i = 0; i < 4; ++i) write_png(root / ("c/" + std::to_string(i) + ".png"), i, 2, 2);
  auto dataset = std::make_shared<const ImageFolderDataset>(root.path().string());
  auto paths_of = [&](const std::shared_ptr<const ImageFolderDataset>& subset) {
    std::vector<std::string> out;
    for (int64_t i = 0; i < subset->size(); ++i)
      out.push_back(fs::relative(subset->path(i), root.path()).string() + ":" + std::to_string(subset->label(i)));
    return out;
  };
  // Rounds a b c, a b c, a: b runs out after two, so the seventh is a's third.
  auto subset = class_preserving_subset(dataset, 7);
  CHECK(paths_of(subset) == std::vector<std::string>{"a/0.png:0", "a/1.png:0", "a/2.png:0", "b/0.png:1", "b/1.png:1",
                                                     "c/0.png:2", "c/1.png:2"});
  CHECK(subset->num_classes() == 3);
  CHECK(subset->class_names() == dataset->class_names());
  CHECK(subset->name() == "image folder (" + root.path().string() + "), 7 of 11 examples (round-robin over the classes)");
  CHECK(paths_of(class_preserving_subset(dataset, 9)) ==
        std::vector<std::string>{"a/0.png:0", "a/1.png:0", "a/2.png:0", "a/3.png:0", "b/0.png:1", "b/1.png:1",
                                 "c/0.png:2", "c/1.png:2", "c/2.png:2"});
  // Fewer than the classes: the first classes in order, one file each.
  CHECK(paths_of(class_preserving_subset(dataset, 2)) == std::vector<std::string>{"a/0.png:0", "b/0.png:1"});
  CHECK(class_preserving_subset(dataset, 0) == dataset);
  CHECK(class_preserving_subset(dataset, 11) == dataset);

  // The trainer's limits take this rule for image folders, the first n for the others.
  CHECK(tools::limit_examples(dataset, 7)->name() == subset->name());
  auto cifar_like = synthetic_dataset(10, {3, 4, 4});
  CHECK(tools::limit_examples(cifar_like, 4)->size() == 4);
  CHECK(tools::limit_examples(cifar_like, 4)->label(3) == cifar_like->label(3));
}

TEST_CASE("image folders: the validation classes must be the training classes by name") {
  TempFolder root;
  for (const char* name : {"train/cat/0.png", "train/dog/0.png", "train/dog/1.png", "val/cat/0.png", "val/wolf/0.png"})
    write_png(root / name, 1, 2, 2);
  const ImageFolderDataset train(root / "train");
  CHECK_THROWS_WITH_AS(check_same_classes(train, ImageFolderDataset(root / "val")),
                       contains("only in training: 'dog'; only in validation: 'wolf'"), Error);
  write_png(root / "val/dog/0.png", 1, 2, 2);
  CHECK_THROWS_WITH_AS(check_same_classes(train, ImageFolderDataset(root / "val")),
                       contains("(2 and 3 classes; a class's label is its place in the sorted names, so they must match "
                                "by name): only in training: none; only in validation: 'wolf'"),
                       Error);
  fs::remove_all(root.path() / "val/wolf");
  check_same_classes(train, ImageFolderDataset(root / "val"));

  // The trainer checks the classes, then every kept image's header, before it returns.
  fs::rename(root.path() / "val/dog", root.path() / "val/dogs");
  CHECK_THROWS_WITH_AS(tools::load_training_data("imagenet", root.path().string(), 32, 0, 0),
                       contains("only in training: 'dog'; only in validation: 'dogs'"), Error);
  fs::rename(root.path() / "val/dogs", root.path() / "val/dog");
  const tools::TrainingData data = tools::load_training_data("imagenet", root.path().string(), 32, 2, 0);
  CHECK(data.train->size() == 2);
  CHECK(data.train->label(0) == 0);
  CHECK(data.train->label(1) == 1);
  write_file(root / "val/dog/1.png", {1, 2, 3});
  CHECK_THROWS_WITH_AS(tools::load_training_data("imagenet", root.path().string(), 32, 0, 0),
                       contains("cannot decode '" + root / "val/dog/1.png" + "'"), Error);
  CHECK_THROWS_WITH_AS(tools::load_test_data("imagenet", root.path().string(), 32, 0),
                       contains("cannot decode '" + root / "val/dog/1.png" + "'"), Error);
}

// ---- transforms ---------------------------------------------------------------------------

TEST_CASE("bilinear resampling matches Pillow byte for byte") {
  const SafetensorsContents golden =
      load_safetensors(std::string(SLAB_SOURCE_DIR) + "/tests/golden/data_resample.safetensors");
  const Tensor& input_tensor = golden.at("input");
  ImageU8 input;
  input.reshape(input_tensor.size(0), input_tensor.size(1), input_tensor.size(2));
  const std::vector<double> input_values = input_tensor.to_vector();
  for (size_t i = 0; i < input_values.size(); ++i) input.pixels[i] = static_cast<uint8_t>(input_values[i]);

  ResampleScratch scratch;
  ImageU8 output;
  auto check = [&](const std::string& name, const ImageView& source) {
    const Tensor& expected = golden.at(name);
    resample_bilinear(source, expected.size(1), expected.size(2), output, scratch);
    const std::vector<double> values = expected.to_vector();
    REQUIRE(output.pixels.size() == values.size());
    int mismatches = 0;
    for (size_t i = 0; i < values.size(); ++i) mismatches += output.pixels[i] != static_cast<uint8_t>(values[i]);
    INFO(name);
    CHECK(mismatches == 0);
  };
  for (const char* name : {"shrink_5x7", "enlarge_30x20", "horizontal_9x13", "vertical_17x4", "mixed_40x3"})
    check(name, input.view());
  check("window_6x6", input.view().window(2, 3, 9, 11));  // crop (top 2, left 3, 9x11), then resize
  // The same size is a copy.
  resample_bilinear(input.view(), input.height, input.width, output, scratch);
  CHECK(output.pixels == input.pixels);
}

TEST_CASE("crop_with_zero_fill agrees with a pixel-by-pixel reference") {
  const ImageU8 image = pattern_image(2, 5, 6);
  ImageU8 out;
  for (int64_t top : {-3, -1, 0, 2, 4})
    for (int64_t left : {-7, -2, 0, 3, 5}) {
      crop_with_zero_fill(image.view(), top, left, 4, 3, out);
      bool ok = out.height == 4 && out.width == 3;
      for (int64_t c = 0; c < 2; ++c)
        for (int64_t y = 0; y < 4; ++y)
          for (int64_t x = 0; x < 3; ++x) {
            const int64_t sy = y + top, sx = x + left;
            const uint8_t expected = sy >= 0 && sy < 5 && sx >= 0 && sx < 6 ? image.view().row(c, sy)[sx] : 0;
            ok = ok && out.view().row(c, y)[x] == expected;
          }
      CHECK_MESSAGE(ok, "top " << top << " left " << left);
    }
}

TEST_CASE("RandomCrop with padding reaches every offset, and each output is that window of the padded image") {
  const ImageU8 image = pattern_image(3, 6, 6);
  RandomCrop crop(6, 6, 2);
  TransformScratch scratch;
  std::map<std::pair<int64_t, int64_t>, int> seen;
  ImageU8 reference;
  for (int64_t i = 0; i < 600; ++i) {
    Generator generator = augmentation_generator(5, 0, i);
    const std::vector<uint8_t> got = to_bytes(crop.apply(image.view(), scratch, generator));
    // Find the offset(s) that reproduce it; the nonzero pattern makes it unique.
    std::vector<std::pair<int64_t, int64_t>> matches;
    for (int64_t top = -2; top <= 2; ++top)
      for (int64_t left = -2; left <= 2; ++left) {
        crop_with_zero_fill(image.view(), top, left, 6, 6, reference);
        if (reference.pixels == got) matches.emplace_back(top, left);
      }
    REQUIRE(matches.size() == 1);
    ++seen[matches[0]];
  }
  CHECK(seen.size() == 25);                                   // all (2p + 1)^2 offsets
  for (const auto& [offset, count] : seen) CHECK(count > 6);  // ~24 each when uniform
  CHECK(crop.output_shape({3, 6, 6}) == ImageShape{3, 6, 6});
  CHECK_THROWS_WITH_AS(RandomCrop(11, 11, 2).output_shape({3, 6, 6}), contains("smaller than the crop"), Error);
}

TEST_CASE("RandomHorizontalFlip mirrors about half of the examples") {
  const ImageU8 image = pattern_image(3, 4, 5);
  RandomHorizontalFlip flip(0.5);
  TransformScratch scratch;
  int flipped = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    Generator generator = augmentation_generator(1, 2, i);
    const ImageView out = flip.apply(image.view(), scratch, generator);
    bool mirrored = true, same = true;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 4; ++y)
        for (int64_t x = 0; x < 5; ++x) {
          mirrored = mirrored && out.row(c, y)[x] == image.view().row(c, y)[4 - x];
          same = same && out.row(c, y)[x] == image.view().row(c, y)[x];
        }
    REQUIRE(mirrored != same);
    flipped += mirrored;
  }
  CHECK(flipped > 430);
  CHECK(flipped < 570);
  Generator generator(0);
  CHECK(to_bytes(RandomHorizontalFlip(0.0).apply(image.view(), scratch, generator)) == image.pixels);
}

TEST_CASE("Resize and CenterCrop follow torchvision's sizes and offsets") {
  CHECK(Resize(256).output_shape({3, 300, 400}) == ImageShape{3, 256, 341});  // int(256 * 400 / 300)
  CHECK(Resize(256).output_shape({3, 500, 375}) == ImageShape{3, 341, 256});
  CHECK(Resize(256).output_shape({3, 0, 0}) == ImageShape{3, 0, 0});
  CHECK(Resize(7, 9).output_shape({3, 0, 0}) == ImageShape{3, 7, 9});

  const ImageU8 image = pattern_image(1, 6, 7);
  TransformScratch scratch;
  Generator generator(0);
  // 6x7 -> 3x3: top = round(1.5) = 2 (half to even), left = round(2.0) = 2.
  ImageU8 expected;
  crop_with_zero_fill(image.view(), 2, 2, 3, 3, expected);
  CHECK(to_bytes(CenterCrop(3, 3).apply(image.view(), scratch, generator)) == expected.pixels);
  // 6x7 -> 3x4: top 2, left round(1.5) = 2.
  crop_with_zero_fill(image.view(), 2, 2, 3, 4, expected);
  CHECK(to_bytes(CenterCrop(3, 4).apply(image.view(), scratch, generator)) == expected.pixels);
  // Larger than the image: padding floor(d/2) before (rows: (9-6)/2 = 1; columns: (10-7)/2 = 1).
  crop_with_zero_fill(image.view(), -1, -1, 9, 10, expected);
  CHECK(to_bytes(CenterCrop(9, 10).apply(image.view(), scratch, generator)) == expected.pixels);
  // One axis larger, one smaller: rows padded by (8-6)/2 = 1, columns cut at round(3/2) = 2.
  crop_with_zero_fill(image.view(), -1, 2, 8, 4, expected);
  CHECK(to_bytes(CenterCrop(8, 4).apply(image.view(), scratch, generator)) == expected.pixels);
}

TEST_CASE("RandomResizedCrop windows respect scale and ratio, and fall back to a central crop") {
  RandomResizedCrop crop(8, 8);
  double smallest_fraction = 1.0, largest_fraction = 0.0;
  for (int64_t i = 0; i < 2000; ++i) {
    Generator generator = augmentation_generator(3, 1, i);
    const CropWindow w = crop.sample_window(300, 400, generator);
    REQUIRE(w.top >= 0);
    REQUIRE(w.left >= 0);
    REQUIRE(w.top + w.height <= 300);
    REQUIRE(w.left + w.width <= 400);
    const double fraction = static_cast<double>(w.height * w.width) / (300.0 * 400.0);
    const double ratio = static_cast<double>(w.width) / static_cast<double>(w.height);
    // Rounding h and w to integers moves area and ratio a little past the bounds.
    CHECK(fraction > 0.08 * 0.98);
    CHECK(fraction < 1.0 + 1e-12);
    CHECK(ratio > 0.75 * 0.98);
    CHECK(ratio < 4.0 / 3.0 * 1.02);
    smallest_fraction = std::min(smallest_fraction, fraction);
    largest_fraction = std::max(largest_fraction, fraction);
  }
  CHECK(smallest_fraction < 0.1);
  CHECK(largest_fraction > 0.9);
  // A 1x100 strip never fits a tried window: the fallback narrows it to ratio 4/3, centred.
  Generator generator(0);
  CropWindow w = crop.sample_window(1, 100, generator);
  CHECK(w.top == 0);
  CHECK(w.height == 1);
  CHECK(w.width == 1);  // round(1 * 4/3)
  CHECK(w.left == 49);
  w = crop.sample_window(100, 2, generator);  // ratio 0.02 < 3/4: height round(2 / 0.75) = 3
  CHECK(w.width == 2);
  CHECK(w.height == 3);
  CHECK(w.top == 48);

  // apply() is sample_window then the bilinear resize of that window.
  const ImageU8 image = pattern_image(3, 30, 40);
  TransformScratch scratch;
  Generator a = augmentation_generator(8, 0, 17), b = augmentation_generator(8, 0, 17);
  const std::vector<uint8_t> got = to_bytes(crop.apply(image.view(), scratch, a));
  const CropWindow window = crop.sample_window(30, 40, b);
  ImageU8 expected;
  ResampleScratch resample;
  resample_bilinear(image.view().window(window.top, window.left, window.height, window.width), 8, 8, expected,
                    resample);
  CHECK(got == expected.pixels);
  CHECK_THROWS_WITH_AS(RandomResizedCrop(8, 8, 0.5, 0.1), contains("scale"), Error);
}

TEST_CASE("normalisation is ToTensor then Normalize in float32, exactly") {
  auto dataset = synthetic_dataset(4, {3, 5, 6});
  const ChannelStats stats = cifar10_stats();
  Pipeline pipeline = eval_pipeline(stats);
  CHECK(pipeline.output_shape({3, 5, 6}) == ImageShape{3, 5, 6});
  std::vector<float> out(90);
  PipelineScratch scratch;
  Generator generator(0);
  CHECK(pipeline.fetch(*dataset, 2, generator, out.data(), scratch) == 2);
  ImageU8 unused;
  const ImageView view = dataset->image(2, unused);
  int mismatches = 0;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 5; ++y)
      for (int64_t x = 0; x < 6; ++x) {
        const float unit = static_cast<float>(view.row(c, y)[x]) / 255.0f;
        const float expected = (unit - stats.mean[static_cast<size_t>(c)]) / stats.std[static_cast<size_t>(c)];
        mismatches += out[static_cast<size_t>((c * 5 + y) * 6 + x)] != expected;
      }
  CHECK(mismatches == 0);
  // Without Normalize: pixel / 255, the same as Dataset::fetch.
  Pipeline plain;
  plain.fetch(*dataset, 3, generator, out.data(), scratch);
  CHECK(out == fetch_floats(*dataset, 3));
}

TEST_CASE("pipelines check shapes and channels up front") {
  auto mnist_like = synthetic_dataset(2, {1, 28, 28});
  CHECK_THROWS_WITH_AS(eval_pipeline(cifar10_stats()).output_shape(mnist_like->image_shape()),
                       contains("Normalize has 3 channels but the images have 1"), Error);
  CHECK(eval_pipeline(mnist_stats()).output_shape(mnist_like->image_shape()) == ImageShape{1, 28, 28});
  CHECK_THROWS_WITH_AS(eval_pipeline(imagenet_stats()).output_shape({3, 0, 0}), contains("varying size"), Error);
  CHECK(imagenet_eval_pipeline(32, 24).output_shape({3, 0, 0}) == ImageShape{3, 24, 24});
  CHECK(imagenet_train_pipeline(24).output_shape({3, 0, 0}) == ImageShape{3, 24, 24});
  CHECK_THROWS_WITH_AS(Pipeline().normalize({{0.5f, 0.5f}, {0.5f}}), contains("2 means and 1"), Error);
  CHECK_THROWS_WITH_AS(Pipeline().normalize({{0.5f}, {0.0f}}), contains("must be positive"), Error);
  CHECK(cifar_train_pipeline(cifar10_stats()).describe().find("RandomCrop(32x32, padding 4) -> RandomHorizontalFlip") ==
        0);
}

TEST_CASE("augmentation of example i in epoch e depends only on (seed, e, i)") {
  auto dataset = synthetic_dataset(20, {3, 32, 32});
  const Pipeline pipeline = cifar_train_pipeline(cifar10_stats());
  PipelineScratch scratch_a, scratch_b;
  std::vector<float> a(3072), b(3072), c(3072);
  // Fetch 5 after other examples with one scratch, and first with a fresh one.
  for (int64_t i : {0, 9, 3}) pipeline.fetch(*dataset, i, 11, 4, a.data(), scratch_a);
  pipeline.fetch(*dataset, 5, 11, 4, a.data(), scratch_a);
  pipeline.fetch(*dataset, 5, 11, 4, b.data(), scratch_b);
  CHECK(a == b);
  // Another epoch or seed draws another augmentation for most examples.
  int differ_epoch = 0, differ_seed = 0;
  for (int64_t i = 0; i < 20; ++i) {
    pipeline.fetch(*dataset, i, 11, 4, a.data(), scratch_a);
    pipeline.fetch(*dataset, i, 11, 5, b.data(), scratch_a);
    pipeline.fetch(*dataset, i, 12, 4, c.data(), scratch_a);
    differ_epoch += a != b;
    differ_seed += a != c;
  }
  CHECK(differ_epoch >= 15);
  CHECK(differ_seed >= 15);
}

// ---- shuffling ----------------------------------------------------------------------------

TEST_CASE("epoch order: a permutation, reproducible, new per epoch and seed, uniform over small n") {
  std::vector<int64_t> order, again, other;
  epoch_order(1000, true, 42, 3, order);
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(1000);
  for (int64_t i = 0; i < 1000; ++i) identity[static_cast<size_t>(i)] = i;
  CHECK(sorted == identity);
  CHECK(order != identity);
  epoch_order(1000, true, 42, 3, again);
  CHECK(again == order);
  epoch_order(1000, true, 42, 4, other);
  CHECK(other != order);
  epoch_order(1000, true, 43, 3, other);
  CHECK(other != order);
  epoch_order(1000, false, 42, 3, other);
  CHECK(other == identity);
  // All 6 orders of 3 elements over 1200 epochs: about 200 each.
  std::map<std::vector<int64_t>, int> counts;
  for (int64_t epoch = 0; epoch < 1200; ++epoch) {
    epoch_order(3, true, 7, epoch, order);
    ++counts[order];
  }
  CHECK(counts.size() == 6);
  for (const auto& [permutation, count] : counts) CHECK(std::abs(count - 200) < 60);
  CHECK_THROWS_WITH_AS(epoch_order(3, true, 7, -1, order), contains("epoch -1"), Error);
}

// ---- loader -------------------------------------------------------------------------------

namespace {

std::vector<Batch> run_epoch(Loader& loader, int64_t epoch, int64_t first_batch = 0) {
  std::vector<Batch> batches;
  loader.start_epoch(epoch, first_batch);
  Batch batch;
  while (loader.next(batch)) batches.push_back(batch);
  return batches;
}

}  // namespace

TEST_CASE("loader: batches cover the epoch once, in shuffled order, with the pipeline's content") {
  auto dataset = synthetic_dataset(103, {3, 32, 32});
  const Pipeline pipeline = cifar_train_pipeline(cifar10_stats());
  LoaderOptions options;
  options.batch_size = 10;
  options.seed = 77;
  Loader loader(dataset, pipeline, options);
  CHECK(loader.batches_per_epoch() == 11);
  CHECK(loader.example_shape() == ImageShape{3, 32, 32});
  CHECK(loader.position() == LoaderPosition{-1, 0});
  Batch batch;
  CHECK_THROWS_WITH_AS(loader.next(batch), contains("start_epoch"), Error);

  const std::vector<Batch> batches = run_epoch(loader, 2);
  REQUIRE(batches.size() == 11);
  CHECK(loader.position() == LoaderPosition{2, 11});
  CHECK(batches[0].images.shape() == Shape{10, 3, 32, 32});
  CHECK(batches[0].images.dtype() == DType::f32);
  CHECK(batches[0].labels.shape() == Shape{10});
  CHECK(batches[0].labels.dtype() == DType::i64);
  CHECK(batches[10].images.shape() == Shape{3, 3, 32, 32});  // 103 = 10 * 10 + 3
  CHECK(batches[10].index == 10);
  CHECK(batches[10].epoch == 2);

  // Rebuild every example from (order, pipeline, seed, epoch): the batches must agree.
  std::vector<int64_t> order;
  epoch_order(103, true, 77, 2, order);
  PipelineScratch scratch;
  std::vector<float> expected(3072);
  int64_t example = 0, mismatches = 0;
  for (const Batch& b : batches)
    for (int64_t j = 0; j < b.images.size(0); ++j, ++example) {
      const int64_t index = order[static_cast<size_t>(example)];
      const int64_t label = pipeline.fetch(*dataset, index, 77, 2, expected.data(), scratch);
      mismatches += label != b.labels.data<int64_t>()[j];
      mismatches += std::memcmp(expected.data(), b.images.data<float>() + j * 3072, 3072 * sizeof(float)) != 0;
    }
  CHECK(example == 103);
  CHECK(mismatches == 0);

  options.drop_last = true;
  Loader dropping(dataset, pipeline, options);
  CHECK(dropping.batches_per_epoch() == 10);
  CHECK(run_epoch(dropping, 0).back().images.size(0) == 10);
  options.shuffle = false;
  Loader ordered(dataset, eval_pipeline(cifar10_stats()), options);
  CHECK(run_epoch(ordered, 0)[1].labels.to_vector() == std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("loader: 0, 1 and 3 workers give bit-identical batches") {
  auto dataset = synthetic_dataset(257, {3, 32, 32});
  LoaderOptions options;
  options.batch_size = 16;
  options.seed = 2024;
  std::vector<std::vector<Batch>> results;
  for (int workers : {0, 1, 3}) {
    options.workers = workers;
    Loader loader(dataset, cifar_train_pipeline(cifar10_stats()), options);
    std::vector<Batch> batches = run_epoch(loader, 0);
    const std::vector<Batch> second = run_epoch(loader, 1);
    batches.insert(batches.end(), second.begin(), second.end());
    results.push_back(std::move(batches));
  }
  REQUIRE(results[0].size() == 2 * 17);
  for (size_t run = 1; run < results.size(); ++run) {
    REQUIRE(results[run].size() == results[0].size());
    int different = 0;
    for (size_t b = 0; b < results[0].size(); ++b)
      different += !same_bytes(results[run][b].images, results[0][b].images) ||
                   !same_bytes(results[run][b].labels, results[0][b].labels);
    CHECK_MESSAGE(different == 0, "run with workers index " << run);
  }
  // The two epochs differ (new order and new augmentation).
  CHECK(!same_bytes(results[0][0].images, results[0][17].images));
}

TEST_CASE("loader: a saved position resumes exactly, across epochs and worker counts") {
  auto dataset = synthetic_dataset(100, {3, 32, 32});
  LoaderOptions options;
  options.batch_size = 8;
  options.seed = 5;
  options.workers = 2;
  Loader original(dataset, cifar_train_pipeline(cifar10_stats()), options);
  const std::vector<Batch> uninterrupted = run_epoch(original, 3);

  // Stop after 5 batches, remember the position, resume in a new loader with other workers.
  LoaderPosition saved;
  {
    Loader first(dataset, cifar_train_pipeline(cifar10_stats()), options);
    first.start_epoch(3);
    Batch batch;
    for (int i = 0; i < 5; ++i) REQUIRE(first.next(batch));
    saved = first.position();
  }
  CHECK(saved == LoaderPosition{3, 5});
  options.workers = 0;
  Loader resumed(dataset, cifar_train_pipeline(cifar10_stats()), options);
  resumed.seek(saved);
  Batch batch;
  int64_t index = 5, mismatches = 0;
  while (resumed.next(batch)) {
    mismatches += !same_bytes(batch.images, uninterrupted[static_cast<size_t>(index)].images);
    mismatches += batch.index != index;
    ++index;
  }
  CHECK(index == 13);
  CHECK(mismatches == 0);
  CHECK_THROWS_WITH_AS(resumed.start_epoch(0, 14), contains("batch 14 is outside 0..13"), Error);
  resumed.start_epoch(0, 13);  // the end of an epoch is a valid position: nothing left
  CHECK(!resumed.next(batch));
}

TEST_CASE("loader: stopping early, restarting mid-epoch and destroying mid-epoch do not hang") {
  auto dataset = synthetic_dataset(300, {3, 32, 32});
  LoaderOptions options;
  options.batch_size = 4;
  options.workers = 3;
  options.prefetch_batches = 2;
  for (int repeat = 0; repeat < 20; ++repeat) {
    Loader loader(dataset, cifar_train_pipeline(cifar10_stats()), options);
    loader.start_epoch(0);
    Batch batch;
    REQUIRE(loader.next(batch));
    loader.start_epoch(1, 10);  // abandons epoch 0 with work in flight
    REQUIRE(loader.next(batch));
    CHECK(batch.epoch == 1);
    CHECK(batch.index == 10);
    // The loader is destroyed here with the workers busy and the queue full.
  }
  Loader idle(dataset, eval_pipeline(cifar10_stats()), options);  // never started: must also shut down
  CHECK(idle.position().epoch == -1);
}

TEST_CASE("loader: every element is written, and a steady epoch allocates nothing new") {
  auto dataset = synthetic_dataset(70, {3, 32, 32});
  LoaderOptions options;
  options.batch_size = 16;
  Loader loader(dataset, cifar_train_pipeline(cifar10_stats()), options);
  set_tensor_poisoning(true);  // unwritten floats would stay +inf, labels INT64_MIN
  std::vector<Batch> batches = run_epoch(loader, 0);
  set_tensor_poisoning(false);
  bool finite = true;
  for (const Batch& b : batches) {
    const float* images = b.images.data<float>();
    for (int64_t i = 0; i < b.images.numel(); ++i) finite = finite && std::isfinite(images[i]);
    for (double label : b.labels.to_vector()) finite = finite && label >= 0 && label < 10;
  }
  CHECK(finite);
  batches.clear();

  Batch batch;
  loader.start_epoch(1);
  while (loader.next(batch)) {
  }
  const uint64_t before = host_allocator_stats().system_allocations;
  loader.start_epoch(2);
  while (loader.next(batch)) {
  }
  CHECK(host_allocator_stats().system_allocations == before);
}

TEST_CASE("loader: an error in a worker reaches the consumer at its batch") {
  TempFolder root;
  for (int i = 0; i < 6; ++i) write_png(root / ("a/" + std::to_string(i) + ".png"), i, 12, 10);
  write_file(root / "a/6_broken.png", {0x89, 'P', 'N', 'G', 0, 0});
  auto dataset = std::make_shared<ImageFolderDataset>(root.path().string());
  LoaderOptions options;
  options.batch_size = 2;
  options.shuffle = false;
  options.workers = 2;
  Pipeline pipeline;
  pipeline.then(std::make_shared<Resize>(8)).then(std::make_shared<CenterCrop>(8, 8));
  Loader loader(dataset, pipeline, options);
  CHECK(loader.example_shape() == ImageShape{3, 8, 8});
  loader.start_epoch(0);
  Batch batch;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(loader.next(batch));
    CHECK(batch.images.shape() == Shape{2, 3, 8, 8});
  }
  CHECK_THROWS_WITH_AS(loader.next(batch), contains("cannot decode '" + root / "a/6_broken.png" + "'"), Error);
  // A pipeline without a fixed-size step is refused up front.
  CHECK_THROWS_WITH_AS(Loader(dataset, Pipeline(), options), contains("varying size"), Error);
}

TEST_CASE("loader: bad options are errors") {
  auto dataset = synthetic_dataset(5, {3, 32, 32});
  LoaderOptions options;
  options.batch_size = 0;
  CHECK_THROWS_WITH_AS(Loader(dataset, Pipeline(), options), contains("batch size 0"), Error);
  options.batch_size = 8;
  options.drop_last = true;
  CHECK_THROWS_WITH_AS(Loader(dataset, Pipeline(), options), contains("leaves no batch"), Error);
  options.drop_last = false;
  options.workers = -1;
  CHECK_THROWS_WITH_AS(Loader(dataset, Pipeline(), options), contains("workers -1"), Error);
}
