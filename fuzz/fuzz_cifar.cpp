// The CIFAR readers (data/cifar.h) on arbitrary record files: the input is test_batch.bin of
// a CIFAR-10 folder (with an optional batches.meta.txt: the bytes after a 0xFF 0x00 0xFF
// separator) and test.bin of a CIFAR-100 folder.
#include <filesystem>
#include <string_view>

#include "data/cifar.h"
#include "fuzz/fuzz_support.h"

using namespace slab;

namespace {

constexpr std::string_view kSeparator("\xFF\x00\xFF", 3);

std::string folder(const char* name) {
  const std::string path = fuzz::scratch_path(name);
  std::filesystem::create_directories(path);
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_folder()) return 0;
  std::string records;
  for (char label : {'\x03', '\x09'}) records += label + std::string(static_cast<size_t>(data::kCifarImageBytes), '\x80');
  fuzz::write_seed("two-records.bin", records);
  fuzz::write_seed("records-and-names.bin", records + std::string(kSeparator) + "airplane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
  std::string hundred;
  for (char label : {'\x01', '\x63'}) hundred += '\x00' + std::string(1, label) + std::string(static_cast<size_t>(data::kCifarImageBytes), '\x10');
  fuzz::write_seed("cifar100-records.bin", hundred);
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t cut = input.find(kSeparator);
  const std::string ten = folder("cifar10"), hundred = folder("cifar100");
  fuzz::write_file(ten + "/test_batch.bin", input.substr(0, cut));
  const std::string names = ten + "/batches.meta.txt";
  if (cut == std::string_view::npos) std::filesystem::remove(names);
  else fuzz::write_file(names, input.substr(cut + kSeparator.size()));
  fuzz::write_file(hundred + "/test.bin", input);
  fuzz::refused_or_accepted([&] { data::load_cifar10(ten, data::Split::test); });
  fuzz::refused_or_accepted([&] { data::load_cifar100(hundred, data::Split::test); });
  return 0;
}
