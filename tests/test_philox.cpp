// Philox4x32-10 and the Generator built on it (core/philox.h, core/random.h).
//
// Known answers: the three "philox4x32 10" lines of Random123's tests/kat_vectors
// (github.com/DEShawResearch/random123; columns: counter[4], key[2], expected[4]). They were
// also reproduced by an independent Python transcription of the published round function
// before being written here. Statistical checks use fixed seeds, so they are deterministic;
// their bounds are several standard errors wide so that a change of seed would not flake.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/ops.h"
#include "core/philox.h"
#include "core/random.h"
#if defined(__AVX512F__)
#include "core/cpu/philox_avx512.h"
#endif

using namespace slab;

namespace {

struct KnownAnswer {
  uint32_t counter[4];
  uint32_t key[2];
  uint32_t expected[4];
};

const KnownAnswer kKnownAnswers[] = {
    {{0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u},
     {0x00000000u, 0x00000000u},
     {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
    {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
     {0xffffffffu, 0xffffffffu},
     {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
    {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
     {0xa4093822u, 0x299f31d0u},
     {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
};

uint64_t join(uint32_t low, uint32_t high) { return (static_cast<uint64_t>(high) << 32) | low; }

double mean_of(const std::vector<double>& v) {
  double total = 0;
  for (double x : v) total += x;
  return total / static_cast<double>(v.size());
}

double variance_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double total = 0;
  for (double x : v) total += (x - m) * (x - m);
  return total / static_cast<double>(v.size() - 1);
}

}  // namespace

TEST_CASE("Philox4x32-10 reproduces the Random123 known-answer vectors") {
  for (const KnownAnswer& k : kKnownAnswers) {
    const philox::Block counter{{k.counter[0], k.counter[1], k.counter[2], k.counter[3]}};
    const philox::Block out = philox::philox4x32_10(counter, k.key[0], k.key[1]);
    for (int w = 0; w < 4; ++w) {
      INFO("counter word 0 ", k.counter[0], ", output word ", w);
      CHECK(out.word[w] == k.expected[w]);
    }
  }
}

TEST_CASE("slab's addressing maps (seed, stream, block) onto (key, counter) as documented") {
  // counter = (block low, block high, stream low, stream high); key = (seed low, seed high).
  for (const KnownAnswer& k : kKnownAnswers) {
    const uint64_t seed = join(k.key[0], k.key[1]);
    const uint64_t block_index = join(k.counter[0], k.counter[1]);
    const uint64_t stream = join(k.counter[2], k.counter[3]);
    const philox::Block out = philox::block(seed, stream, block_index);
    for (int w = 0; w < 4; ++w) CHECK(out.word[w] == k.expected[w]);
  }
}

#if defined(__AVX512F__)
namespace {
// Word w of the block in 64-bit lane `lane` of an AVX-512 group (the low half of the lane).
uint32_t lane_word(const philox::avx512::Blocks8& b, int w, int lane) {
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, b.word[w]);
  return static_cast<uint32_t>(lanes[lane]);
}
}  // namespace

TEST_CASE("the AVX-512 Philox reproduces the known answers and the scalar blocks") {
  // Each known answer in every lane of every group: the counter (index low, index high,
  // stream low, stream high) and key (seed low, seed high) as slab addresses them.
  for (const KnownAnswer& k : kKnownAnswers) {
    __m512i index[3];
    for (int s = 0; s < 3; ++s) index[s] = _mm512_set1_epi64(static_cast<int64_t>(join(k.counter[0], k.counter[1])));
    philox::avx512::Blocks8 out[3];
    philox::avx512::philox8<3>(index, join(k.key[0], k.key[1]), join(k.counter[2], k.counter[3]), out);
    for (int s = 0; s < 3; ++s)
      for (int lane = 0; lane < 8; ++lane)
        for (int w = 0; w < 4; ++w) CHECK(lane_word(out[s], w, lane) == k.expected[w]);
  }
  // Distinct indices per lane, across the 2^32 carry of the block index, against the scalar
  // generator: a lane mix-up or a lost high word would show here.
  const uint64_t seed = 0x0123456789ABCDEFull, stream = 0x5347484D00000011ull;
  for (uint64_t base : {uint64_t{0}, uint64_t{0xFFFFFFFCull}, uint64_t{0xFFFFFFFFFFFFFFF8ull}}) {
    __m512i index[2] = {_mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(base)), _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0)),
                        _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(base)), _mm512_set_epi64(0, 1, 2, 3, 4, 5, 6, 7))};
    philox::avx512::Blocks8 out[2];
    philox::avx512::philox8<2>(index, seed, stream, out);
    for (int lane = 0; lane < 8; ++lane) {
      const philox::Block up = philox::block(seed, stream, base + static_cast<uint64_t>(lane));
      const philox::Block down = philox::block(seed, stream, base + static_cast<uint64_t>(7 - lane));
      for (int w = 0; w < 4; ++w) {
        INFO("base ", base, ", lane ", lane, ", word ", w);
        CHECK(lane_word(out[0], w, lane) == up.word[w]);
        CHECK(lane_word(out[1], w, lane) == down.word[w]);
      }
    }
  }
}
#endif

