// The loader: shuffles once per epoch, cuts the order into batches, runs each example
// through its pipeline into a [B, C, H, W] float32 tensor plus [B] int64 labels, on the
// calling thread or on worker threads that fill a bounded queue ahead of the consumer.
//
// Determinism: batch k of epoch e holds examples order_e[kB .. kB+B) (data/sampling.h),
// each transformed with the generator of (seed, e, example index). Nothing depends on which
// worker built which batch or when, so 0, 1 or 8 workers give bit-identical batches, and a
// saved position (epoch, batch index) resumes exactly.
//
// Threads: workers claim batch indices in order, but at most `prefetch_batches` ahead of
// the consumer; a finished batch waits in its slot (index mod depth) until next() takes it,
// so batches arrive in order and memory stays bounded. Starting another epoch (or seeking)
// discards batches in flight; the destructor stops the workers wherever they are, so a
// consumer may leave mid-epoch without draining anything.
//
// Memory: a batch owns two tensors from Tensor::empty (the host allocator's cache hands the
// same blocks back every step); per-example work reuses each thread's scratch buffers.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"
#include "data/transforms.h"

namespace slab::data {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;        // drop the last, smaller batch of an epoch
  int workers = 0;               // 0: next() builds each batch on the calling thread
  int64_t prefetch_batches = 0;  // batches built ahead of the consumer; 0: 2 * workers
  uint64_t seed = 0;
};

struct Batch {
  Tensor images;  // [B, C, H, W] float32
  Tensor labels;  // [B] int64
  int64_t epoch = 0;
  int64_t index = 0;  // batch index within the epoch
};

// Where the loader stands: the next batch next() returns is batch `batch` of `epoch`.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
  bool operator==(const LoaderPosition&) const = default;
};

class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, Pipeline pipeline, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  ImageShape example_shape() const { return example_shape_; }
  const Dataset& dataset() const { return *dataset_; }
  const Pipeline& pipeline() const { return pipeline_; }
  const LoaderOptions& options() const { return options_; }

  // Begins `epoch` at batch `first_batch` (0..batches_per_epoch()); batches of the previous
  // epoch still in flight are dropped.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  void seek(const LoaderPosition& position) { start_epoch(position.epoch, position.batch); }

  // The next batch of the current epoch into `batch` (its old tensors are released first
  // thing, so their memory is reused); false once the epoch is exhausted. An error raised
  // while building a batch is rethrown here, by the call that would have returned it.
  bool next(Batch& batch);

  LoaderPosition position() const { return {epoch_, next_deliver_}; }

 private:
  struct Slot {
    bool ready = false;
    Batch batch;
    std::exception_ptr error;
  };

  void build_batch(const std::vector<int64_t>& order, int64_t epoch, int64_t index, Batch& batch,
                   PipelineScratch& scratch) const;
  void worker_loop();
  void stop_workers();

  std::shared_ptr<const Dataset> dataset_;
  Pipeline pipeline_;
  LoaderOptions options_;
  ImageShape example_shape_;
  int64_t batches_per_epoch_ = 0;
  int64_t depth_ = 1;

  // Shared with the workers, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_available_;  // workers wait for a batch index they may claim
  std::condition_variable batch_ready_;     // next() waits for its slot
  bool stopping_ = false;
  uint64_t generation_ = 0;  // bumped by start_epoch: older work is discarded
  std::shared_ptr<const std::vector<int64_t>> order_;
  int64_t epoch_ = -1;  // -1: no epoch started
  int64_t next_claim_ = 0;
  int64_t next_deliver_ = 0;
  std::vector<Slot> slots_;

  PipelineScratch inline_scratch_;  // workers == 0
  std::vector<std::thread> threads_;
};

}  // namespace slab::data
