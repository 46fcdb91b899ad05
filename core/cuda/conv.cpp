// Convolution through cuDNN 9's graph (backend) API: forward, backward-data and
// backward-filter are each a one-operation graph. For every new shape the heuristics list
// the engines that can run it, the candidates allowed by the numerics switches are built
// into execution plans, timed once on the real buffers (the equivalent of PyTorch's
// cudnn.benchmark = True), and the fastest plan is cached under the shape; later calls
// look the plan up and execute it with the device's reusable workspace (context.h).
//
// Numerics: float32 convolutions run without tensor cores (no TF32) unless
// cuda::tf32_enabled(); cuDNN marks the engines that use them with the numerical notes
// TENSOR_CORE / DOWN_CONVERT_INPUTS, which are filtered out. SLAB_DETERMINISTIC=1 also
// filters out engines noted NONDETERMINISTIC (some backward-filter engines add with atomics).
// Under --precision bf16 the inputs are rounded to bf16 first and tensor-core engines are
// allowed, the others that would not keep exact products excluded (core/cuda/bf16_products.h).
//
// The bias is added by the elementwise kernel (out += bias broadcast over [n, c, h, w]), and
// its gradient is two deterministic sums (core/cuda/reduce.cu).
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cuda/bf16_products.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/kernels.h"

namespace slab::cuda {

namespace {

enum class Direction : int { Forward = 0, BackwardData = 1, BackwardFilter = 2 };

const char* direction_name(Direction d) {
  switch (d) {
    case Direction::Forward: return "conv2d forward";
    case Direction::BackwardData: return "conv2d backward (input)";
    case Direction::BackwardFilter: return "conv2d backward (weight)";
  }
  return "conv2d";
}

// A backend descriptor that destroys itself.
class Descriptor {
 public:
  explicit Descriptor(cudnnBackendDescriptorType_t type) {
    SLAB_CUDA_CHECK(cudnnBackendCreateDescriptor(type, &descriptor_));
  }
  ~Descriptor() {
    if (descriptor_ != nullptr) cudnnBackendDestroyDescriptor(descriptor_);
  }
  Descriptor(Descriptor&& other) noexcept : descriptor_(other.descriptor_) { other.descriptor_ = nullptr; }
  Descriptor& operator=(Descriptor&&) = delete;
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  cudnnBackendDescriptor_t get() const { return descriptor_; }
  cudnnBackendDescriptor_t* address() { return &descriptor_; }

  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values) {
    const cudnnStatus_t status = cudnnBackendSetAttribute(descriptor_, name, type, count, values);
    if (status != CUDNN_STATUS_SUCCESS) {
      const std::string call = "cudnnBackendSetAttribute(attribute " + std::to_string(static_cast<int>(name)) + ")";
      detail::check_status(status, call.c_str(), __FILE__, __LINE__);
    }
  }
  void set(cudnnBackendAttributeName_t name, const Descriptor& value) {
    cudnnBackendDescriptor_t raw = value.get();
    set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
  }
  void finalize() { SLAB_CUDA_CHECK(cudnnBackendFinalize(descriptor_)); }
  cudnnStatus_t try_finalize() { return cudnnBackendFinalize(descriptor_); }

