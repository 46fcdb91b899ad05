#include "data/cifar.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace slab::data {
namespace {

namespace fs = std::filesystem;

struct CifarFormat {
  const char* name;            // "CIFAR-10"
  const char* archive_folder;  // the folder inside the official archive
  int64_t label_bytes;         // label bytes before the pixels of each record
  int64_t label_used;          // which of them is the class (CIFAR-100: the fine label)
  int64_t label_limits[2];     // exclusive upper bound of each label byte
  int64_t num_classes;
  const char* class_names_file;
  int64_t record_bytes() const { return label_bytes + kCifarImageBytes; }
};

constexpr CifarFormat kCifar10{"CIFAR-10", "cifar-10-batches-bin", 1, 0, {10, 0}, 10, "batches.meta.txt"};
constexpr CifarFormat kCifar100{"CIFAR-100", "cifar-100-binary", 2, 1, {20, 100}, 100, "fine_label_names.txt"};

// The folder holding the batch files: `folder` itself, or the archive's folder inside it.
fs::path batch_folder(const CifarFormat& format, const std::string& folder) {
  const fs::path root(folder);
  SLAB_CHECK(fs::is_directory(root), format.name, ": folder '", folder, "' does not exist or is not a folder");
  const fs::path nested = root / format.archive_folder;
  return fs::is_directory(nested) ? nested : root;
}

// Appends the records of one file to pixels/labels after checking its size and labels.
void read_batch_file(const CifarFormat& format, const fs::path& path, std::vector<uint8_t>& pixels,
                     std::vector<int64_t>& labels) {
  const auto bytes = static_cast<int64_t>(fs::file_size(path));
  SLAB_CHECK(bytes > 0, format.name, ": file '", path.string(), "' is empty; expected a multiple of ",
             format.record_bytes(), " bytes (", format.record_bytes(), "-byte records)");
  SLAB_CHECK(bytes % format.record_bytes() == 0, format.name, ": file '", path.string(), "' has ", bytes,
             " bytes, which is not a multiple of the record size ", format.record_bytes(), " (", format.label_bytes,
             " label byte(s) + ", kCifarImageBytes, " pixel bytes); is it the binary version of ", format.name, "?");
  std::vector<uint8_t> contents(static_cast<size_t>(bytes));
  std::ifstream in(path, std::ios::binary);
  SLAB_CHECK(in && in.read(reinterpret_cast<char*>(contents.data()), bytes), format.name, ": cannot read file '",
             path.string(), "'");

  const int64_t records = bytes / format.record_bytes();
  const size_t first_pixel = pixels.size();
  pixels.resize(first_pixel + static_cast<size_t>(records * kCifarImageBytes));
  labels.reserve(labels.size() + static_cast<size_t>(records));
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* record = contents.data() + r * format.record_bytes();
    for (int64_t b = 0; b < format.label_bytes; ++b)
      SLAB_CHECK(record[b] < format.label_limits[b], format.name, ": file '", path.string(), "', record ", r,
                 ": label byte ", b, " is ", static_cast<int>(record[b]), "; expected 0 to ",
                 format.label_limits[b] - 1);
    labels.push_back(record[format.label_used]);
    std::copy(record + format.label_bytes, record + format.record_bytes(),
              pixels.begin() + static_cast<std::ptrdiff_t>(first_pixel + static_cast<size_t>(r * kCifarImageBytes)));
  }
}

// One class name per non-empty line; returns none when the file is absent or does not
// list exactly num_classes names (the names are a convenience, never required).
std::vector<std::string> read_class_names(const CifarFormat& format, const fs::path& folder) {
  std::ifstream in(folder / format.class_names_file);
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (static_cast<int64_t>(names.size()) != format.num_classes) names.clear();
  return names;
}

std::shared_ptr<InMemoryDataset> load(const CifarFormat& format, const std::string& folder,
                                      const std::vector<std::string>& file_names, Split split) {
  const fs::path directory = batch_folder(format, folder);
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  int files_read = 0;
  for (const std::string& file_name : file_names) {
    const fs::path path = directory / file_name;
    if (!fs::exists(path)) continue;
    read_batch_file(format, path, pixels, labels);
    ++files_read;
  }
  if (files_read == 0) {
    std::string expected;
    for (const std::string& file_name : file_names) expected += (expected.empty() ? "" : ", ") + file_name;
    SLAB_FAIL(format.name, ": folder '", directory.string(), "' holds no ", split_name(split),
              " file; expected one or more of: ", expected, " (the binary version of ", format.name, ")");
  }
  return std::make_shared<InMemoryDataset>(
      std::string(format.name) + " " + split_name(split) + " (" + directory.string() + ")", ImageShape{3, 32, 32},
      format.num_classes, std::move(pixels), std::move(labels), read_class_names(format, directory));
}

}  // namespace

std::shared_ptr<InMemoryDataset> load_cifar10(const std::string& folder, Split split) {
  if (split == Split::test) return load(kCifar10, folder, {"test_batch.bin"}, split);
  return load(kCifar10, folder,
              {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
              split);
}

std::shared_ptr<InMemoryDataset> load_cifar100(const std::string& folder, Split split) {
  return load(kCifar100, folder, {split == Split::train ? "train.bin" : "test.bin"}, split);
}

}  // namespace slab::data
