// Tensor basics: creation, views, copies, element access, printing, errors.
#include <doctest/doctest.h>

#include "core/allocator.h"
#include "core/ops.h"
#include "core/random.h"

using namespace slab;

TEST_CASE("creation fills and reports shape, dtype and device") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.dtype() == DType::f32);
  CHECK(z.device().is_cpu());
  CHECK(z.at({1, 2}) == 0.0);
  CHECK(ones({4}, {DType::f64}).at({3}) == 1.0);
  CHECK(full({2}, 2.5).at({1}) == 2.5);
  Tensor r = arange(5);
  CHECK(r.to_vector() == std::vector<double>{0, 1, 2, 3, 4});
  Tensor v = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, {DType::f64});
  CHECK(v.at({1, 0}) == 4.0);
  CHECK(labels_from_vector({3, 1}).dtype() == DType::i64);
}

TEST_CASE("reshape is a free view; clone copies") {
  Tensor a = arange(6);
  Tensor b = a.reshape({2, -1});
  CHECK(b.shape() == Shape{2, 3});
  CHECK(b.raw_data() == a.raw_data());
  b.set({0, 1}, 42);
  CHECK(a.at({1}) == 42);
  Tensor c = a.clone();
  CHECK(c.raw_data() != a.raw_data());
  c.set({0}, -1);
  CHECK(a.at({0}) == 0);
  CHECK_THROWS_WITH_AS(a.reshape({4, 2}), doctest::Contains("[6]"), Error);
}

TEST_CASE("dtype conversion and element access errors") {
  Tensor a = from_vector({1.5, -2.25}, {2});
  Tensor d = a.to(DType::f64);
  CHECK(d.dtype() == DType::f64);
  CHECK(d.at({1}) == -2.25);
  CHECK_THROWS_WITH_AS(a.at({2}), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(a.data<double>(), doctest::Contains("float32"), Error);
  CHECK_THROWS_WITH_AS(a.item(), doctest::Contains("expected 1"), Error);
}

TEST_CASE("printing shows shape, dtype and values") {
  Tensor a = from_vector({1, 2, 3, 4}, {2, 2});
  const std::string text = a.str();
  CHECK(text.find("shape=[2, 2]") != std::string::npos);
  CHECK(text.find("float32") != std::string::npos);
  CHECK(text.find("[1, 2]") != std::string::npos);
}

TEST_CASE("a CUDA tensor without the CUDA backend is a clear error") {
  if (cuda_available()) return;
  CHECK_THROWS_WITH_AS(zeros({2}, {DType::f32, Device::cuda()}), doctest::Contains("CUDA"), Error);
  CHECK_THROWS_WITH_AS(parse_device("tpu"), doctest::Contains("unknown device"), Error);
}

TEST_CASE("the host allocator reuses freed blocks") {
  { Tensor warm = zeros({1000}); }
  const auto before = host_allocator_stats().system_allocations;
  for (int i = 0; i < 10; ++i) Tensor t = zeros({1000});
  CHECK(host_allocator_stats().system_allocations == before);
}

TEST_CASE("the host allocator reports what it holds at its high-water mark") {
  // Two sizes no other test uses, one after the other, large enough to raise the mark: the
  // second cannot reuse the first's block, so the cache then holds both while only the
  // second is in use.
  const size_t first_bytes = 777 * 1024 * sizeof(float), second_bytes = 555 * 1024 * sizeof(float);
  const AllocatorStats before = host_allocator_stats();
  { Tensor first = zeros({777 * 1024}); }
  Tensor second = zeros({555 * 1024});
  const AllocatorStats after = host_allocator_stats();
  CHECK(after.bytes_in_use + after.bytes_cached >=
        before.bytes_in_use + before.bytes_cached + first_bytes + second_bytes);
  REQUIRE_MESSAGE(after.peak_bytes_held == after.bytes_in_use + after.bytes_cached, "the mark was not raised now");
  CHECK(after.bytes_in_use_at_peak_held == after.bytes_in_use);
  CHECK(after.peak_bytes_held - after.bytes_in_use_at_peak_held >= first_bytes);
}