TEST_CASE("word-to-number conversions") {
  CHECK(philox::uniform_from_word(0u) == 0.0f);
  CHECK(philox::uniform_from_word(0xffffffffu) < 1.0f);
  CHECK(philox::uniform_from_word(0xffffffffu) == doctest::Approx(1.0 - 0x1.0p-24).epsilon(1e-12));
  CHECK(philox::uniform_from_word(0x80000000u) == 0.5f);
  // Box-Muller: radius word 0xffffffff gives u1 = 1, so a zero radius; angle word 0 gives
  // angle 0 (cosine 1, sine 0).
  CHECK(philox::normal_from_words(0xffffffffu, 0x12345678u, false) == 0.0f);
  const float radius = std::sqrt(-2.0f * std::log(0x1.0p-24f));  // u1 = 2^-24, the smallest
  CHECK(philox::normal_from_words(0u, 0u, false) == doctest::Approx(radius).epsilon(1e-6));
  CHECK(philox::normal_from_words(0u, 0u, true) == 0.0f);
  CHECK(std::isfinite(philox::normal_from_words(0u, 0x40000000u, true)));
}

TEST_CASE("uniform fills: element i is word i % 4 of block first + i / 4, in range, mean 1/2") {
  Generator generator(2024, 3);
  const int64_t n = 100003;  // not a multiple of 4, and above the parallel grain
  Tensor t = Tensor::empty({n}, DType::f32);
  const uint64_t first = generator.fill_uniform(t);
  CHECK(first == 0);
  CHECK(generator.state().next_block == static_cast<uint64_t>((n + 3) / 4));
  const std::vector<double> v = t.to_vector();
  for (int64_t i : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{40000}, n - 1}) {
    const philox::Block b = philox::block(2024, 3, static_cast<uint64_t>(i / 4));
    CHECK(v[i] == static_cast<double>(philox::uniform_from_word(b.word[i % 4])));
  }
  CHECK(*std::min_element(v.begin(), v.end()) >= 0.0);
  CHECK(*std::max_element(v.begin(), v.end()) < 1.0);
  // The mean of n uniforms has standard error 1/sqrt(12 n) = 0.0009; allow about 6 of them.
  CHECK(std::abs(mean_of(v) - 0.5) < 0.005);
  CHECK(std::abs(variance_of(v) - 1.0 / 12.0) < 0.002);
  // Every tenth of [0, 1) holds about a tenth of the draws (expected 10000, sd ~95).
  std::vector<int> deciles(10, 0);
  for (double x : v) ++deciles[static_cast<size_t>(x * 10)];
  for (int count : deciles) CHECK(std::abs(count - 10000) < 600);

  // A range [low, high).
  Tensor ranged = Tensor::empty({1000}, DType::f64);
  generator.fill_uniform(ranged, -3.0, 5.0);
  const std::vector<double> r = ranged.to_vector();
  CHECK(*std::min_element(r.begin(), r.end()) >= -3.0);
  CHECK(*std::max_element(r.begin(), r.end()) < 5.0);
  CHECK(*std::min_element(r.begin(), r.end()) < -2.9);
  CHECK(*std::max_element(r.begin(), r.end()) > 4.9);
}

