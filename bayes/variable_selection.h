// EM-MCMC variable selection with a fully connected ReLU network (ALGORITHM.md 5): the
// training loop of slab-train-sparse-regression, in the library so tests can run it.
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
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bayes/spike_slab.h"
#include "core/tensor.h"

namespace slab {

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

struct VariableSelectionResult {
  std::vector<int64_t> kept;     // 1-based indices of the kept input variables
  int64_t zeros = 0, parameters = 0;
  double test_metric = 0;        // MSE, or accuracy for classification
  double train_loss = 0;         // the final sample's mean loss (MSE or BCE) on the whole training set
  int64_t train_size = 0;
  int64_t steps = 0;
  double seconds = 0;
  double sparsity() const { return parameters ? static_cast<double>(zeros) / static_cast<double>(parameters) : 0.0; }
  // The Bayesian information criterion of the final sample on the training data, with k
  // the non-zero parameters: -2 log-likelihood + k ln n, where -2 log-likelihood is
  // n ln(MSE) for regression (Gaussian noise, its variance profiled out, constants
  // dropped) and 2 n BCE for classification. Lower is better.
  double bic(bool classification) const;
};

// A readable form of bic()'s formula, for the programs' output.
const char* bic_formula(bool classification);

// Model selection between independent chains on the same data (slab-train-sparse-regression
// --restarts): the index of the lowest BIC. Uses training data only, never the test set.
size_t lowest_bic(const std::vector<VariableSelectionResult>& chains, bool classification);

// The seed of chain `restart` (0-based) of a run with seed `seed`: the run's own seed for
// chain 0, so one chain is exactly the run without restarts, and a splitmix64 mix of the
// two for the others (distinct from each other and, in practice, from any other run seed).
uint64_t chain_seed(uint64_t seed, int64_t restart);

// train_x [n, P], train_y [n, 1], test_x [m, P], test_y [m, 1] (float32).
VariableSelectionResult train_variable_selection(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x,
                                                 const Tensor& test_y, const VariableSelectionConfig& config,
                                                 const std::function<void(const VariableSelectionProgress&)>& progress = {});

}  // namespace slab
