// The safetensors reader (core/safetensors.h) on arbitrary bytes: the 8-byte header length,
// the JSON header (dtypes, shapes, offsets, __metadata__), the data, then the finite check.
#include <map>

#include "core/random.h"
#include "core/safetensors.h"
#include "fuzz/fuzz_support.h"

using namespace slab;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_folder()) return 0;
  const std::string path = fuzz::scratch_path("seed.safetensors");
  Generator generator(1);
  save_safetensors(path, {{"weight", randn({3, 2}, generator)}, {"count", zeros({2}, {.dtype = DType::i64})}},
                   {{"note", "seed"}});
  fuzz::write_seed("two-tensors.safetensors", fuzz::read_file(path));
  save_safetensors(path, {{"scalar", ones({}, {.dtype = DType::f64})}});
  fuzz::write_seed("scalar-f64.safetensors", fuzz::read_file(path));
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::scratch_path("input.safetensors");
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  fuzz::refused_or_accepted([&] {
    const SafetensorsContents contents = load_safetensors(path);
    check_all_finite(contents, path);
  });
  return 0;
}
