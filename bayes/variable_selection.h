// EM-MCMC variable selection (docs/algorithm.md#variable-selection): what one chain ends with,
// and the choice between chains by the Bayesian information criterion. The chain itself is run
// by the trainer (tools/trainer/variable_selection_trainer.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace slab {

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

}  // namespace slab
