// The EM-MCMC variable-selection chain with a fully connected ReLU network
// (docs/algorithm.md#variable-selection): the training loop of slab-train-sparse-regression.
//
// Per epoch: the spike-and-slab pass (E-step + pruning, once warm-up is over), then the
// mini-batches (rows reshuffled every epoch, or fixed batches in a fresh order), each a
// forward/backward of the MLP and one sghmc-spl step at the cyclical C^2 of its global
// step. Variable x_j is kept while column j of the first Linear weight is not pruned.
//
// `compact` (default on) runs the first layer on a subset of its columns once at least
// half are pruned (bayes/active_columns.h): pruned columns are exactly zero for good, so
// outputs and the kept weights' gradients are unchanged (up to float summation order),
// and a run that keeps 5 of 1000 inputs reads 5 columns per row instead of 1000. The data
// is re-gathered each time the kept set halves again (at most log2(P) times).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bayes/spike_slab.h"
#include "bayes/variable_selection.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/sequential.h"
#include "optim/schedule.h"
#include "optim/sghmc.h"

namespace slab::tools {

struct VariableSelectionConfig {
  std::vector<int64_t> hidden = {5, 3};
  bool classification = false;   // BCE with logits on 0/1 targets; else MSE
  int64_t epochs = 3000, batch_size = 1024, cycles = 6;
  double learning_rate = 0.01;   // C0^2
  double temperature = 0.0;      // T (explicit)
  double eta = 0.1, beta1 = 0.1, beta2 = 1.0;
  SpikeSlabOptions prior;        // data_size is set from the training set
  uint64_t seed = 1;             // the chain: initialisation, shuffling and sampler noise
  bool reshuffle_rows = true;    // false: fixed batches, random order each epoch
  bool compact = true;
  int64_t log_every = 0;         // epochs between progress callbacks (0: none)
};

struct VariableSelectionProgress {
  int64_t epoch = 0;             // 1-based, after the epoch
  double loss = 0;               // mean training loss of the epoch
  double c2 = 0;                 // the learning rate of the epoch's last step
  int64_t kept = 0;              // kept input variables
  double sparsity = 0;           // zeros over all parameters
  double seconds = 0;
};

class VariableSelectionTrainer {
 public:
  // train_x [n, P], train_y [n, 1], test_x [m, P], test_y [m, 1] (float32).
  VariableSelectionTrainer(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                           const VariableSelectionConfig& config,
                           std::function<void(const VariableSelectionProgress&)> progress);
  VariableSelectionTrainer(const VariableSelectionTrainer&) = delete;
  VariableSelectionTrainer& operator=(const VariableSelectionTrainer&) = delete;

  VariableSelectionResult run();

 private:
  void start_epoch(int64_t epoch);
  void load_batch(int64_t b);
  Tensor loss_of(const Tensor& output, const Tensor& target) const;
  void report_progress(int64_t epoch, double loss_sum) const;
  VariableSelectionResult final_result() const;
  std::vector<int64_t> kept_columns() const;
  void shuffle(std::vector<int64_t>& values);

  const Tensor train_x_, train_y_, test_x_, test_y_;
  const VariableSelectionConfig config_;
  const std::function<void(const VariableSelectionProgress&)> progress_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int64_t features_ = 0, batches_ = 0, step_ = 0;
  std::shared_ptr<Sequential> network_;
  std::unique_ptr<Sghmc> optimizer_;
  std::unique_ptr<SpikeSlabPrior> prior_;
  std::unique_ptr<CyclicalCosineSchedule> schedule_;
  Generator shuffler_;
  std::vector<int64_t> order_, batch_order_;  // rows, and the batches' order (fixed batches)
  std::vector<int64_t> columns_;              // the first layer's columns read; empty: all
  Tensor data_;                               // train_x on those columns
  Tensor x_batch_, y_batch_;
};

// VariableSelectionTrainer(...).run().
VariableSelectionResult train_variable_selection(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x,
                                                 const Tensor& test_y, const VariableSelectionConfig& config,
                                                 const std::function<void(const VariableSelectionProgress&)>& progress = {});

}  // namespace slab::tools
