#include "bayes/variable_selection.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "bayes/active_columns.h"
#include "core/ops.h"
#include "core/random.h"
#include "layers/channel_coupling.h"
#include "layers/linear.h"
#include "layers/linear_stack.h"
#include "optim/schedule.h"
#include "optim/sghmc.h"

namespace slab {

namespace {

// Copies rows order[first .. first + count) of `source` [n, width] into `batch` [count, width].
void gather_rows(const Tensor& source, const std::vector<int64_t>& order, int64_t first, const Tensor& batch) {
  const int64_t width = source.size(1), count = batch.size(0);
  const float* src = source.data<float>();
  float* dst = batch.data<float>();
#pragma omp parallel for if (count * width > 65536) schedule(static)
  for (int64_t i = 0; i < count; ++i)
    std::copy_n(src + order[static_cast<size_t>(first + i)] * width, width, dst + i * width);
}

int64_t count_zeros(const Module& model, int64_t& total) {
  int64_t zeros = 0;
  total = 0;
  for (const NamedParameter& p : model.named_parameters()) {
    total += p.tensor.numel();
    const float* x = p.tensor.data<float>();
    for (int64_t i = 0; i < p.tensor.numel(); ++i) zeros += x[i] == 0.0f;
  }
  return zeros;
}

void check_split(const Tensor& x, const Tensor& y, const char* name) {
  SLAB_CHECK(x.dim() == 2 && x.dtype() == DType::f32, "variable selection: ", name, " inputs must be float32 [n, P], got ",
             x.dtype(), " ", x.shape());
  SLAB_CHECK(y.dim() == 2 && y.size(0) == x.size(0) && y.size(1) == 1 && y.dtype() == DType::f32,
             "variable selection: ", name, " targets must be float32 [", x.size(0), ", 1], got ", y.dtype(), " ",
             y.shape());
}

// The network's forward with the first layer on a subset of its input columns (all of
// them when `columns` is empty): x holds exactly those columns.
Tensor forward_on_columns(const Sequential& layers, const Tensor& x, const std::vector<int64_t>& columns) {
  auto* first = dynamic_cast<Linear*>(layers.at(0).get());
  SLAB_CHECK(first != nullptr, "variable selection: the network's first layer is not a Linear");
  Tensor h = columns.empty() ? first->forward(x) : linear(x, select_columns(first->weight, columns), first->bias);
  for (size_t i = 1; i < layers.size(); ++i) h = layers[i].forward(h);
  return h;
}

}  // namespace

VariableSelectionResult train_variable_selection(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x,
                                                 const Tensor& test_y, const VariableSelectionConfig& config,
                                                 const std::function<void(const VariableSelectionProgress&)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  check_split(train_x, train_y, "training");
  check_split(test_x, test_y, "test");
  SLAB_CHECK(test_x.size(1) == train_x.size(1), "variable selection: test inputs have ", test_x.size(1),
             " columns, training inputs ", train_x.size(1));
  const int64_t n = train_x.size(0), features = train_x.size(1);
  SLAB_CHECK(config.batch_size > 0 && config.batch_size <= n, "variable selection: batch size must be in [1, ", n,
             "], got ", config.batch_size);
  SLAB_CHECK(config.epochs > 0 && config.cycles > 0, "variable selection: epochs and cycles must be positive");

  Generator init(config.seed, 10);
  // The MLP of models/ without its wrapper (bayes/ does not know models/): the same layers
  // and initial draws, parameter names without the "layers." prefix.
  const std::shared_ptr<Sequential> network = linear_relu_stack(features, config.hidden, 1, init);
  Sequential& model = *network;
  SghmcOptions sampler;
  sampler.learning_rate = config.learning_rate;
  sampler.temperature = config.temperature;
  sampler.data_size = static_cast<double>(n);
  sampler.eta = config.eta;
  sampler.beta1 = config.beta1;
  sampler.beta2 = config.beta2;
  sampler.weight_decay = config.prior.lambda1;
  sampler.seed = config.seed;
  sampler.spike_and_slab = true;
  Sghmc optimizer(model.named_parameters(), sampler);
  SpikeSlabOptions prior_options = config.prior;
  prior_options.data_size = static_cast<double>(n);
  const SpikeSlabPrior prior(prior_options, channel_couplings(model));
  prior.attach(optimizer);

  const int64_t batches = n / config.batch_size;  // a partial last batch is dropped
  const int64_t total_steps = config.epochs * batches;
  const CyclicalCosineSchedule schedule(config.learning_rate, total_steps, config.cycles);

  std::vector<int64_t> order(static_cast<size_t>(n)), batch_order(static_cast<size_t>(batches));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  for (int64_t b = 0; b < batches; ++b) batch_order[static_cast<size_t>(b)] = b;
  Generator shuffler(config.seed, 11);
  auto shuffle = [&](std::vector<int64_t>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[shuffler.below(i)]);
  };
  if (!config.reshuffle_rows) shuffle(order);  // fixed batch membership