 private:
  cudnnBackendDescriptor_t descriptor_ = nullptr;
};

// The geometry of one convolution call, which is also the cache key.
struct Geometry {
  std::array<int64_t, 4> x{}, w{}, y{};  // [n, c, h, w], [k, c / groups, r, s], [n, k, p, q]
  std::array<int64_t, 2> stride{}, pad{}, dilation{};
  int64_t groups = 1;
  cudnnDataType_t dtype = CUDNN_DATA_FLOAT;
  bool bf16 = false;  // --precision bf16: the inputs are bf16 values (core/cuda/bf16_products.h)
};

// Everything that selects a plan, as integers: the geometry, the direction, the device
// and the numerics switches.
struct Key {
  std::array<int64_t, 25> fields{};
  bool operator==(const Key& other) const { return fields == other.fields; }
};

struct KeyHash {
  size_t operator()(const Key& key) const {
    size_t hash = 1469598103934665603ull;  // FNV-1a over the fields
    for (int64_t field : key.fields) hash = (hash ^ static_cast<size_t>(field)) * 1099511628211ull;
    return hash;
  }
};

Key make_key(const Geometry& g, Direction direction, int device, bool tf32, bool deterministic) {
  Key key;
  size_t i = 0;
  for (const auto* part : {&g.x, &g.w, &g.y})
    for (int64_t v : *part) key.fields[i++] = v;
  for (const auto* part : {&g.stride, &g.pad, &g.dilation})
    for (int64_t v : *part) key.fields[i++] = v;
  key.fields[i++] = g.groups;
  key.fields[i++] = static_cast<int64_t>(g.dtype);
  key.fields[i++] = g.bf16;
  key.fields[i++] = static_cast<int64_t>(direction);
  key.fields[i++] = device;
  key.fields[i++] = tf32;
  key.fields[i++] = deterministic;
  return key;
}

// The descriptors of one operation graph (tensors, convolution, operation, graph last),
// kept alive as long as any plan made from them: a backend descriptor may refer to the
// descriptors it was built from.
using GraphParts = std::vector<Descriptor>;

struct Plan {
  std::shared_ptr<const GraphParts> graph;
  Descriptor config;
  Descriptor plan{CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR};
  int64_t workspace_bytes = 0;
  Plan(std::shared_ptr<const GraphParts> parts, Descriptor engine_config)
      : graph(std::move(parts)), config(std::move(engine_config)) {}
};

constexpr int64_t kUidX = 'x', kUidW = 'w', kUidY = 'y';
constexpr size_t kMaxCandidates = 8;

bool environment_flag(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::strcmp(value, "1") == 0;
}

bool deterministic_only() {
  static const bool on = environment_flag("SLAB_DETERMINISTIC");
  return on;
}

Descriptor tensor_descriptor(int64_t uid, const std::array<int64_t, 4>& dims, cudnnDataType_t dtype) {
  const std::array<int64_t, 4> strides{dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1};
  const int64_t alignment = 16;  // tensor data starts a cudaMalloc'd block (256-byte aligned)
  Descriptor d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  d.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dtype);
  d.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data());
  d.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data());
  d.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  d.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
  d.finalize();
  return d;
}

// The one-operation graph of a direction. Groups are implied by the channel extents
// (x has c channels, w has c / groups), as cuDNN's graph API expects.
std::shared_ptr<const GraphParts> operation_graph(const Geometry& g, Direction direction, cudnnHandle_t handle) {
  auto parts = std::make_shared<GraphParts>();
  parts->reserve(6);  // no reallocation: the references below stay valid
  Descriptor& x = parts->emplace_back(tensor_descriptor(kUidX, g.x, g.dtype));
  Descriptor& w = parts->emplace_back(tensor_descriptor(kUidW, g.w, g.dtype));
  Descriptor& y = parts->emplace_back(tensor_descriptor(kUidY, g.y, g.dtype));

  Descriptor& convolution = parts->emplace_back(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const int64_t spatial_dims = 2;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  convolution.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &g.dtype);
  convolution.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  convolution.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial_dims);
  convolution.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, g.dilation.data());
  convolution.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, g.stride.data());
  convolution.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, g.pad.data());
  convolution.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, g.pad.data());
  convolution.finalize();

  const double alpha_double = 1.0, beta_double = 0.0;
  const float alpha_float = 1.0f, beta_float = 0.0f;
  const bool is_double = g.dtype == CUDNN_DATA_DOUBLE;
  const cudnnBackendAttributeType_t scalar_type = is_double ? CUDNN_TYPE_DOUBLE : CUDNN_TYPE_FLOAT;
  const void* alpha = is_double ? static_cast<const void*>(&alpha_double) : static_cast<const void*>(&alpha_float);
  const void* beta = is_double ? static_cast<const void*>(&beta_double) : static_cast<const void*>(&beta_float);

  // The three directions are one operation type each, with the same six attributes under
  // their own names; for backward-data x and y hold dx and dy, for backward-filter w holds dw.
  struct OperationAttributes {
    cudnnBackendDescriptorType_t type;
    cudnnBackendAttributeName_t x, w, y, convolution, alpha, beta;
  };
  static constexpr OperationAttributes kForward{
      CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,             CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,     CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA};
  static constexpr OperationAttributes kBackwardData{
      CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,                  CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA};
  static constexpr OperationAttributes kBackwardFilter{
      CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,                 CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,          CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA};
  const OperationAttributes& names = direction == Direction::Forward        ? kForward
                                     : direction == Direction::BackwardData ? kBackwardData
                                                                            : kBackwardFilter;
  Descriptor& operation = parts->emplace_back(names.type);
  operation.set(names.x, x);
  operation.set(names.w, w);
  operation.set(names.y, y);
  operation.set(names.convolution, convolution);
  operation.set(names.alpha, scalar_type, 1, alpha);
  operation.set(names.beta, scalar_type, 1, beta);
  operation.finalize();

  Descriptor& graph = parts->emplace_back(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  cudnnBackendDescriptor_t raw_operation = operation.get();
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw_operation);
  graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  graph.finalize();
  return parts;
}

