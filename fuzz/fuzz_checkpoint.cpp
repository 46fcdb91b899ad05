// Checkpoint reading and resume validation (optim/checkpoint.h, tools/trainer/
// training_state.h) on arbitrary bytes: the metadata (format, architecture, epoch and step,
// the optimizer's scalars, generator states, the loader position, the epoch's sums, the
// saved configuration), the tensors the model and the optimizer need, then everything
// --resume checks against the run's configuration.
#include "fuzz/checkpoint_seed.h"
#include "optim/checkpoint.h"

using namespace slab;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_folder()) return 0;
  fuzz::write_seed("latest.safetensors", fuzz::read_file(fuzz::checkpoint_run().latest));
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::checkpoint_run();  // made before the input's file, which it must not see
  const std::string path = fuzz::scratch_path("input.safetensors");
  fuzz::write_file(path, {reinterpret_cast<const char*>(data), size});
  fuzz::refused_or_accepted([&] { (void)read_checkpoint_info(path); });
  fuzz::refused_or_accepted([&] { fuzz::resume_from(path); });
  return 0;
}