  // The first layer's kept columns; `columns` stays empty while all are kept. (Should all
  // be pruned, column 0 stands in: its weights are zero, so the layer still outputs its bias.)
  const PriorState& first_state = optimizer.prior_states().front();
  std::vector<int64_t> columns;
  Tensor data = train_x;  // the columns the first layer reads
  auto kept_columns = [&] {
    std::vector<int64_t> kept;
    for (int64_t j = 0; j < features; ++j)
      if (first_state.column_kept(j)) kept.push_back(j);
    return kept;
  };

  Tensor x_batch, y_batch = Tensor::empty({config.batch_size, 1});
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < config.epochs; ++epoch) {
    if (prior.begin_epoch(epoch, optimizer) && config.compact) {
      std::vector<int64_t> kept = kept_columns();
      if (kept.empty()) kept.push_back(0);
      // Re-gather only once the kept set is at most half of the columns read now. The
      // columns read may include pruned ones (their weights are zero: still exact), and
      // each re-gather allocates a smaller data matrix, so there are at most log2(P) of
      // them (a re-gather on every change, over hundreds of epochs of slow pruning, fills
      // the host allocator's size-keyed cache with dead matrices).
      const size_t width = columns.empty() ? static_cast<size_t>(features) : columns.size();
      if (2 * kept.size() <= width) {
        columns = kept;
        data = gather_data_columns(train_x, columns);
        x_batch = Tensor();
      }
    }
    if (!x_batch.defined() || x_batch.size(1) != data.size(1)) x_batch = Tensor::empty({config.batch_size, data.size(1)});
    if (config.reshuffle_rows) shuffle(order);
    else shuffle(batch_order);
    double loss_sum = 0;
    for (int64_t b = 0; b < batches; ++b, ++step) {
      const int64_t first = (config.reshuffle_rows ? b : batch_order[static_cast<size_t>(b)]) * config.batch_size;
      gather_rows(data, order, first, x_batch);
      gather_rows(train_y, order, first, y_batch);
      optimizer.zero_grad();
      const Tensor output = forward_on_columns(model, x_batch, columns);
      const Tensor loss =
          config.classification ? binary_cross_entropy_with_logits(output, y_batch) : mse_loss(output, y_batch);
      loss.backward();
      optimizer.set_learning_rate(schedule.lr(step));
      optimizer.step();
      loss_sum += loss.item();
    }
    SLAB_CHECK(std::isfinite(loss_sum), "variable selection: training diverged at epoch ", epoch + 1,
               " (the loss is not finite)");
    if (progress && config.log_every > 0 && ((epoch + 1) % config.log_every == 0 || epoch + 1 == config.epochs)) {
      VariableSelectionProgress p;
      p.epoch = epoch + 1;
      p.loss = loss_sum / static_cast<double>(batches);
      p.c2 = schedule.lr(step - 1);
      p.kept = static_cast<int64_t>(kept_columns().size());
      int64_t total = 0;
      p.sparsity = static_cast<double>(count_zeros(model, total)) / static_cast<double>(total);
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress(p);
    }
  }

  // The final sample on the training set (for model selection between chains) and the test set.
  VariableSelectionResult result;
  {
    NoGradGuard no_grad;
    model.eval();
    const Tensor fit = forward_on_columns(model, data, columns);
    result.train_loss =
        (config.classification ? binary_cross_entropy_with_logits(fit, train_y) : mse_loss(fit, train_y)).item();
    result.train_size = n;
    const Tensor test = columns.empty() ? test_x : gather_data_columns(test_x, columns);
    const Tensor prediction = forward_on_columns(model, test, columns);
    const float* p = prediction.data<float>();
    const float* t = test_y.data<float>();
    const int64_t m = test_x.size(0);
    for (int64_t i = 0; i < m; ++i) {
      if (config.classification) result.test_metric += ((p[i] > 0.0f) == (t[i] > 0.5f)) ? 1.0 : 0.0;
      else result.test_metric += (p[i] - t[i]) * (p[i] - t[i]);
    }
    result.test_metric /= static_cast<double>(m);
  }
  for (int64_t j : kept_columns()) result.kept.push_back(j + 1);
  result.zeros = count_zeros(model, result.parameters);
  result.steps = step;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

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
