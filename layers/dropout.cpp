#include "layers/dropout.h"

namespace slab {

Dropout::Dropout(double p, uint64_t seed, uint64_t stream) : probability(p), generator_(seed, stream) {
  SLAB_CHECK(p >= 0.0 && p < 1.0, "Dropout: probability ", p, " is outside [0, 1)");
}

}  // namespace slab
