#include "data/loader.h"

#include "core/error.h"
#include "data/sampling.h"

namespace slab::data {

Loader::Loader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderOptions options)
    : dataset_(std::move(dataset)), pipeline_(std::move(pipeline)), options_(options) {
  SLAB_CHECK(dataset_ != nullptr, "Loader: no dataset");
  SLAB_CHECK(options_.batch_size > 0, "Loader: batch size ", options_.batch_size, " must be positive");
  SLAB_CHECK(options_.workers >= 0, "Loader: workers ", options_.workers, " must be >= 0");
  SLAB_CHECK(options_.prefetch_batches >= 0, "Loader: prefetch_batches ", options_.prefetch_batches, " must be >= 0");
  example_shape_ = pipeline_.output_shape(dataset_->image_shape());
  const int64_t size = dataset_->size();
  SLAB_CHECK(size > 0, "Loader: ", dataset_->name(), " is empty");
  batches_per_epoch_ =
      options_.drop_last ? size / options_.batch_size : (size + options_.batch_size - 1) / options_.batch_size;
  SLAB_CHECK(batches_per_epoch_ > 0, "Loader: drop_last with batch size ", options_.batch_size, " > ", size,
             " examples of ", dataset_->name(), " leaves no batch");
  if (options_.workers > 0) {
    depth_ = options_.prefetch_batches > 0 ? options_.prefetch_batches : 2 * static_cast<int64_t>(options_.workers);
    slots_.resize(static_cast<size_t>(depth_));
    threads_.reserve(static_cast<size_t>(options_.workers));
    try {
      for (int w = 0; w < options_.workers; ++w) threads_.emplace_back([this] { worker_loop(); });
    } catch (...) {  // a thread that cannot start: stop the ones that did, then report
      stop_workers();
      throw;
    }
  }
}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_available_.notify_all();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  SLAB_CHECK(epoch >= 0, "Loader::start_epoch: epoch ", epoch, " must be >= 0");
  SLAB_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch_, "Loader::start_epoch: batch ", first_batch,
             " is outside 0..", batches_per_epoch_, " (batches per epoch of ", dataset_->name(), " at batch size ",
             options_.batch_size, options_.drop_last ? ", drop_last" : "", ")");
  auto order = std::make_shared<std::vector<int64_t>>();
  epoch_order(dataset_->size(), options_.shuffle, options_.seed, epoch, *order);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    order_ = std::move(order);
    epoch_ = epoch;
    next_claim_ = first_batch;
    next_deliver_ = first_batch;
    for (Slot& slot : slots_) slot = Slot{};
  }
  work_available_.notify_all();
}

bool Loader::next(Batch& batch) {
  SLAB_CHECK(epoch_ >= 0, "Loader::next: no epoch started; call start_epoch(epoch) or seek(position) first");
  batch = Batch{};  // release the previous batch's tensors before new ones are allocated
  if (next_deliver_ >= batches_per_epoch_) return false;
  if (threads_.empty()) {
    build_batch(*order_, epoch_, next_deliver_, batch, inline_scratch_);
    ++next_deliver_;
    return true;
  }
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    Slot& slot = slots_[static_cast<size_t>(next_deliver_ % depth_)];
    batch_ready_.wait(lock, [&] { return slot.ready; });
    batch = std::move(slot.batch);
    error = slot.error;
    slot = Slot{};
    ++next_deliver_;
  }
  work_available_.notify_all();
  if (error) std::rethrow_exception(error);
  return true;
}

void Loader::build_batch(const std::vector<int64_t>& order, int64_t epoch, int64_t index, Batch& batch,
                         PipelineScratch& scratch) const {
  const int64_t first = index * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, dataset_->size() - first);
  batch.images = Tensor::empty({count, example_shape_.channels, example_shape_.height, example_shape_.width});
  batch.labels = Tensor::empty({count}, DType::i64);
  batch.epoch = epoch;
  batch.index = index;
  float* images = batch.images.data<float>();
  int64_t* labels = batch.labels.data<int64_t>();
  const int64_t example_numel = example_shape_.numel();
  for (int64_t j = 0; j < count; ++j)
    labels[j] = pipeline_.fetch(*dataset_, order[static_cast<size_t>(first + j)], options_.seed, epoch,
                                images + j * example_numel, scratch);
}

void Loader::worker_loop() {
  PipelineScratch scratch;
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_available_.wait(lock, [&] {
      return stopping_ || (epoch_ >= 0 && next_claim_ < batches_per_epoch_ && next_claim_ < next_deliver_ + depth_);
    });
    if (stopping_) return;
    const int64_t index = next_claim_++;
    const uint64_t generation = generation_;
    const int64_t epoch = epoch_;
    const std::shared_ptr<const std::vector<int64_t>> order = order_;
    lock.unlock();

    Batch batch;
    std::exception_ptr error;
    try {
      build_batch(*order, epoch, index, batch, scratch);
    } catch (...) {
      error = std::current_exception();
    }

    lock.lock();
    if (generation != generation_) continue;  // the epoch was restarted meanwhile: drop it
    Slot& slot = slots_[static_cast<size_t>(index % depth_)];
    slot.batch = std::move(batch);
    slot.error = error;
    slot.ready = true;
    batch_ready_.notify_all();
  }
}

}  // namespace slab::data
