// The saved run configuration (config.json, also kept in every checkpoint as user.config)
// on arbitrary text: the checkpoint of fuzz/checkpoint_seed.h with its configuration
// replaced by the input, then what reads it: --resume's comparison with the run's flags,
// and slab-eval --checkpoint, which rebuilds the model and the test set from it (its data
// folder is overridden with one that does not exist, so no data is read).
#include "core/safetensors.h"
#include "fuzz/checkpoint_seed.h"
#include "tools/trainer/eval_program.h"

using namespace slab;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!fuzz::seed_folder()) return 0;
  const SafetensorsContents contents = load_safetensors(fuzz::checkpoint_run().latest);
  fuzz::write_seed("config.json", contents.metadata.at("user.config"));
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const SafetensorsContents seed = load_safetensors(fuzz::checkpoint_run().latest);
  Metadata metadata = seed.metadata;
  metadata["user.config"] = std::string(reinterpret_cast<const char*>(data), size);
  const std::string path = fuzz::scratch_path("config.safetensors");
  save_safetensors(path, NamedTensors(seed.tensors.begin(), seed.tensors.end()), metadata);
  fuzz::refused_or_accepted([&] { fuzz::resume_from(path); });
  std::string checkpoint = path, data_dir = "/nonexistent-slab-fuzz";
  char program[] = "slab-eval", flag[] = "--checkpoint", data_flag[] = "--data-dir", threads[] = "--threads", one[] = "1";
  char* argv[] = {program, flag, checkpoint.data(), data_flag, data_dir.data(), threads, one, nullptr};
  (void)tools::eval_program_main(7, argv);  // catches and prints its errors; exit code 1 or 2
  return 0;
}
