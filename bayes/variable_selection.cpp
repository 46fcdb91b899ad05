#include "bayes/variable_selection.h"

#include <cmath>

#include "core/error.h"
#include "core/random.h"

namespace slab {

double VariableSelectionResult::bic(bool classification) const {
  const double n = static_cast<double>(train_size), k = static_cast<double>(parameters - zeros);
  SLAB_CHECK(train_size > 0, "variable selection: BIC of a result without a training size");
  const double minus_two_log_likelihood = classification ? 2.0 * n * train_loss : n * std::log(train_loss);
  return minus_two_log_likelihood + k * std::log(n);
}

const char* bic_formula(bool classification) {
  return classification ? "2 n BCE + k ln n, k = non-zero parameters" : "n ln(MSE) + k ln n, k = non-zero parameters";
}

size_t lowest_bic(const std::vector<VariableSelectionResult>& chains, bool classification) {
  SLAB_CHECK(!chains.empty(), "variable selection: no chains to choose from");
  size_t best = 0;
  for (size_t i = 1; i < chains.size(); ++i)
    if (chains[i].bic(classification) < chains[best].bic(classification)) best = i;
  return best;
}

uint64_t chain_seed(uint64_t seed, int64_t restart) {
  if (restart == 0) return seed;
  // splitmix64 of the seed at step `restart` of its Weyl sequence (seed + restart * gamma;
  // splitmix64 adds the first gamma itself).
  return splitmix64(seed + static_cast<uint64_t>(restart - 1) * 0x9E3779B97F4A7C15ull);
}

}  // namespace slab
