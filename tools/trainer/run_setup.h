// The parts a training run is built from, each checked before any training starts so a
// bad flag fails with a message naming it: the device, the model (and whether it accepts
// the data's images), the learning-rate schedule, the loaders, how often per-step
// statistics are read back, and the run folder.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/device.h"
#include "core/shape.h"
#include "data/loader.h"
#include "layers/module.h"
#include "optim/schedule.h"
#include "tools/trainer/config.h"
#include "tools/trainer/run_folder.h"
#include "tools/trainer/training_data.h"

namespace slab::tools {

// The device --device names; a UsageError when this build or machine has no such device.
Device checked_device(const std::string& text);

// The model --model names (models/factory.h), a UsageError naming --model when unknown.
std::shared_ptr<Module> build_model(const TrainConfig& config, int64_t num_classes, int64_t in_channels);

// One forward pass on an example of the data's shape, so a model that does not fit the
// images (small-cnn on 32x32) fails before training with a message naming --model.
void check_model_fits(Module& model, const std::string& name, const Shape& example, Device device);

// The schedule --schedule names over the run's steps, with --warmup-epochs of linear warm-up.
std::shared_ptr<const Schedule> make_schedule(const TrainConfig& config, int64_t batches_per_epoch);

// The training loader shuffles (by seed and epoch); the test loader keeps the set's order.
data::LoaderOptions training_loader_options(const TrainConfig& config);
data::LoaderOptions test_loader_options(const TrainConfig& config);

// How many steps pass between reads of the per-step losses and predictions
// (tools/trainer/step_stats.h). CPU: 1, so the loss is checked before each backward pass.
// GPU: 50, since each read waits for all queued work. SLAB_LOSS_READ_EVERY=K overrides it.
int64_t loss_read_interval(Device device);

// The run folder: --output, else the resumed run's folder, else a fresh
// runs/<dataset>-<model>-<optimizer>-<time>. A folder that holds another run is refused, unless
// that run failed before its first checkpoint (it starts again).
// `resumed_epochs` records of a resumed run's metrics are kept.
RunFolder open_run_folder(const TrainConfig& config, const std::string& checkpoint_path, int64_t resumed_epochs);

// config.json: every flag's resolved value and what the data and the backend made of them.
void write_run_config(const RunFolder& run, const TrainConfig& config, const TrainingData& data,
                      int64_t batches_per_epoch, double temperature, const std::string& checkpoint_path);

}  // namespace slab::tools
