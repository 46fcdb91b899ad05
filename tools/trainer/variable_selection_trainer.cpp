#include "tools/trainer/variable_selection_trainer.h"

#include <algorithm>
#include <cmath>

#include "bayes/active_columns.h"
#include "core/autograd.h"
#include "core/ops.h"
#include "layers/channel_graph.h"
#include "layers/linear.h"
#include "layers/linear_stack.h"

namespace slab::tools {

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

// ---- the loop ----------------------------------------------------------------------------

VariableSelectionResult VariableSelectionTrainer::run() {
  for (int64_t epoch = 0; epoch < config_.epochs; ++epoch) {
    start_epoch(epoch);
    double loss_sum = 0;
    for (int64_t b = 0; b < batches_; ++b, ++step_) {
      load_batch(b);
      optimizer_->zero_grad();
      const Tensor loss = loss_of(forward_on_columns(*network_, x_batch_, columns_), y_batch_);
      loss.backward();
      optimizer_->set_learning_rate(schedule_->lr(step_));
      optimizer_->step();
      loss_sum += loss.item();
    }
    SLAB_CHECK(std::isfinite(loss_sum), "variable selection: training diverged at epoch ", epoch + 1,
               " (the loss is not finite)");
    report_progress(epoch, loss_sum);
  }
  return final_result();
}

// ---- building the chain ------------------------------------------------------------------

VariableSelectionTrainer::VariableSelectionTrainer(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x,
                                                   const Tensor& test_y, const VariableSelectionConfig& config,
                                                   std::function<void(const VariableSelectionProgress&)> progress)
    : train_x_(train_x), train_y_(train_y), test_x_(test_x), test_y_(test_y), config_(config),
      progress_(std::move(progress)), shuffler_(config.seed, 11) {
  check_split(train_x, train_y, "training");
  check_split(test_x, test_y, "test");
  SLAB_CHECK(test_x.size(1) == train_x.size(1), "variable selection: test inputs have ", test_x.size(1),
             " columns, training inputs ", train_x.size(1));
  const int64_t n = train_x.size(0);
  features_ = train_x.size(1);
  SLAB_CHECK(config.batch_size > 0 && config.batch_size <= n, "variable selection: batch size must be in [1, ", n,
             "], got ", config.batch_size);
  SLAB_CHECK(config.epochs > 0 && config.cycles > 0, "variable selection: epochs and cycles must be positive");

  // The MLP of models/ without its wrapper: the same layers and initial draws, parameter
  // names without the "layers." prefix.
  Generator init(config.seed, 10);
  network_ = linear_relu_stack(features_, config.hidden, 1, init);
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
  optimizer_ = std::make_unique<Sghmc>(network_->named_parameters(), sampler);
  SpikeSlabOptions prior_options = config.prior;
  prior_options.data_size = static_cast<double>(n);
  prior_ = std::make_unique<SpikeSlabPrior>(prior_options, channel_couplings(*network_));
  prior_->attach(*optimizer_);

  batches_ = n / config.batch_size;  // a partial last batch is dropped
  schedule_ = std::make_unique<CyclicalCosineSchedule>(config.learning_rate, config.epochs * batches_, config.cycles);
  order_.resize(static_cast<size_t>(n));
  batch_order_.resize(static_cast<size_t>(batches_));
  for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  for (int64_t b = 0; b < batches_; ++b) batch_order_[static_cast<size_t>(b)] = b;
  if (!config.reshuffle_rows) shuffle(order_);  // fixed batch membership
  data_ = train_x;
  y_batch_ = Tensor::empty({config.batch_size, 1});
}

// ---- one epoch ---------------------------------------------------------------------------

// The prior pass; once it has pruned at least half of the columns read now, the first layer
// reads only the kept ones. (Should all be pruned, column 0 stands in: its weights are
// zero, so the layer still outputs its bias.) The columns read may include pruned ones
// (their weights are zero: still exact), and each re-gather allocates a smaller data
// matrix, so there are at most log2(P) of them (a re-gather on every change, over hundreds
// of epochs of slow pruning, would fill the host allocator's size-keyed cache with dead
// matrices).
void VariableSelectionTrainer::start_epoch(int64_t epoch) {
  if (prior_->begin_epoch(epoch, *optimizer_) && config_.compact) {
    std::vector<int64_t> kept = kept_columns();
    if (kept.empty()) kept.push_back(0);
    const size_t width = columns_.empty() ? static_cast<size_t>(features_) : columns_.size();
    if (2 * kept.size() <= width) {
      columns_ = kept;
      data_ = gather_data_columns(train_x_, columns_);
      x_batch_ = Tensor();
    }
  }
  if (!x_batch_.defined() || x_batch_.size(1) != data_.size(1))
    x_batch_ = Tensor::empty({config_.batch_size, data_.size(1)});
  if (config_.reshuffle_rows) shuffle(order_);
  else shuffle(batch_order_);
}

void VariableSelectionTrainer::load_batch(int64_t b) {
  const int64_t first = (config_.reshuffle_rows ? b : batch_order_[static_cast<size_t>(b)]) * config_.batch_size;
  gather_rows(data_, order_, first, x_batch_);
  gather_rows(train_y_, order_, first, y_batch_);
}

Tensor VariableSelectionTrainer::loss_of(const Tensor& output, const Tensor& target) const {
  return config_.classification ? binary_cross_entropy_with_logits(output, target) : mse_loss(output, target);
}

void VariableSelectionTrainer::report_progress(int64_t epoch, double loss_sum) const {
  if (!progress_ || config_.log_every <= 0) return;
  if ((epoch + 1) % config_.log_every != 0 && epoch + 1 != config_.epochs) return;
  VariableSelectionProgress p;
  p.epoch = epoch + 1;
  p.loss = loss_sum / static_cast<double>(batches_);
  p.c2 = schedule_->lr(step_ - 1);
  p.kept = static_cast<int64_t>(kept_columns().size());
  int64_t total = 0;
  p.sparsity = static_cast<double>(count_zeros(*network_, total)) / static_cast<double>(total);
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  progress_(p);
}

// ---- the end -----------------------------------------------------------------------------

// The final sample on the training set (for model selection between chains) and the test set.
VariableSelectionResult VariableSelectionTrainer::final_result() const {
  VariableSelectionResult result;
  {
    NoGradGuard no_grad;
    network_->eval();
    const Tensor fit = forward_on_columns(*network_, data_, columns_);
    result.train_loss = loss_of(fit, train_y_).item();
    result.train_size = train_x_.size(0);
    const Tensor test = columns_.empty() ? test_x_ : gather_data_columns(test_x_, columns_);
    const Tensor prediction = forward_on_columns(*network_, test, columns_);
    const float* p = prediction.data<float>();
    const float* t = test_y_.data<float>();
    const int64_t m = test_x_.size(0);
    for (int64_t i = 0; i < m; ++i) {
      if (config_.classification) result.test_metric += ((p[i] > 0.0f) == (t[i] > 0.5f)) ? 1.0 : 0.0;
      else result.test_metric += (p[i] - t[i]) * (p[i] - t[i]);
    }
    result.test_metric /= static_cast<double>(m);
  }
  for (int64_t j : kept_columns()) result.kept.push_back(j + 1);
  result.zeros = count_zeros(*network_, result.parameters);
  result.steps = step_;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return result;
}

std::vector<int64_t> VariableSelectionTrainer::kept_columns() const {
  const PriorState& first = optimizer_->prior_states().front();
  std::vector<int64_t> kept;
  for (int64_t j = 0; j < features_; ++j)
    if (first.column_kept(j)) kept.push_back(j);
  return kept;
}

void VariableSelectionTrainer::shuffle(std::vector<int64_t>& values) {
  for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[shuffler_.below(i)]);
}

VariableSelectionResult train_variable_selection(const Tensor& train_x, const Tensor& train_y, const Tensor& test_x,
                                                 const Tensor& test_y, const VariableSelectionConfig& config,
                                                 const std::function<void(const VariableSelectionProgress&)>& progress) {
  VariableSelectionTrainer trainer(train_x, train_y, test_x, test_y, config, progress);
  return trainer.run();
}

}  // namespace slab::tools
