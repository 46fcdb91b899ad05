// A host-side handle on a Philox stream: (seed, stream id) plus the next unused block.
// Fills advance the block counter, so a sequence of fills is reproducible from the state,
// and any single fill can be regenerated from the block it started at.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace slab {

// splitmix64 (Steele, Lea and Flood): one step of a Weyl sequence with the golden-ratio
// increment, then a 64-bit finaliser. A cheap, well-mixed hash of a 64-bit integer, used to
// derive seeds (restart chains) and golden test values, not as a stream (Philox is that).
inline uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct GeneratorState {
  uint64_t seed = 0;
  uint64_t stream = 0;
  uint64_t next_block = 0;
  uint32_t buffered_words = 0;  // words of the current block already used by next_u32()
};

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t stream = 0) { state_.seed = seed; state_.stream = stream; }

  // Fills advance by ceil(numel / 4) blocks and return the block they started at.
  uint64_t fill_uniform(const Tensor& t, double low = 0.0, double high = 1.0);
  uint64_t fill_normal(const Tensor& t, double mean = 0.0, double stddev = 1.0);
  uint64_t fill_bernoulli(const Tensor& t, double probability_of_one);

  uint32_t next_u32();          // sequential words (shuffling, augmentation choices)
  double next_uniform();        // in [0, 1)
  uint64_t below(uint64_t n);   // uniform integer in [0, n), unbiased

  const GeneratorState& state() const { return state_; }
  void set_state(const GeneratorState& state) { state_ = state; }
  uint64_t seed() const { return state_.seed; }

 private:
  uint64_t take_blocks(uint64_t count);
  GeneratorState state_;
};

// Creation with random fills.
Tensor rand(const Shape& shape, Generator& generator, TensorOptions options = {});   // U[0, 1)
Tensor randn(const Shape& shape, Generator& generator, TensorOptions options = {});  // N(0, 1)

}  // namespace slab