// The engine configurations the heuristics of `mode` propose, best first.
std::vector<Descriptor> engine_configs(const Descriptor& graph, cudnnBackendHeurMode_t mode) {
  Descriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  heuristics.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
  heuristics.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  if (heuristics.try_finalize() != CUDNN_STATUS_SUCCESS) return {};
  int64_t count = 0;
  SLAB_CUDA_CHECK(
      cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr));
  std::vector<Descriptor> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().get());
  }
  int64_t returned = 0;
  if (count > 0)
    SLAB_CUDA_CHECK(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                             CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned, raw.data()));
  while (static_cast<int64_t>(configs.size()) > returned) configs.pop_back();
  return configs;
}

// Whether an engine configuration may run under the numerics switches.
bool allowed(const Descriptor& config, const Geometry& g, bool tf32, bool deterministic, bool allow_compiled) {
  Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  int64_t returned = 0;
  cudnnBackendDescriptor_t raw_engine = engine.get();
  if (cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &returned,
                               &raw_engine) != CUDNN_STATUS_SUCCESS)
    return false;
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
  int64_t note_count = 0;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               static_cast<int64_t>(notes.size()), &note_count, notes.data()) != CUDNN_STATUS_SUCCESS)
    return false;
  for (int64_t i = 0; i < note_count && i < static_cast<int64_t>(notes.size()); ++i) {
    const cudnnBackendNumericalNote_t note = notes[static_cast<size_t>(i)];
    if (g.dtype == CUDNN_DATA_FLOAT && !tf32 && !g.bf16 &&
        (note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE || note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS ||
         note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION))
      return false;
    // bf16 products: tensor cores take the rounded inputs exactly (as TF32); a conversion to a
    // narrower type (FP16's exponent range is not bf16's), reduced-precision sums, and
    // transforms of the inputs (FFT, Winograd) would not keep exact products and float32 sums.
    if (g.bf16 && (note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS ||
                   note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION || note == CUDNN_NUMERICAL_NOTE_FFT ||
                   note == CUDNN_NUMERICAL_NOTE_WINOGRAD || note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4 ||
                   note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6 || note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13))
      return false;
    if (deterministic && note == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) return false;
  }
  // Engines compiled at run time (NVRTC) take seconds to build a plan for each new shape:
  // they are tried only when no precompiled engine can run the convolution.
  if (allow_compiled) return true;
  std::array<cudnnBackendBehaviorNote_t, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT> behaviours{};
  int64_t behaviour_count = 0;
  if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               static_cast<int64_t>(behaviours.size()), &behaviour_count,
                               behaviours.data()) == CUDNN_STATUS_SUCCESS)
    for (int64_t i = 0; i < behaviour_count && i < static_cast<int64_t>(behaviours.size()); ++i)
      if (behaviours[static_cast<size_t>(i)] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) return false;
  return true;
}

std::unique_ptr<Plan> build_plan(const std::shared_ptr<const GraphParts>& graph, Descriptor config,
                                 cudnnHandle_t handle) {
  auto plan = std::make_unique<Plan>(graph, std::move(config));
  plan->plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  plan->plan.set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, plan->config);
  if (plan->plan.try_finalize() != CUDNN_STATUS_SUCCESS) return nullptr;
  int64_t returned = 0;
  if (cudnnBackendGetAttribute(plan->plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                               &returned, &plan->workspace_bytes) != CUDNN_STATUS_SUCCESS)
    return nullptr;
  return plan;
}

// Runs a plan on (x, w, y) pointers; returns the status instead of throwing (autotuning
// tries plans that may fail at run time).
cudnnStatus_t execute(const Plan& plan, cudnnHandle_t handle, void* x, void* w, void* y, int device) {
  void* workspace = plan.workspace_bytes > 0 ? detail::workspace(static_cast<size_t>(plan.workspace_bytes), device)
                                             : nullptr;
  std::array<int64_t, 3> uids{kUidX, kUidW, kUidY};
  std::array<void*, 3> pointers{x, w, y};
  Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids.data());
  pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, pointers.data());
  pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
  pack.finalize();
  return cudnnBackendExecute(handle, plan.plan.get(), pack.get());
}

