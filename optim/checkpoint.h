// Checkpoints: one safetensors file (core/safetensors.h: written to a temporary file and
// renamed, so a crash never leaves half a checkpoint) holding everything an exact resume
// needs.
//
// Layout:
//   tensors   "model.<state-dict key>"     parameters and buffers (PyTorch's keys)
//             "optimizer.<param>.<slot>"   the optimizer's state_tensors()
//   metadata  "slab.format"       "slab-checkpoint/1"
//             "slab.architecture" the model's name (make_model's), checked on load
//             "slab.epoch", "slab.step"
//             "slab.optimizer"    the optimizer's name(), "" when none was saved
//             "optimizer.<key>"   the optimizer's state_metadata() (step_count, scalars)
//             "rng.dropout.<module>"  the Generator state of every Dropout in the model
//             "user.<key>"        the caller's entries: data-loader position, its own
//                                 Generator states (put_generator_state), anything else
// PyTorch reads the file with safetensors.torch.load_file; the model's weights are the
// "model." entries with that prefix removed.
// The schema, its versions and every check on load: docs/checkpoint-format.md.
#pragma once
#include <string>

#include "core/random.h"
#include "core/safetensors.h"
#include "layers/module.h"
#include "optim/optimizer.h"

namespace slab {

inline constexpr const char* kCheckpointFormat = "slab-checkpoint/1";
// A model that shrank during training (layers/shrink.h) is saved with its architecture: the
// schema key says the file needs it, the shrinks key holds Module::shrink_history as text
// (shrink_history_text). A dense model's file has neither, so its bytes do not change.
inline constexpr const char* kSchemaKey = "slab.schema";
inline constexpr const char* kShrunkSchema = "2";
inline constexpr const char* kShrinksKey = "slab.shrinks";

struct CheckpointInfo {
  std::string architecture;
  int64_t epoch = 0;
  int64_t step = 0;
  std::string optimizer;        // name(), "" when no optimizer state was saved
  Metadata optimizer_metadata;  // the optimizer's scalars, without the "optimizer." prefix
  Metadata user;                // the caller's entries, without the "user." prefix
};

// `optimizer` may be null (weights only).
void save_checkpoint(const std::string& path, Module& model, const std::string& architecture,
                     const Optimizer* optimizer, int64_t epoch, int64_t step, const Metadata& user = {});

// Restores the model (and the optimizer, when given) exactly. Errors name the file and
// the problem: not a slab checkpoint, another architecture, a missing or mis-shaped
// tensor, another optimizer, a truncated file, a NaN or infinity in any tensor (unless
// `allow_non_finite`, for inspecting a diverged run).
CheckpointInfo load_checkpoint(const std::string& path, Module& model, const std::string& architecture,
                               Optimizer* optimizer, bool allow_non_finite = false);

// When `metadata` records shrinks, replays them on `model` (freshly built, dense) and
// cuts `optimizer`'s state alike (Optimizer::keep_elements), so that the file's tensors
// fit; nothing for a dense file or a model already of that architecture. load_checkpoint
// and load_posterior_sample call it before they load tensors.
void rebuild_shrunk_architecture(const Metadata& metadata, const std::string& path, Module& model, Optimizer* optimizer);

// The metadata alone (reads and validates the whole file).
CheckpointInfo read_checkpoint_info(const std::string& path);

// A Generator's state as one metadata value "seed stream next_block buffered_words".
void put_generator_state(Metadata& metadata, const std::string& key, const GeneratorState& state);
GeneratorState get_generator_state(const Metadata& metadata, const std::string& key);

}  // namespace slab
