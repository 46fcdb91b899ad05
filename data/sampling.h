// Where the data room's randomness comes from. Every random choice is addressed, never
// drawn from a shared sequence, so it does not depend on which thread makes it or when:
//   the order of epoch e      = Fisher-Yates with Generator(derive_seed(seed, shuffle, e), 0)
//   the augmentation of example i in epoch e
//                             = the draws of Generator(derive_seed(seed, augmentation, e), i)
// Philox is counter-based (core/philox.h): stream i of a key is as good as a fresh
// generator, and building one costs nothing. derive_seed hashes (seed, purpose, epoch) with
// Philox itself, so nearby seeds and epochs give unrelated keys.
#pragma once
#include <cstdint>
#include <vector>

#include "core/random.h"

namespace slab::data {

enum class RandomPurpose : uint64_t { shuffle = 1, augmentation = 2 };

uint64_t derive_seed(uint64_t seed, RandomPurpose purpose, int64_t epoch);

// The generator whose draws decide the augmentation of example `index` in `epoch`.
Generator augmentation_generator(uint64_t seed, int64_t epoch, int64_t index);

// The order in which an epoch visits the examples 0..size-1: identity without shuffling,
// else a uniform permutation by Fisher-Yates (for i = n-1..1: swap(i, below(i + 1))).
void epoch_order(int64_t size, bool shuffle, uint64_t seed, int64_t epoch, std::vector<int64_t>& order);

}  // namespace slab::data