// Times each candidate on the call's own buffers (every direction overwrites its output,
// so the trial runs leave nothing behind) and keeps the fastest.
std::unique_ptr<Plan> fastest(std::vector<std::unique_ptr<Plan>> candidates, cudnnHandle_t handle, void* x, void* w,
                              void* y, int device) {
  if (candidates.size() == 1) return std::move(candidates.front());
  cudaStream_t s = detail::stream(device);
  cudaEvent_t start = nullptr, stop = nullptr;
  SLAB_CUDA_CHECK(cudaEventCreate(&start));
  SLAB_CUDA_CHECK(cudaEventCreate(&stop));
  float best_ms = 0;
  size_t best = candidates.size();
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (execute(*candidates[i], handle, x, w, y, device) != CUDNN_STATUS_SUCCESS) continue;  // warm-up
    SLAB_CUDA_CHECK(cudaEventRecord(start, s));
    bool ran = true;
    for (int repeat = 0; repeat < 2 && ran; ++repeat)
      ran = execute(*candidates[i], handle, x, w, y, device) == CUDNN_STATUS_SUCCESS;
    SLAB_CUDA_CHECK(cudaEventRecord(stop, s));
    SLAB_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    SLAB_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    if (ran && (best == candidates.size() || ms < best_ms)) {
      best_ms = ms;
      best = i;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (best == candidates.size()) return nullptr;
  return std::move(candidates[best]);
}

struct PlanCache {
  std::mutex mutex;
  std::unordered_map<Key, std::unique_ptr<Plan>, KeyHash> plans;
};

PlanCache& plan_cache() {
  static PlanCache* cache = new PlanCache();
  return *cache;
}

std::string describe(const Geometry& g) {
  std::string text = "x [" + std::to_string(g.x[0]) + ", " + std::to_string(g.x[1]) + ", " + std::to_string(g.x[2]) +
                     ", " + std::to_string(g.x[3]) + "], weight [" + std::to_string(g.w[0]) + ", " +
                     std::to_string(g.w[1]) + ", " + std::to_string(g.w[2]) + ", " + std::to_string(g.w[3]) + "]";
  text += ", stride " + std::to_string(g.stride[0]) + "x" + std::to_string(g.stride[1]) + ", padding " +
          std::to_string(g.pad[0]) + "x" + std::to_string(g.pad[1]) + ", dilation " + std::to_string(g.dilation[0]) +
          "x" + std::to_string(g.dilation[1]) + ", groups " + std::to_string(g.groups);
  return text;
}

// Finds (or makes, tunes and caches) the plan for a call, then runs it.
void run(const Geometry& g, Direction direction, void* x, void* w, void* y, int device) {
  const bool tf32 = tf32_enabled(), deterministic = deterministic_only();
  const Key key = make_key(g, direction, device, tf32, deterministic);
  cudnnHandle_t handle = detail::cudnn(device);
  PlanCache& cache = plan_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.plans.find(key);
  if (it == cache.plans.end()) {
    const std::shared_ptr<const GraphParts> graph = operation_graph(g, direction, handle);
    std::vector<std::unique_ptr<Plan>> candidates;
    for (bool allow_compiled : {false, true}) {
      for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
        for (Descriptor& config : engine_configs(graph->back(), mode)) {
          if (candidates.size() >= kMaxCandidates) break;
          if (!allowed(config, g, tf32, deterministic, allow_compiled)) continue;
          if (auto plan = build_plan(graph, std::move(config), handle)) candidates.push_back(std::move(plan));
        }
        if (!candidates.empty()) break;  // the fallback list only when the main one gave nothing
      }
      if (!candidates.empty()) break;
    }
    SLAB_CHECK(!candidates.empty(), direction_name(direction), ": cuDNN has no engine for ", describe(g),
               g.dtype == CUDNN_DATA_DOUBLE ? " in float64" : "", tf32 ? "" : " without TF32");
    const size_t candidate_count = candidates.size();
    std::unique_ptr<Plan> chosen = fastest(std::move(candidates), handle, x, w, y, device);
    SLAB_CHECK(chosen != nullptr, direction_name(direction), ": every cuDNN engine failed to run ", describe(g));
    if (environment_flag("SLAB_CUDA_VERBOSE"))
      std::fprintf(stderr, "slab cuda: %s %s: %zu candidate plans, workspace %lld bytes\n", direction_name(direction),
                   describe(g).c_str(), candidate_count, static_cast<long long>(chosen->workspace_bytes));
    it = cache.plans.emplace(key, std::move(chosen)).first;
  }
  const cudnnStatus_t status = execute(*it->second, handle, x, w, y, device);
  if (status != CUDNN_STATUS_SUCCESS) {
    const std::string call = std::string("cudnnBackendExecute (") + direction_name(direction) + ", " + describe(g) + ")";
    detail::check_status(status, call.c_str(), __FILE__, __LINE__);
  }
}

