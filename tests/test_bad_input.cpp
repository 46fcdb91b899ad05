// Bad input to the core ops is a slab::Error whose message names what was wrong: the op,
// the shapes, dtypes, devices or values involved (docs/architecture.md#errors: never a crash,
// never a silent wrong answer). Each check looks for the specific numbers, not just for an
// exception.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/ops.h"
#include "core/parse_number.h"
#include "core/random.h"
#include "core/safetensors.h"

using namespace slab;
using doctest::Contains;

namespace {
Tensor f32(const Shape& shape) { return zeros(shape); }
Tensor f64(const Shape& shape) { return zeros(shape, {DType::f64}); }
doctest::Contains contains(const std::string& text) { return doctest::Contains(text.c_str()); }
}  // namespace

TEST_CASE("mismatched shapes: add, sub, mul, div name both shapes") {
  CHECK_THROWS_WITH_AS(add(f32({2, 3}), f32({4})), Contains("add: shapes [2, 3] and [4] cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(sub(f32({2, 3}), f32({3, 2})), Contains("[3, 2]"), Error);
  CHECK_THROWS_WITH_AS(mul(f32({5, 1, 3}), f32({2, 4})), Contains("(dimension 2: 3 vs 4)"), Error);
  CHECK_THROWS_WITH_AS(div(f32({2}), f32({3})), Contains("div"), Error);
  Tensor dst = f32({2, 2});
  CHECK_THROWS_WITH_AS(add_(dst, f32({4}), 1.0), Contains("add_: shapes [2, 2] and [4] differ"), Error);
}

TEST_CASE("mismatched shapes: matmul") {
  CHECK_THROWS_WITH_AS(matmul(f32({2, 3}), f32({4, 5})), Contains("inner dimensions differ, [2, 3] x [4, 5]"), Error);
  CHECK_THROWS_WITH_AS(matmul(f32({2, 2, 3}), f32({3, 3, 4})), Contains("batch sizes differ, [2, 2, 3] x [3, 3, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(matmul(f32({3}), f32({3, 4})), Contains("got [3] x [3, 4]"), Error);
  CHECK_THROWS_WITH_AS(matmul(f32({3, 4}), f32({2, 4, 5})), Contains("got [3, 4] x [2, 4, 5]"), Error);
  CHECK_THROWS_WITH_AS(matmul(f32({1, 2, 3, 4}), f32({4, 5})), Contains("[1, 2, 3, 4]"), Error);
}

TEST_CASE("mismatched shapes: linear") {
  CHECK_THROWS_WITH_AS(linear(f32({2, 3}), f32({4, 5})), Contains("input of shape [2, 3] does not match weight [4, 5]"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(f32({2, 3}), f32({12})), Contains("weight must be [out, in], got [12]"), Error);
  CHECK_THROWS_WITH_AS(linear(f32({2, 3}), f32({4, 3}), f32({3})), Contains("bias of shape [3] for weight [4, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(f32({}), f32({4, 3})), Contains("input of shape []"), Error);
}

TEST_CASE("mismatched shapes: cat, narrow, reshape, permute, transpose") {
  CHECK_THROWS_WITH_AS(cat({f32({2, 3}), f32({2, 4})}, 0), Contains("tensor 1 has shape [2, 4], tensor 0 has [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({f32({2, 3}), f32({2, 3, 1})}, 1), Contains("[2, 3, 1]"), Error);
  CHECK_THROWS_WITH_AS(cat({}, 0), Contains("no tensors"), Error);
  CHECK_THROWS_WITH_AS(cat({f32({2}), f32({2})}, 1), Contains("dimension 1 is out of range for a tensor of rank 1"),
                       Error);
  CHECK_THROWS_WITH_AS(cat({f32({}), f32({})}, 0), Contains("0-dimensional"), Error);
  CHECK_THROWS_WITH_AS(narrow(f32({3, 4}), 1, 3, 2), Contains("range [3, 5) is outside dimension 1 of extent 4"), Error);
  CHECK_THROWS_WITH_AS(narrow(f32({}), 0, 0, 1), Contains("0-dimensional"), Error);
  CHECK_THROWS_WITH_AS(slice(f32({3}), 0, 2, 1), Contains("end 1 is before start 2"), Error);
  CHECK_THROWS_WITH_AS(reshape(f32({2, 3}), {4, 2}), Contains("shape [2, 3] (6 elements) as [4, 2] (8 elements)"),
                       Error);
  CHECK_THROWS_WITH_AS(reshape(f32({2, 3}), {-1, -1}), Contains("more than one -1"), Error);
  CHECK_THROWS_WITH_AS(reshape(f32({2, 3}), {4, -1}), Contains("cannot infer -1 in [4, -1]"), Error);
  CHECK_THROWS_WITH_AS(permute(f32({2, 3}), {0}), Contains("1 dimensions given for a tensor of shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(permute(f32({2, 3}), {1, 1}), Contains("dimension 1 appears twice"), Error);
  CHECK_THROWS_WITH_AS(transpose(f32({2, 3}), 0, 2), Contains("dimension 2 is out of range for a tensor of rank 2"),
                       Error);
  CHECK_THROWS_WITH_AS(flatten(f32({2, 3, 4}), 2, 1), Contains("start_dim 2 comes after end_dim 1"), Error);
}

TEST_CASE("mismatched shapes: reductions and broadcasting helpers") {
  CHECK_THROWS_WITH_AS(sum(f32({2, 3}), {2}), Contains("sum: dimension 2 is out of range for a tensor of rank 2"),
                       Error);
  CHECK_THROWS_WITH_AS(sum(f32({2, 3}), {1, -1}), Contains("repeated in [1, -1]"), Error);
  CHECK_THROWS_WITH_AS(mean(f32({2, 3}), {-3}), Contains("dimension -3"), Error);
  CHECK_THROWS_WITH_AS(mean(f32({2, 0}), {1}), Contains("empty extent of shape [2, 0]"), Error);
  CHECK_THROWS_WITH_AS(max(f32({2, 0}), 1), Contains("dimension 1 of shape [2, 0] is empty"), Error);
  CHECK_THROWS_WITH_AS(max(f32({2}), 1), Contains("max: dimension 1"), Error);
  CHECK_THROWS_WITH_AS(sum_to(f32({3}), {2, 3}), Contains("cannot reduce shape [3] to the larger rank of [2, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(sum_to(f32({2, 3}), {4}), Contains("shape [2, 3] does not broadcast from [4]"), Error);
  CHECK_THROWS_WITH_AS(broadcast_to(f32({3}), {4}), Contains("[3]"), Error);
  CHECK_THROWS_WITH_AS(broadcast_to(f32({2, 3}), {3}), Contains("[2, 3]"), Error);
  CHECK_THROWS_WITH_AS(softmax(f32({2, 3}), 2), Contains("softmax: dimension 2"), Error);
  CHECK_THROWS_WITH_AS(log_softmax(f32({2, 3}), -3), Contains("log_softmax: dimension -3"), Error);
}

TEST_CASE("0-dimensional tensors: reductions are the identity, shape access is an error") {
  const Tensor scalar = full({}, 2.5, {DType::f64});
  CHECK(sum(scalar, {0}).item() == 2.5);
  CHECK(mean(scalar, {0}, true).shape() == Shape{});
  MaxResult m = max(scalar, 0);
  CHECK(m.values.item() == 2.5);
  CHECK(m.indices.item() == 0);
  CHECK(transpose(scalar, 0, 0).item() == 2.5);
  CHECK_THROWS_WITH_AS(scalar.size(0), Contains("0-dimensional"), Error);
}

TEST_CASE("mismatched shapes: losses") {
  const Tensor targets = labels_from_vector({0, 1, 2, 1, 0});
  CHECK_THROWS_WITH_AS(cross_entropy(f32({4, 3}), targets), Contains("targets of shape [5] for logits of shape [4, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(f32({5}), targets), Contains("logits must be [batch, classes], got [5]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(f32({2, 3}), labels_from_vector({1, 7})),
                       Contains("target 7 at row 1 is outside [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(f32({2, 3}), labels_from_vector({-1, 0})), Contains("target -1"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(f32({2, 3}), f32({2})), Contains("int64 class indices, got float32 of shape [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(f32({0, 3}), labels_from_vector({})), Contains("empty batch"), Error);
  CHECK_THROWS_WITH_AS(mse_loss(f32({2, 3}), f32({3, 2})), Contains("prediction of shape [2, 3] and target of shape [3, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(binary_cross_entropy_with_logits(f32({4}), f32({4, 1})),
                       Contains("logits of shape [4] and targets of shape [4, 1] differ"), Error);
}

TEST_CASE("bad values: clamp bounds, dropout probability, generator bound") {
  CHECK_THROWS_WITH_AS(clamp(f32({2}), 1.0, -1.0), Contains("min 1 is greater than max -1"), Error);
  Generator generator(1);
  CHECK_THROWS_WITH_AS(dropout(f32({2}), 1.0, true, generator), Contains("probability 1 is outside [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(dropout(f32({2}), -0.1, true, generator), Contains("probability -0.1"), Error);
  CHECK_THROWS_WITH_AS(generator.below(0), Contains("n must be positive"), Error);
  CHECK_THROWS_WITH_AS(from_vector({1, 2, 3}, {2, 2}), Contains("3 values for shape [2, 2] (4 elements)"), Error);
  CHECK_THROWS_WITH_AS(Tensor::empty({2, -1}), Contains("shape [2, -1]: negative extent"), Error);
}

TEST_CASE("dtype mismatch: float32 with float64 names both") {
  CHECK_THROWS_WITH_AS(add(f32({2}), f64({2})), Contains("add: dtype mismatch, float32 [2] vs float64 [2]"), Error);
  CHECK_THROWS_WITH_AS(mul(f64({3}), f32({1})), Contains("float64 [3] vs float32 [1]"), Error);
  CHECK_THROWS_WITH_AS(matmul(f32({2, 2}), f64({2, 2})), Contains("matmul: dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(linear(f32({2, 2}), f64({2, 2})), Contains("linear: dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(linear(f32({2, 2}), f32({2, 2}), f64({2})), Contains("float64 [2]"), Error);
  CHECK_THROWS_WITH_AS(cat({f32({2}), f64({2})}, 0), Contains("cat: dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(mse_loss(f32({2}), f64({2})), Contains("mse_loss: dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(f32({2}).data<double>(), Contains("tensor of dtype float32 accessed as float64"), Error);
  Tensor x = f32({2});
  x.set_requires_grad();
  CHECK_THROWS_WITH_AS(mul(x, 2.0).backward(f64({2})), Contains("gradient is float64"), Error);
}

TEST_CASE("an int64 tensor in a float op names the op, the dtype and the shape") {
  const Tensor labels = labels_from_vector({1, 2, 3});
  const std::string expected = "expected a float32 or float64 tensor, got int64 of shape [3]";
  CHECK_THROWS_WITH_AS(exp(labels), contains("exp: " + expected), Error);
  CHECK_THROWS_WITH_AS(add(labels, labels), contains("add: " + expected), Error);
  CHECK_THROWS_WITH_AS(add(labels, 1.0), contains(expected), Error);
  CHECK_THROWS_WITH_AS(relu(labels), contains("relu: " + expected), Error);
  CHECK_THROWS_WITH_AS(sum(labels), contains("sum: " + expected), Error);
  CHECK_THROWS_WITH_AS(max(labels, 0), contains("max: " + expected), Error);
  CHECK_THROWS_WITH_AS(softmax(labels, 0), contains("softmax: " + expected), Error);
  CHECK_THROWS_WITH_AS(matmul(labels.reshape({1, 3}), labels.reshape({3, 1})),
                       Contains("matmul: expected a float32 or float64 tensor, got int64 of shape [1, 3]"), Error);
  CHECK_THROWS_WITH_AS(pow(labels, 2.0), contains("pow: " + expected), Error);
  CHECK_THROWS_WITH_AS(broadcast_to(labels, {2, 3}), contains("broadcast_to: " + expected), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(labels_from_vector({1, 2}).reshape({1, 2}), labels_from_vector({0})),
                       Contains("cross_entropy: expected a float32 or float64 tensor, got int64 of shape [1, 2]"), Error);
  CHECK_THROWS_WITH_AS(labels.set_requires_grad(), Contains("an int64 tensor cannot require a gradient"), Error);
}

TEST_CASE("backward through a non-scalar without a gradient names the shape") {
  Tensor x = f32({4, 5});
  x.set_requires_grad();
  Tensor y = mul(x, 3.0);
  CHECK_THROWS_WITH_AS(y.backward(), Contains("the tensor of shape [4, 5] is not a scalar"), Error);
  CHECK_THROWS_WITH_AS(y.backward(f32({5, 4})), Contains("gradient of shape [5, 4] for an input of shape [4, 5]"), Error);
  CHECK_THROWS_WITH_AS(f32({3}).backward(), Contains("tensor of shape [3] does not require a gradient"), Error);
  CHECK_THROWS_WITH_AS(x.set_grad(f32({20})), Contains("gradient of shape [20] for a tensor of shape [4, 5]"), Error);
}

TEST_CASE("undefined tensors and element access") {
  const Tensor undefined;
  CHECK_THROWS_WITH_AS(undefined.shape(), Contains("undefined tensor"), Error);
  CHECK_THROWS_WITH_AS(undefined.zero_grad(), Contains("undefined tensor"), Error);
  CHECK_THROWS_WITH_AS(exp(undefined), Contains("exp: undefined input tensor"), Error);
  CHECK_THROWS_WITH_AS(f32({2, 3}).at({1, 3}), Contains("index 3 out of range in dimension 1 of shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(f32({2, 3}).at({1}), Contains("index of rank 1 into a tensor of shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(f32({2, 3}).item(), Contains("tensor of shape [2, 3] has 6 elements, expected 1"), Error);
}

TEST_CASE("device mismatch, or the clear 'built without CUDA' error") {
  if (!cuda_available()) {
    // No CUDA backend (or no GPU): asking for a CUDA tensor says so.
    CHECK_THROWS_WITH_AS(zeros({2}, {DType::f32, Device::cuda()}), Contains("cuda:0"), Error);
    CHECK_THROWS_WITH_AS(zeros({2}, {DType::f32, Device::cuda()}), Contains("CUDA"), Error);
    CHECK_THROWS_WITH_AS(f32({2}).to(Device::cuda()), Contains("CUDA"), Error);
    CHECK_THROWS_WITH_AS(parse_device("cuda"), Contains("CUDA"), Error);
    CHECK_THROWS_WITH_AS(parse_device("gpu"), Contains("unknown device 'gpu'"), Error);
    return;
  }
  const Tensor on_gpu = zeros({2}, {DType::f32, Device::cuda()});
  CHECK_THROWS_WITH_AS(add(f32({2}), on_gpu), Contains("add: device mismatch, cpu vs cuda:0"), Error);
  CHECK_THROWS_WITH_AS(matmul(f32({2, 2}), zeros({2, 2}, {DType::f32, Device::cuda()})),
                       Contains("matmul: device mismatch, cpu vs cuda:0"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({1, 2}, {DType::f32, Device::cuda()}), labels_from_vector({0})),
                       Contains("cross_entropy: device mismatch, cuda:0 vs cpu"), Error);
  CHECK_THROWS_WITH_AS(on_gpu.at({0}), Contains("needs a CPU tensor, got one on cuda:0"), Error);
}

TEST_CASE("numbers from text: the whole text or an error naming what it was, never a bare std exception") {
  CHECK(parse_int64("-42", "x") == -42);
  CHECK(parse_uint64("18446744073709551615", "x") == UINT64_MAX);
  CHECK(parse_double("0x1.8p+1", "x") == 3.0);  // printf's %a, as checkpoints write sums
  CHECK(parse_double("2.5e-3", "x") == 2.5e-3);
  CHECK_THROWS_WITH_AS(parse_int64("12abc", "metadata 'k'"), Contains("metadata 'k' = '12abc' is not an integer"), Error);
  CHECK_THROWS_WITH_AS(parse_int64(" 12", "k"), Contains("is not an integer"), Error);
  CHECK_THROWS_WITH_AS(parse_int64("", "k"), Contains("k = '' is not an integer"), Error);
  CHECK_THROWS_WITH_AS(parse_int64("99999999999999999999", "k"), Contains("does not fit in 64 bits"), Error);
  CHECK_THROWS_WITH_AS(parse_uint64("-1", "seed"), Contains("seed = '-1' is not an unsigned integer"), Error);
  CHECK_THROWS_WITH_AS(parse_double("1.5x", "sum"), Contains("sum = '1.5x' is not a number"), Error);
  // A NUL or control byte is shown escaped, so it cannot cut the message short.
  CHECK_THROWS_WITH_AS(parse_double(std::string("1\0", 2), "sum"), Contains("sum = '1\\x00' is not a number"), Error);
  CHECK_THROWS_WITH_AS(parse_int64("4\n2", "k"), Contains("k = '4\\x0a2' is not an integer"), Error);
  double value = 0;
  CHECK(parse_double_prefix("512M", value) == 3);
  CHECK(value == 512);
  CHECK(parse_double_prefix(" 5", value) == 0);
  CHECK(parse_double_prefix("G", value) == 0);
  // --device cuda:N: the index is checked before anything else.
  CHECK_THROWS_WITH_AS(parse_device("cuda:x"), Contains("--device cuda:x: the GPU index = 'x' is not an integer"), Error);
  CHECK_THROWS_WITH_AS(parse_device("cuda:99999999999"), Contains("must be in [0, 1024]"), Error);
  CHECK_THROWS_WITH_AS(parse_device("cuda:-1"), Contains("must be in [0, 1024]"), Error);
}

TEST_CASE("sizes that overflow 64 bits are errors naming the shape (never undefined behaviour)") {
  CHECK(shape_numel({int64_t{1} << 31, int64_t{1} << 31}) == int64_t{1} << 62);
  CHECK_THROWS_WITH_AS(shape_numel({int64_t{1} << 40, int64_t{1} << 40}),
                       doctest::Contains("more elements than a 64-bit count can hold"), Error);
  CHECK(labels_from_vector({}).numel() == 0);  // no memcpy from a null pointer
  CHECK(from_vector_f32({}, {0}).numel() == 0);
}

TEST_CASE("a hostile safetensors header (huge, negative or overlapping) names the file and the tensor") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("slab-bad-header-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& header) {
    const std::string path = (dir / name).string();
    std::ofstream out(path, std::ios::binary);
    const uint64_t length = header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
    out << header << std::string(16, '\0');
    return path;
  };
  const std::string huge =
      write("huge.safetensors", R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}})");
  CHECK_THROWS_WITH_AS(load_safetensors(huge), doctest::Contains("huge.safetensors: tensor 'w'"), Error);
  const std::string big =
      write("big.safetensors", R"({"w":{"dtype":"F64","shape":[1152921504606846976,4],"data_offsets":[0,16]}})");
  CHECK_THROWS_WITH_AS(load_safetensors(big), doctest::Contains("needs more bytes than the file's 16 of data"), Error);
  const std::string negative =
      write("negative.safetensors", R"({"w":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}})");
  CHECK_THROWS_WITH_AS(load_safetensors(negative), doctest::Contains("negative extent"), Error);
  const std::string overlapping = write(
      "overlap.safetensors",
      R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})");
  CHECK_THROWS_WITH_AS(load_safetensors(overlapping),
                       doctest::Contains("tensors 'a' (bytes 0-12) and 'b' (bytes 8-16) overlap"), Error);
  const std::string adjacent = write(
      "adjacent.safetensors",
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}})");
  CHECK(load_safetensors(adjacent).tensors.size() == 3);  // touching ranges and empty tensors are fine
  std::filesystem::remove_all(dir);
}

TEST_CASE("an allocation past the memory limit is refused naming its size, after the cache is given back") {
  struct ResetLimit {
    ~ResetLimit() { set_host_memory_limit(0, ""); }
  } reset;
  (void)zeros({300000});  // 1.1 MiB, returned to the cache at once
  const size_t in_use = host_allocator_stats().bytes_in_use;
  set_host_memory_limit(in_use + (size_t{3} << 20), "a test's limit");
  // 2.3 MiB fits once the cached 1.1 MiB block (another size) goes back to the system.
  CHECK_NOTHROW((void)zeros({600000}));
  CHECK_THROWS_WITH_AS((void)zeros({1 << 20}),
                       Contains("out of memory: a tensor of 4.0 MiB"), MemoryLimitError);
  CHECK_THROWS_WITH_AS((void)zeros({1 << 20}), Contains("(a test's limit)"), MemoryLimitError);
  CHECK(host_allocator_stats().bytes_in_use == in_use);  // a refusal leaves nothing counted
}

TEST_CASE("describe_bytes and MemAvailable") {
  CHECK(describe_bytes(512) == "512 bytes");
  CHECK(describe_bytes(1536) == "1.5 KiB");
  CHECK(describe_bytes(3.0 * (1ull << 40)) == "3.0 TiB");
  CHECK(available_host_memory() > 0);  // Linux has /proc/meminfo
}
