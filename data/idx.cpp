#include "data/idx.h"

#include <algorithm>

#include <zlib.h>

#include <filesystem>

#include "core/error.h"

namespace slab::data {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kImagesMagic = 2051;  // 0x00000803
constexpr uint32_t kLabelsMagic = 2049;  // 0x00000801

// An open gzFile that closes itself; reads either fill the request or throw.
class IdxReader {
 public:
  explicit IdxReader(std::string path) : path_(std::move(path)) {
    SLAB_CHECK(fs::is_regular_file(path_), "IDX file '", path_, "' does not exist");
    file_ = gzopen(path_.c_str(), "rb");
    SLAB_CHECK(file_ != nullptr, "IDX file '", path_, "': cannot open it");
  }
  ~IdxReader() {
    if (file_ != nullptr) gzclose(file_);
  }
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  uint32_t read_big_endian_u32(const char* what) {
    uint8_t bytes[4];
    read_exactly(bytes, 4, what);
    return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]};
  }

  void read_exactly(uint8_t* out, size_t bytes, const char* what) {
    size_t done = 0;
    while (done < bytes) {
      // gzread takes an unsigned count: read in chunks of at most 1 GiB.
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes - done, size_t{1} << 30));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        SLAB_FAIL("IDX file '", path_, "': read error while reading ", what, ": ", message);
      }
      SLAB_CHECK(got > 0, "IDX file '", path_, "' is truncated: expected ", bytes, " bytes of ", what, ", found ", done,
                 " (", offset_ + done, " bytes into the ", fs::path(path_).extension() == ".gz" ? "uncompressed " : "",
                 "file)");
      done += static_cast<size_t>(got);
    }
    offset_ += bytes;
  }

  // A well-formed file ends right after the data its header announces.
  void expect_end() {
    uint8_t extra;
    const int got = gzread(file_, &extra, 1);
    SLAB_CHECK(got == 0, "IDX file '", path_, "' is longer than its header says: expected exactly ", offset_, " bytes",
               fs::path(path_).extension() == ".gz" ? " once uncompressed" : "");
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  size_t offset_ = 0;
};

void check_magic(IdxReader& reader, uint32_t expected, const char* kind) {
  const uint32_t magic = reader.read_big_endian_u32("the magic number");
  SLAB_CHECK(magic == expected, "IDX file '", reader.path(), "': magic number ", magic, "; expected ", expected, " (",
             kind, ")");
}

uint32_t read_dimension(IdxReader& reader, const char* what) {
  const uint32_t extent = reader.read_big_endian_u32(what);
  SLAB_CHECK(extent > 0, "IDX file '", reader.path(), "': ", what, " is 0; expected a positive number");
  return extent;
}

// `stem` (e.g. "train-images-idx3-ubyte") or one of its accepted spellings in `folder`.
std::string find_file(const fs::path& folder, const std::string& stem, const std::string& dotted_stem,
                      const std::string& name) {
  for (const std::string& candidate : {stem, stem + ".gz", dotted_stem, dotted_stem + ".gz"})
    if (fs::is_regular_file(folder / candidate)) return (folder / candidate).string();
  SLAB_FAIL(name, ": folder '", folder.string(), "' holds no ", stem, "; expected '", stem, "' or '", stem,
            ".gz' (or '", dotted_stem, "[.gz]')");
}

}  // namespace

std::shared_ptr<InMemoryDataset> load_idx_files(const std::string& images_path, const std::string& labels_path,
                                                const std::string& name, int64_t num_classes) {
  SLAB_CHECK(num_classes > 0 && num_classes <= 256, name, ": num_classes ", num_classes,
             " must be in 1..256 (labels are bytes)");
  IdxReader images(images_path);
  check_magic(images, kImagesMagic, "unsigned-byte images with 3 dimensions");
  const uint32_t count = read_dimension(images, "the image count");
  const uint32_t rows = read_dimension(images, "the row count");
  const uint32_t columns = read_dimension(images, "the column count");

  IdxReader labels(labels_path);
  check_magic(labels, kLabelsMagic, "unsigned-byte labels with 1 dimension");
  const uint32_t label_count = read_dimension(labels, "the label count");
  SLAB_CHECK(label_count == count, name, ": '", labels_path, "' holds ", label_count, " labels but '", images_path,
             "' holds ", count, " images; expected equal counts");

  uint64_t pixel_count = 0;
  SLAB_CHECK(!__builtin_mul_overflow(uint64_t{count} * rows, uint64_t{columns}, &pixel_count) &&
                 pixel_count <= (uint64_t{1} << 40),
             name, ": '", images_path, "' declares ", count, " images of ", rows, "x", columns,
             " pixels, beyond 2^40 bytes");
  // Read in pieces, so that a header that claims more than the file holds (a gzip file's
  // size says nothing) fails as truncated after what it holds, without allocating the claim.
  std::vector<uint8_t> pixels;
  for (uint64_t done = 0; done < pixel_count;) {
    const uint64_t piece = std::min<uint64_t>(pixel_count - done, uint64_t{1} << 26);
    pixels.resize(static_cast<size_t>(done + piece));
    images.read_exactly(pixels.data() + done, static_cast<size_t>(piece), "pixels");
    done += piece;
  }
  images.expect_end();

  std::vector<uint8_t> label_bytes(count);
  labels.read_exactly(label_bytes.data(), label_bytes.size(), "labels");
  labels.expect_end();
  std::vector<int64_t> label_values(count);
  for (size_t i = 0; i < label_bytes.size(); ++i) {
    SLAB_CHECK(label_bytes[i] < num_classes, "IDX file '", labels_path, "': label ", static_cast<int>(label_bytes[i]),
               " of example ", i, "; expected 0 to ", num_classes - 1);
    label_values[i] = label_bytes[i];
  }
  return std::make_shared<InMemoryDataset>(name + " (" + images_path + ")",
                                           ImageShape{1, static_cast<int64_t>(rows), static_cast<int64_t>(columns)},
                                           num_classes, std::move(pixels), std::move(label_values));
}

std::shared_ptr<InMemoryDataset> load_idx_folder(const std::string& folder, Split split, const std::string& name,
                                                 int64_t num_classes) {
  const fs::path root(folder);
  SLAB_CHECK(fs::is_directory(root), name, ": folder '", folder, "' does not exist or is not a folder");
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string images = find_file(root, prefix + "-images-idx3-ubyte", prefix + "-images.idx3-ubyte", name);
  const std::string labels = find_file(root, prefix + "-labels-idx1-ubyte", prefix + "-labels.idx1-ubyte", name);
  auto dataset = load_idx_files(images, labels, name + " " + split_name(split), num_classes);
  return dataset;
}

}  // namespace slab::data
