#include "data/sampling.h"

#include <numeric>
#include <utility>

#include "core/error.h"
#include "core/philox.h"

namespace slab::data {

namespace {
// Philox streams reserved for key derivation ("DATA" in the high bytes), far from the small
// stream ids that other users of a seed pick.
constexpr uint64_t kDerivationStream = 0x4441544100000000ull;
}  // namespace

uint64_t derive_seed(uint64_t seed, RandomPurpose purpose, int64_t epoch) {
  SLAB_CHECK(epoch >= 0, "derive_seed: epoch ", epoch, " must be >= 0");
  const philox::Block block =
      philox::block(seed, kDerivationStream | static_cast<uint64_t>(purpose), static_cast<uint64_t>(epoch));
  return (static_cast<uint64_t>(block.word[1]) << 32) | block.word[0];
}

Generator augmentation_generator(uint64_t seed, int64_t epoch, int64_t index) {
  return Generator(derive_seed(seed, RandomPurpose::augmentation, epoch), static_cast<uint64_t>(index));
}

void epoch_order(int64_t size, bool shuffle, uint64_t seed, int64_t epoch, std::vector<int64_t>& order) {
  SLAB_CHECK(size >= 0, "epoch_order: size ", size, " must be >= 0");
  order.resize(static_cast<size_t>(size));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (!shuffle) return;
  Generator generator(derive_seed(seed, RandomPurpose::shuffle, epoch), 0);
  for (int64_t i = size - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(generator.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
}

}  // namespace slab::data
