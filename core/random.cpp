#include "core/random.h"

#include "core/kernels.h"
#include "core/philox.h"

namespace slab {

uint64_t Generator::take_blocks(uint64_t count) {
  if (state_.buffered_words != 0) {  // fills start on a fresh block
    state_.buffered_words = 0;
  }
  const uint64_t first = state_.next_block;
  state_.next_block += count;
  return first;
}

uint64_t Generator::fill_uniform(const Tensor& t, double low, double high) {
  const uint64_t first = take_blocks((static_cast<uint64_t>(t.numel()) + 3) / 4);
  SLAB_KERNEL(t.device(), fill_uniform, t, state_.seed, state_.stream, first, low, high);
  return first;
}

uint64_t Generator::fill_normal(const Tensor& t, double mean, double stddev) {
  const uint64_t first = take_blocks((static_cast<uint64_t>(t.numel()) + 3) / 4);
  SLAB_KERNEL(t.device(), fill_normal, t, state_.seed, state_.stream, first, mean, stddev);
  return first;
}

uint64_t Generator::fill_bernoulli(const Tensor& t, double probability_of_one) {
  // u < p with u uniform in [0, 1): one with probability p. Done as a uniform fill then a
  // threshold so that every device shares the same two kernels.
  const uint64_t first = fill_uniform(t);
  Tensor threshold = Tensor::empty(t.shape(), t.dtype(), t.device());
  SLAB_KERNEL(t.device(), unary, UnaryOp::RSubScalar, t, threshold, probability_of_one, 0.0);
  SLAB_KERNEL(t.device(), unary, UnaryOp::Step, threshold, t, 0.0, 0.0);
  return first;
}

uint32_t Generator::next_u32() {
  if (state_.buffered_words == 0) ++state_.next_block;  // open a new block
  const philox::Block b = philox::block(state_.seed, state_.stream, state_.next_block - 1);
  const uint32_t word = b.word[state_.buffered_words];
  state_.buffered_words = (state_.buffered_words + 1) % 4;
  return word;
}

double Generator::next_uniform() {
  // 53 random bits from two words.
  const uint64_t high = next_u32() >> 5, low = next_u32() >> 6;
  return static_cast<double>((high << 26) | low) * 0x1.0p-53;
}

uint64_t Generator::below(uint64_t n) {
  SLAB_CHECK(n > 0, "Generator::below: n must be positive");
  // Rejection sampling on 64-bit draws removes the modulo bias.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  while (true) {
    const uint64_t draw = (static_cast<uint64_t>(next_u32()) << 32) | next_u32();
    if (draw < limit) return draw % n;
  }
}

Tensor rand(const Shape& shape, Generator& generator, TensorOptions options) {
  Tensor t = Tensor::empty(shape, options.dtype, options.device);
  generator.fill_uniform(t);
  t.set_requires_grad(options.requires_grad);
  return t;
}

Tensor randn(const Shape& shape, Generator& generator, TensorOptions options) {
  Tensor t = Tensor::empty(shape, options.dtype, options.device);
  generator.fill_normal(t);
  t.set_requires_grad(options.requires_grad);
  return t;
}

}  // namespace slab