TEST_CASE("normal fills: mean 0, variance 1, the Gaussian's shape") {
  Generator generator(7, 0);
  const int64_t n = 200000;
  Tensor t = randn({n}, generator, {DType::f64});
  const std::vector<double> v = t.to_vector();
  // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032.
  CHECK(std::abs(mean_of(v)) < 0.015);
  CHECK(std::abs(variance_of(v) - 1.0) < 0.02);
  int64_t within_one = 0, within_two = 0;
  double third_moment = 0;
  for (double x : v) {
    within_one += std::abs(x) < 1.0;
    within_two += std::abs(x) < 2.0;
    third_moment += x * x * x;
  }
  CHECK(static_cast<double>(within_one) / n == doctest::Approx(0.682689).epsilon(0.015));
  CHECK(static_cast<double>(within_two) / n == doctest::Approx(0.954500).epsilon(0.005));
  CHECK(std::abs(third_moment / n) < 0.05);  // symmetric: the cosine and sine halves agree

  // Pairs: normals 2j and 2j+1 share a radius (the cosine and sine of one Box-Muller draw).
  for (uint64_t i = 0; i < 64; i += 2) {
    const double a = philox::normal_at(7, 0, 0, i), b = philox::normal_at(7, 0, 0, i + 1);
    const philox::Block block = philox::block(7, 0, i / 4);
    const unsigned pair = static_cast<unsigned>(i % 4);
    const double u1 = static_cast<double>((block.word[pair] >> 8) + 1) * 0x1.0p-24;
    CHECK(a * a + b * b == doctest::Approx(-2.0 * std::log(u1)).epsilon(1e-5));
    CHECK(v[i] == static_cast<double>(philox::normal_at(7, 0, 0, i)));
  }

  // mean and standard deviation arguments.
  Tensor shifted = Tensor::empty({50000}, DType::f32);
  generator.fill_normal(shifted, 3.0, 0.5);
  const std::vector<double> s = shifted.to_vector();
  CHECK(std::abs(mean_of(s) - 3.0) < 0.01);
  CHECK(std::abs(std::sqrt(variance_of(s)) - 0.5) < 0.01);
}

TEST_CASE("regeneration: a fill is a pure function of (seed, stream, first block)") {
  Generator generator(11, 5);
  Tensor warmup = Tensor::empty({9}, DType::f32);
  generator.fill_uniform(warmup);  // 3 blocks
  const GeneratorState before = generator.state();
  Tensor a = Tensor::empty({37}, DType::f32);
  const uint64_t first = generator.fill_normal(a);
  CHECK(first == 3);
  Tensor b = Tensor::empty({20}, DType::f32);
  generator.fill_uniform(b);

  // The same (seed, stream, block) gives identical draws, element by element.
  for (int64_t i = 0; i < a.numel(); ++i)
    CHECK(a.at({i}) == static_cast<double>(philox::normal_at(11, 5, first, static_cast<uint64_t>(i))));

  // Restoring the state replays the whole sequence of fills.
  Generator replay(999, 999);
  replay.set_state(before);
  Tensor a2 = Tensor::empty({37}, DType::f32);
  Tensor b2 = Tensor::empty({20}, DType::f32);
  replay.fill_normal(a2);
  replay.fill_uniform(b2);
  CHECK(a2.to_vector() == a.to_vector());
  CHECK(b2.to_vector() == b.to_vector());
  CHECK(replay.state().next_block == generator.state().next_block);

  // A fresh generator with the same seed and stream is the same stream.
  Generator again(11, 5);
  Tensor w2 = Tensor::empty({9}, DType::f32);
  again.fill_uniform(w2);
  CHECK(w2.to_vector() == warmup.to_vector());

  // float32 and float64 fills of the same blocks hold the same numbers.
  Generator g32(4, 4), g64(4, 4);
  CHECK(rand({13}, g32).to_vector() == rand({13}, g64, {DType::f64}).to_vector());
}