Geometry geometry(const Tensor& x, const Tensor& weight, const Tensor& y, int64_t stride_h, int64_t stride_w,
                  int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w, int64_t groups) {
  SLAB_CHECK(x.dtype() == DType::f32 || x.dtype() == DType::f64, "conv2d: cuDNN path needs float32 or float64, got ",
             x.dtype());
  Geometry g;
  for (int d = 0; d < 4; ++d) {
    g.x[d] = x.size(d);
    g.w[d] = weight.size(d);
    g.y[d] = y.size(d);
  }
  g.stride = {stride_h, stride_w};
  g.pad = {pad_h, pad_w};
  g.dilation = {dilation_h, dilation_w};
  g.groups = groups;
  g.dtype = x.dtype() == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  g.bf16 = detail::bf16_products(x.dtype());
  return g;
}

// An input as the convolution multiplies it: rounded to bf16 under --precision bf16.
Tensor routed(const Geometry& g, const Tensor& t) {
  return g.bf16 ? detail::rounded_copy(t.data<float>(), t.numel(), t.device().index) : t;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out, int64_t stride_h,
                    int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                    int64_t groups) {
  if (out.numel() == 0) return;
  const int device = x.device().index;
  if (x.numel() == 0 || weight.numel() == 0) {  // an empty sum: the bias alone, or zeros
    SLAB_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, out.nbytes(), detail::stream(device)));
  } else {
    const Geometry g = geometry(x, weight, out, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups);
    const Tensor x_in = routed(g, x), w_in = routed(g, weight);
    run(g, Direction::Forward, x_in.raw_data(), w_in.raw_data(), out.raw_data(), device);
  }
  if (bias.defined()) {
    const Tensor bias_view = bias.detach().reshape({1, bias.numel(), 1, 1});
    binary(BinaryOp::Add, out, bias_view, out, 0.0, 0.0);
  }
}

void conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x, int64_t stride_h,
                           int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                           int64_t groups) {
  if (grad_x.numel() == 0) return;
  const int device = grad_x.device().index;
  if (grad_out.numel() == 0 || weight.numel() == 0) {
    SLAB_CUDA_CHECK(cudaMemsetAsync(grad_x.raw_data(), 0, grad_x.nbytes(), detail::stream(device)));
    return;
  }
  const Geometry g =
      geometry(grad_x, weight, grad_out, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups);
  const Tensor w_in = routed(g, weight), dy_in = routed(g, grad_out);
  run(g, Direction::BackwardData, grad_x.raw_data(), w_in.raw_data(), dy_in.raw_data(), device);
}

void conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight, int64_t stride_h,
                            int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
                            int64_t groups) {
  if (grad_weight.numel() == 0) return;
  const int device = grad_weight.device().index;
  if (grad_out.numel() == 0 || x.numel() == 0) {
    SLAB_CUDA_CHECK(cudaMemsetAsync(grad_weight.raw_data(), 0, grad_weight.nbytes(), detail::stream(device)));
    return;
  }
  const Geometry g =
      geometry(x, grad_weight, grad_out, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups);
  const Tensor x_in = routed(g, x), dy_in = routed(g, grad_out);
  run(g, Direction::BackwardFilter, x_in.raw_data(), grad_weight.raw_data(), dy_in.raw_data(), device);
}

void conv2d_backward_bias(const Tensor& grad_out, const Tensor& grad_bias) {
  // sum over (h, w) of each (image, channel) plane, then over the images: two fixed-order sums.
  const int64_t batch = grad_out.size(0), channels = grad_out.size(1);
  const int64_t spatial = grad_out.numel() / std::max<int64_t>(batch * channels, 1);
  Tensor per_image = Tensor::empty({batch, channels}, grad_out.dtype(), grad_out.device());
  sum_dim(grad_out, batch * channels, spatial, 1, per_image);
  sum_dim(per_image, 1, batch, channels, grad_bias);
}

}  // namespace slab::cuda
