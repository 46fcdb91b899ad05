#include "tools/trainer/trainer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "bayes/sparsity.h"
#include "core/allocator.h"
#include "core/autograd.h"
#include "core/backend.h"
#include "core/fault_injection.h"
#include "core/ops.h"
#include "core/precision.h"
#include "layers/shrink.h"
#include "tools/trainer/calibration_record.h"
#include "tools/trainer/epoch_lines.h"
#include "tools/trainer/epoch_report.h"
#include "tools/trainer/errors.h"
#include "tools/trainer/finite_state.h"
#include "tools/trainer/optimizer_factory.h"
#include "tools/trainer/run_setup.h"
#include "tools/trainer/run_summary.h"
#include "tools/trainer/sparsity_record.h"

namespace slab::tools {

// ---- the loop ----------------------------------------------------------------------------

TrainResult Trainer::run() {
  try {
    return run_epochs();
  } catch (const MemoryLimitError& e) {  // a batch's activations, not the model: that was checked
    progress_->clear();
    SLAB_FAIL("training step ", position_.step + 1, " with --batch-size ", config_.batch_size, " (evaluation: ",
              config_.evaluation_batch_size(), "): ", e.what(),
              "; lower --batch-size or --eval-batch-size, or raise --max-memory. ",
              holds_checkpoint(run_->path()) ? "The last checkpoint is kept." : "No checkpoint was written.");
  }
}

TrainResult Trainer::run_epochs() {
  loop_start_ = Clock::now();
  while (position_.epoch < config_.epochs) {
    const int64_t epoch = position_.epoch;
    if (should_stop()) return stop();
    start_epoch(epoch);
    model_->train();
    train_loader_->start_epoch(epoch, position_.batch);
    data::Batch batch;
    while (train_loader_->next(batch)) {
      optimizer_->set_learning_rate(schedule_->lr(position_.step));
      optimizer_->zero_grad();
      const Tensor logits = (*model_)(on_device(batch.images));
      const Tensor loss = cross_entropy(logits, on_device(batch.labels));
      record_step(loss, logits, batch);
      loss.backward();
      optimizer_->step();
      pending_.add_state_check(count_non_finite(state_after_step(*model_, *optimizer_), device_));
      if (after_step(batch)) return stop();
    }
    end_epoch(epoch);
  }
  return finish();
}

// ---- building the run --------------------------------------------------------------------

Trainer::Trainer(const TrainConfig& config, const TrainingData* data, std::FILE* log) : config_(config), log_(log) {
  validate_train_config(config);
  if (config.threads > 0) omp_set_num_threads(config.threads);
  device_ = checked_device(config.device);
  set_matmul_precision(parse_precision(config.precision));
  print_header();
  std::fprintf(log_, "memory:    %s\n", apply_memory_limit(config).c_str());
  load_data_and_model(data);
  build_optimizer();
  train_loader_.emplace(data_->train, data_->train_pipeline, training_loader_options(config));
  test_loader_.emplace(data_->test, data_->test_pipeline, test_loader_options(config));
  batches_ = train_loader_->batches_per_epoch();
  int64_t total_steps = 0;  // the schedule and the loop count global steps in 64 bits
  SLAB_USAGE_CHECK(!__builtin_mul_overflow(config.epochs, batches_, &total_steps), "--epochs: ", config.epochs,
                   " epochs of ", batches_, " steps are more steps than a 64-bit count can hold");
  schedule_ = make_schedule(config, batches_);
  std::fprintf(log_, "lr:        %s, %lld steps per epoch\n", schedule_->describe().c_str(),
               static_cast<long long>(batches_));
  resume_and_open_run_folder();
  if (optimizer_->draws_posterior_samples()) samples_.emplace(config_, batches_, *run_);
  progress_.emplace(parse_progress_mode(config.progress), config.epochs, batches_, log_);
  read_every_ = loss_read_interval(device_);
  result_.model = model_;
  result_.run_folder = run_->path();
  if (!run_->records().empty()) {  // a resumed run reports its last test metrics until it has new ones
    ClassificationMetrics m;
    m.accuracy = run_->records().back().value("test_acc", 0.0);
    m.nll = run_->records().back().value("test_loss", 0.0);
    last_test_ = m;
  }
}

void Trainer::print_header() const {
  std::fprintf(log_, "%s\nbackend:   %s\n%s", config_.program.c_str(), backend_description().c_str(),
               describe_config(config_).c_str());
  std::fflush(log_);
}

// The model first when the dataset fixes its classes, so a bad --model is reported before
// any data is read.
void Trainer::load_data_and_model(const TrainingData* given) {
  if (!given && dataset_num_classes(config_.dataset) > 0)
    model_ = build_model(config_, dataset_num_classes(config_.dataset), dataset_in_channels(config_.dataset));
  if (!given)
    loaded_data_ = load_training_data(config_.dataset, config_.data_dir, config_.image_size, config_.train_limit,
                                      config_.test_limit);
  if (given && config_.holdout > 0) loaded_data_ = *given;  // the held-out part leaves a copy
  if (config_.holdout > 0) hold_out(loaded_data_, config_.holdout);
  data_ = given && config_.holdout == 0 ? given : &loaded_data_;
  if (!model_) model_ = build_model(config_, data_->num_classes, data_->in_channels);
  if (!device_.is_cpu()) model_->to(device_);
  check_model_fits(*model_, config_.model, data_->example_shape, device_);
  std::fprintf(log_, "train:     %s, %lld examples, %s\ntest:      %s, %lld examples\nparameters: %lld\n",
               data_->train->name().c_str(), static_cast<long long>(data_->train->size()),
               data_->train_pipeline.describe().c_str(), data_->test->name().c_str(),
               static_cast<long long>(data_->test->size()), static_cast<long long>(model_->parameter_count()));
}

void Trainer::build_optimizer() {
  const double data_size = static_cast<double>(data_->train->size());
  OptimizerSetup setup = make_optimizer(config_.optimizer, *model_, data_size, config_.seed, config_.epochs);
  optimizer_ = std::move(setup.optimizer);
  prior_ = std::move(setup.prior);
  // The MAC budget weighs each layer's groups by its multiply-adds per weight: one forward
  // pass on an example measures the conv output positions.
  if (prior_ && prior_->options().has_mac_budget()) prior_->set_weight_uses(weight_uses(*model_, data_->example_shape));
  temperature_ = setup.temperature;
  std::fprintf(log_, "optimizer: %s\n", describe_optimizer(config_.optimizer, data_size).c_str());
}

void Trainer::resume_and_open_run_folder() {
  std::string checkpoint;
  const bool nothing_to_resume = !config_.resume.empty() && std::filesystem::is_directory(config_.resume) &&
                                 holds_run(config_.resume) && !holds_checkpoint(config_.resume);
  if (nothing_to_resume)
    std::fprintf(log_, "resumed:   %s stopped before its first checkpoint: starting it from the beginning\n",
                 config_.resume.c_str());
  else if (!config_.resume.empty()) {
    checkpoint = resume_checkpoint_path(config_.resume);
    const TrainingState state = resume_training(checkpoint, config_, batches_, *model_, *optimizer_, log_);
    position_ = state.position;
    sums_ = state.sums;
    seconds_before_ = state.elapsed_seconds;
    prior_pass_ = state.prior_pass;
  }
  run_.emplace(open_run_folder(config_, checkpoint, position_.epoch));
  write_run_config(*run_, config_, *data_, batches_, temperature_, checkpoint);
  std::fprintf(log_, "run folder: %s\n", run_->path().c_str());
  std::fflush(log_);
}

// ---- one epoch ---------------------------------------------------------------------------

void Trainer::start_epoch(int64_t epoch) {
  if (position_.batch == 0) {  // not when a resumed run continues the epoch midway
    sums_ = EpochSums{};
    prior_pass_.reset();
    PriorPassReport report;
    if (prior_ && prior_->begin_epoch(epoch, *optimizer_, &report)) {
      prior_pass_ = report;
      if (config_.optimizer.shrink) shrink_model(epoch);
    }
  }
  optimizer_->start_epoch(epoch);
  epoch_start_ = Clock::now();
  images_this_epoch_ = 0;
}

// After the prior pass: the channels it killed leave the model, and the optimizer cuts its
// state to the surviving weights (docs/algorithm.md#shrinking-during-training).
void Trainer::shrink_model(int64_t epoch) {
  const ShrinkReport report = shrink_dead_channels(*model_);
  if (!report.changed()) return;
  optimizer_->keep_elements(report.parameter_slices);
  std::fprintf(log_, "epoch %lld: %s\n", static_cast<long long>(epoch + 1), report.summary().c_str());
}

void Trainer::record_step(const Tensor& loss, const Tensor& logits, const data::Batch& batch) {
  {
    NoGradGuard no_grad;
    pending_.add(loss, argmax(logits.detach(), 1), batch.labels,
                 {position_.epoch, batch.index, position_.step, optimizer_->learning_rate()});
  }
}

bool Trainer::after_step(const data::Batch& batch) {
  fault_injection_point("train-step");  // tests/test_crash.cpp
  images_this_epoch_ += batch.labels.numel();
  ++position_.step;
  ++steps_this_invocation_;
  position_.batch = batch.index + 1;
  const bool last_batch = position_.batch == batches_;
  const bool stop = !last_batch && should_stop();
  const bool checkpoint_due =
      !last_batch && config_.checkpoint_every > 0 && position_.step % config_.checkpoint_every == 0;
  const bool due = pending_.size() >= read_every_ || progress_->prints_line_at(position_.batch) || last_batch ||
                   stop || checkpoint_due;
  if (pending_.size() > 0 && due) read_step_stats();
  if (read_every_ > 1 && !due) return false;  // the display shows read sums only
  update_progress();
  if (checkpoint_due && !stop) save_checkpoint("latest");
  return stop;
}

// The steps recorded since the last read, in the order they ran: each step's loss and the
// state it left must be finite (on the CPU every step is read; on a GPU the first bad step
// is still the one named), then the epoch's sums.
void Trainer::read_step_stats() {
  for (const PendingStepStats::Step& s : pending_.read()) {
    const bool loss_bad = !std::isfinite(s.loss);
    if (loss_bad || s.non_finite_state > 0) {
      progress_->clear();
      const std::string latest = run_->checkpoint("latest");
      const std::string found = read_every_ > 1 ? detail::concat(" (statistics are read back every ", read_every_,
                                                                 " steps: found at the read after step ",
                                                                 position_.step, ")")
                                                : std::string();
      const std::string where = detail::concat("at epoch ", s.where.epoch + 1, ", batch ", s.where.batch + 1, " of ",
                                               batches_, " (step ", s.where.step + 1, ", lr ", s.where.lr, ")", found);
      if (!loss_bad) fail_non_finite_state(*model_, *optimizer_, where, s.non_finite_state, latest, run_->path());
      SLAB_FAIL("training diverged ", where, ": the training loss is ", s.loss, "; lower --lr. ",
                std::filesystem::exists(latest) ? "The last good state is in " + latest + " (not overwritten)."
                                                : std::string("No checkpoint was written."));
    }
    sums_.loss_sum += s.loss * static_cast<double>(s.examples);
    sums_.correct += s.correct;
    sums_.seen += s.examples;
  }
}

void Trainer::update_progress() {
  const double epoch_seconds = seconds_since(epoch_start_);
  const double seconds_per_step = seconds_since(loop_start_) / static_cast<double>(steps_this_invocation_);
  progress_->update(position_.epoch, position_.batch, sums_.loss(), sums_.accuracy(),
                    static_cast<double>(images_this_epoch_) / std::max(epoch_seconds, 1e-9),
                    seconds_per_step * static_cast<double>(config_.epochs * batches_ - position_.step));
}

void Trainer::end_epoch(int64_t epoch) {
  read_step_stats();  // nothing is left after the last batch; kept so no epoch ends unread
  // Before the epoch's sample and checkpoint (tools/trainer/finite_state.h).
  check_state_finite(*model_, *optimizer_, position_, run_->checkpoint("latest"), run_->path());
  EpochOutcome outcome;
  outcome.epoch = epoch;
  outcome.step = position_.step;
  outcome.lr = optimizer_->learning_rate();
  outcome.train = sums_;
  outcome.train_seconds = sums_.seconds + seconds_since(epoch_start_);
  progress_->clear();
  const Clock::time_point eval_start = Clock::now();
  const Predictions predictions = evaluate_test_set();
  outcome.test = classification_metrics(predictions.probabilities, predictions.labels);
  last_test_ = outcome.test;
  last_bins_ = calibration_bins(predictions.probabilities, predictions.labels);
  outcome.eval_seconds = seconds_since(eval_start);

  nlohmann::ordered_json record = epoch_record(outcome);
  std::string extra;
  if (samples_) {
    const std::string sample = samples_->save_if_due(epoch, position_.step, *model_, *optimizer_, predictions);
    if (!sample.empty()) extra += "  [sample " + std::to_string(run_->sample_files().size()) + "]";
    record["sample"] = sample;
    record["noise"] = optimizer_->injects_noise();
  }
  if (prior_) {
    last_sparsity_ = sparsity_report(*model_, optimizer_.get(), data_->example_shape);
    extra += add_prior_fields(record, *last_sparsity_, prior_pass_, *prior_, epoch);
    run_->write_text("sparsity.txt", last_sparsity_->table());
    put_epoch_line(run_->file("sparsity.jsonl"), sparsity_record(*last_sparsity_, epoch + 1));
    result_.sparsity = last_sparsity_->sparsity();
  }
  run_->add_epoch(record);
  std::fprintf(log_, "%s", epoch_line(outcome, config_.epochs, extra).c_str());
  std::fflush(log_);

  position_ = {epoch + 1, 0, position_.step};  // checkpointed at the start of the next epoch
  sums_ = EpochSums{};
  prior_pass_.reset();
  epoch_start_.reset();
  save_checkpoint("latest");
  fault_injection_point("epoch-end");  // tests/test_crash.cpp
  result_.epochs_done = epoch + 1;
}

// IVON and vb-adaptive predict at their posterior mean, then go on from their draw.
Predictions Trainer::evaluate_test_set() {
  const bool at_mean = optimizer_->predicts_at_mean();
  if (at_mean) optimizer_->write_mean();
  Predictions predictions = predict(*model_, *test_loader_, device_);
  if (at_mean) optimizer_->write_sample();
  return predictions;
}

// ---- the end -----------------------------------------------------------------------------

// --max-steps or Ctrl-C: checkpoints/latest at the current position, and how to go on.
TrainResult Trainer::stop() {
  progress_->clear();
  save_checkpoint("latest");
  result_.interrupted = InterruptHandler::requested();
  result_.signal = InterruptHandler::signal_number();
  result_.steps = position_.step;
  result_.epochs_done = position_.epoch;
  result_.seconds = state_now().elapsed_seconds;
  if (last_test_) result_.test = *last_test_;
  result_.summary_line = stopped_line(result_, run_->checkpoint("latest"));
  std::fprintf(log_, "%s after step %lld: checkpoint written to %s (continue with --resume %s)\n%s\n",
               result_.interrupted ? "interrupted" : "stopped", static_cast<long long>(position_.step),
               run_->checkpoint("latest").c_str(), run_->path().c_str(), result_.summary_line.c_str());
  std::fflush(log_);
  return result_;
}

TrainResult Trainer::finish() {
  save_checkpoint("final");
  result_.completed = true;
  result_.steps = position_.step;
  result_.epochs_done = config_.epochs;
  if (last_test_) result_.test = *last_test_;
  std::optional<PosteriorMetrics> posterior;
  if (samples_) posterior = samples_->average([this] { return fresh_model(); }, *test_loader_, device_, log_);
  if (posterior) result_.bma = posterior->average;
  // The final weights are the last epoch's: its report is theirs (every run that finishes
  // trains at least one epoch in this invocation).
  const std::optional<SparsityReport>& sparsity = last_sparsity_;
  if (sparsity) {
    std::fprintf(log_, "sparsity of the final weights:\n%s", sparsity->table().c_str());
    result_.sparsity = sparsity->sparsity();
  }
  result_.seconds = state_now().elapsed_seconds;
  run_->write_json("summary.json", run_summary(config_, result_, posterior, sparsity));
  if (posterior) run_->write_json("calibration.json", calibration_json(*posterior));
  else if (last_test_ && last_bins_) run_->write_json("calibration.json", calibration_json(*last_test_, *last_bins_));
  result_.summary_line = completed_line(result_, config_.epochs);
  std::fprintf(log_, "report: slab-report %s --output %s\n", run_->path().c_str(), run_->file("report.html").c_str());
  std::fprintf(log_, "run folder: %s\n%s\n", run_->path().c_str(), result_.summary_line.c_str());
  std::fflush(log_);
  return result_;
}

// ---- small parts -------------------------------------------------------------------------

bool Trainer::should_stop() const {
  return InterruptHandler::requested() || (config_.max_steps > 0 && steps_this_invocation_ >= config_.max_steps);
}

Tensor Trainer::on_device(const Tensor& host) const { return device_.is_cpu() ? host : host.to(device_); }

double Trainer::seconds_since(std::optional<Clock::time_point> start) const {
  return start ? std::chrono::duration<double>(Clock::now() - *start).count() : 0.0;
}

// The position, the epoch's sums with this invocation's share of its time, and the run's
// elapsed time.
TrainingState Trainer::state_now() const {
  TrainingState state{position_, sums_, seconds_before_ + seconds_since(started_), prior_pass_};
  state.sums.seconds += seconds_since(epoch_start_);
  return state;
}

void Trainer::save_checkpoint(const std::string& name) const {
  check_state_finite(*model_, *optimizer_, position_, run_->checkpoint("latest"), run_->path());
  save_training_checkpoint(run_->checkpoint(name), *model_, *optimizer_, config_, *data_, state_now());
}

std::shared_ptr<Module> Trainer::fresh_model() const {
  return build_model(config_, data_->num_classes, data_->in_channels);
}

TrainResult run_training(const TrainConfig& config, const TrainingData* data, std::FILE* log) {
  Trainer trainer(config, data, log);
  return trainer.run();
}

int train_program_main(const ProgramDefaults& defaults, int argc, char** argv) {
  std::vector<std::string> arguments(argv, argv + argc);
  try {
    ParsedCommandLine parsed = parse_train_command_line(defaults, arguments);
    if (parsed.exit_now) {
      std::fprintf(parsed.exit_code == 0 ? stdout : stderr, "%s", parsed.message.c_str());
      return parsed.exit_code;
    }
    const TrainResult result = run_training(parsed.config);
    return result.interrupted ? 128 + result.signal : 0;
  } catch (const std::exception& error) {
    return report_error(error);
  }
}

}  // namespace slab::tools