TEST_CASE("distinct streams and distinct seeds give different draws") {
  Generator s0(42, 0), s1(42, 1), other_seed(43, 0);
  const std::vector<double> a = rand({64}, s0).to_vector();
  const std::vector<double> b = rand({64}, s1).to_vector();
  const std::vector<double> c = rand({64}, other_seed).to_vector();
  int same_ab = 0, same_ac = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    same_ab += a[i] == b[i];
    same_ac += a[i] == c[i];
  }
  CHECK(same_ab < 2);
  CHECK(same_ac < 2);
  // Consecutive fills of one generator do not overlap either.
  const std::vector<double> a_next = rand({64}, s0).to_vector();
  CHECK(a_next != a);
}

TEST_CASE("sequential words: next_u32 walks the blocks; fills start on a fresh block") {
  Generator generator(123, 9);
  const philox::Block b0 = philox::block(123, 9, 0), b1 = philox::block(123, 9, 1);
  for (int w = 0; w < 4; ++w) CHECK(generator.next_u32() == b0.word[w]);
  CHECK(generator.next_u32() == b1.word[0]);  // block 1 is now partly used
  Tensor t = Tensor::empty({4}, DType::f32);
  CHECK(generator.fill_uniform(t) == 2);  // never reuses the words of block 1
  CHECK(generator.next_u32() == philox::block(123, 9, 3).word[0]);

  bool in_range = true;
  for (int i = 0; i < 1000; ++i) {
    const double u = generator.next_uniform();
    in_range &= u >= 0.0 && u < 1.0;
  }
  CHECK(in_range);
}

TEST_CASE("Generator::below is uniform over [0, n)") {
  Generator generator(77, 1);
  CHECK_THROWS_AS(generator.below(0), Error);
  for (int i = 0; i < 10; ++i) CHECK(generator.below(1) == 0);

  // 60000 draws over 6 values: expected 10000 each, standard deviation 91.
  std::vector<int> counts(6, 0);
  int out_of_range = 0;
  for (int i = 0; i < 60000; ++i) {
    const uint64_t k = generator.below(6);
    if (k < 6) ++counts[k];
    else ++out_of_range;
  }
  CHECK(out_of_range == 0);
  double chi_square = 0;
  for (int c : counts) {
    CHECK(std::abs(c - 10000) < 500);
    chi_square += (c - 10000.0) * (c - 10000.0) / 10000.0;
  }
  CHECK(chi_square < 25.0);  // 5 degrees of freedom: P(chi2 > 25) is about 1e-4

  // A bound just above 2^63: a naive modulo would favour the low half two to one.
  const uint64_t huge = (uint64_t{1} << 63) + 12345;
  int low_half = 0;
  bool in_range = true;
  for (int i = 0; i < 4000; ++i) {
    const uint64_t k = generator.below(huge);
    in_range &= k < huge;
    low_half += k < huge / 2;
  }
  CHECK(in_range);
  CHECK(std::abs(low_half - 2000) < 200);
}

TEST_CASE("Bernoulli fills are 0/1 with the right frequency, the uniforms below p") {
  Generator generator(5, 2);
  Tensor mask = Tensor::empty({40000}, DType::f32);
  const uint64_t first = generator.fill_bernoulli(mask, 0.3);
  const std::vector<double> v = mask.to_vector();
  int64_t ones = 0;
  bool zero_or_one = true;
  for (size_t i = 0; i < v.size(); ++i) {
    zero_or_one &= v[i] == 0.0 || v[i] == 1.0;
    ones += v[i] == 1.0;
    if (i < 200) CHECK((v[i] == 1.0) == (philox::uniform_at(5, 2, first, i) < 0.3f));
  }
  CHECK(zero_or_one);
  // Expected 12000, standard deviation 92.
  CHECK(std::abs(ones - 12000) < 500);
}
