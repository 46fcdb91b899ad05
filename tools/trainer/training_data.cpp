#include "tools/trainer/training_data.h"

#include <filesystem>

#include "core/error.h"
#include "data/cifar.h"
#include "data/idx.h"
#include "data/image_folder.h"

namespace slab::tools {

namespace {

namespace fs = std::filesystem;

// A view on `count` consecutive examples of another dataset from `start` (the order of the
// file, which for CIFAR and Fashion-MNIST is not sorted by class).
class ExampleRange final : public data::Dataset {
 public:
  ExampleRange(std::shared_ptr<const data::Dataset> base, int64_t start, int64_t count)
      : base_(std::move(base)), start_(start), count_(count) {}
  std::string name() const override {
    return base_->name() + (start_ == 0 ? ", first " + std::to_string(count_)
                                        : ", examples " + std::to_string(start_ + 1) + ".." +
                                              std::to_string(start_ + count_));
  }
  int64_t size() const override { return count_; }
  int64_t num_classes() const override { return base_->num_classes(); }
  data::ImageShape image_shape() const override { return base_->image_shape(); }
  int64_t label(int64_t index) const override {
    check_index(index);
    return base_->label(start_ + index);
  }
  data::ImageView image(int64_t index, data::ImageU8& scratch) const override {
    check_index(index);
    return base_->image(start_ + index, scratch);
  }

 private:
  std::shared_ptr<const data::Dataset> base_;
  int64_t start_, count_;
};

std::string expected_files(const std::string& dataset) {
  if (dataset == "fashion-mnist" || dataset == "mnist")
    return "MNIST-format IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
           "t10k-labels-idx1-ubyte (optionally .gz)";
  if (dataset == "cifar10") return "CIFAR-10 binary files data_batch_1.bin .. data_batch_5.bin and test_batch.bin";
  if (dataset == "cifar100") return "CIFAR-100 binary files train.bin and test.bin";
  return "an image folder with train/<class>/<image> and val/<class>/<image>";
}

void check_folder(const std::string& dataset, const std::string& folder) {
  SLAB_CHECK(fs::exists(folder), "--data-dir '", folder, "' does not exist (expected ", expected_files(dataset), ")");
  SLAB_CHECK(fs::is_directory(folder), "--data-dir '", folder, "' is not a folder (expected ", expected_files(dataset),
             ")");
  SLAB_CHECK(!fs::is_empty(folder), "--data-dir '", folder, "' is empty (expected ", expected_files(dataset), ")");
}

std::shared_ptr<const data::Dataset> load_split(const std::string& dataset, const std::string& folder, data::Split split) {
  if (dataset == "fashion-mnist") return data::load_idx_folder(folder, split, "Fashion-MNIST", 10);
  if (dataset == "mnist") return data::load_idx_folder(folder, split, "MNIST", 10);
  if (dataset == "cifar10") return data::load_cifar10(folder, split);
  if (dataset == "cifar100") return data::load_cifar100(folder, split);
  if (dataset == "imagenet") {
    const fs::path sub = fs::path(folder) / (split == data::Split::train ? "train" : "val");
    SLAB_CHECK(fs::is_directory(sub), "--data-dir '", folder, "': no '", sub.filename().string(), "' folder (expected ",
               expected_files(dataset), ")");
    return std::make_shared<data::ImageFolderDataset>(sub.string());
  }
  SLAB_FAIL("unknown dataset kind '", dataset, "'");
}

data::ChannelStats stats_of(const std::string& dataset) {
  if (dataset == "fashion-mnist") return data::fashion_mnist_stats();
  if (dataset == "mnist") return data::mnist_stats();
  if (dataset == "cifar10") return data::cifar10_stats();
  if (dataset == "cifar100") return data::cifar100_stats();
  return data::imagenet_stats();
}

void set_pipelines(const std::string& dataset, int64_t image_size, TrainingData& out) {
  if (dataset == "imagenet") {
    out.train_pipeline = data::imagenet_train_pipeline(image_size);
    out.test_pipeline = data::imagenet_eval_pipeline(image_size * 8 / 7, image_size);
    out.in_channels = 3;
    out.example_shape = {1, 3, image_size, image_size};
    return;
  }
  const data::ChannelStats stats = stats_of(dataset);
  // CIFAR trains with crop + flip; the MNIST family without augmentation (the usual recipe).
  out.train_pipeline = dataset.rfind("cifar", 0) == 0 ? data::cifar_train_pipeline(stats) : data::eval_pipeline(stats);
  out.test_pipeline = data::eval_pipeline(stats);
}

}  // namespace

int64_t dataset_num_classes(const std::string& dataset) {
  if (dataset == "cifar100") return 100;
  if (dataset == "imagenet") return 0;
  return 10;
}

int64_t dataset_in_channels(const std::string& dataset) { return dataset == "fashion-mnist" || dataset == "mnist" ? 1 : 3; }

std::shared_ptr<const data::Dataset> first_examples(std::shared_ptr<const data::Dataset> dataset, int64_t count) {
  if (count <= 0 || count >= dataset->size()) return dataset;
  return std::make_shared<ExampleRange>(std::move(dataset), 0, count);
}

void hold_out(TrainingData& data, int64_t count) {
  if (count <= 0) return;
  const int64_t size = data.train->size();
  SLAB_CHECK(count < size, "--holdout ", count, ": the training set has only ", size, " examples");
  data.holdout = std::make_shared<ExampleRange>(data.train, size - count, count);
  data.train = std::make_shared<ExampleRange>(data.train, 0, size - count);
}

std::shared_ptr<const data::Dataset> limit_examples(std::shared_ptr<const data::Dataset> dataset, int64_t count) {
  if (auto folder = std::dynamic_pointer_cast<const data::ImageFolderDataset>(dataset))
    return data::class_preserving_subset(std::move(folder), count);
  return first_examples(std::move(dataset), count);
}

namespace {

void check_image_headers(const std::shared_ptr<const data::Dataset>& dataset) {
  if (auto folder = std::dynamic_pointer_cast<const data::ImageFolderDataset>(dataset)) folder->check_headers();
}

}  // namespace

TrainingData load_training_data(const std::string& dataset, const std::string& folder, int64_t image_size,
                                int64_t train_limit, int64_t test_limit) {
  check_folder(dataset, folder);
  TrainingData out;
  out.train = limit_examples(load_split(dataset, folder, data::Split::train), train_limit);
  out.test = limit_examples(load_split(dataset, folder, data::Split::test), test_limit);
  SLAB_CHECK(out.train->size() > 0, out.train->name(), ": no training examples");
  SLAB_CHECK(out.test->size() > 0, out.test->name(), ": no test examples");
  const auto train_folder = std::dynamic_pointer_cast<const data::ImageFolderDataset>(out.train);
  const auto test_folder = std::dynamic_pointer_cast<const data::ImageFolderDataset>(out.test);
  if (train_folder && test_folder) data::check_same_classes(*train_folder, *test_folder);
  SLAB_CHECK(out.train->num_classes() == out.test->num_classes(), "--data-dir '", folder, "': the training split has ",
             out.train->num_classes(), " classes, the test split ", out.test->num_classes());
  check_image_headers(out.train);
  check_image_headers(out.test);
  out.num_classes = out.train->num_classes();
  set_pipelines(dataset, image_size, out);
  if (out.example_shape.empty()) {
    const data::ImageShape shape = out.train_pipeline.output_shape(out.train->image_shape());
    out.in_channels = shape.channels;
    out.example_shape = {1, shape.channels, shape.height, shape.width};
  }
  return out;
}

TrainingData load_test_data(const std::string& dataset, const std::string& folder, int64_t image_size,
                            int64_t test_limit) {
  check_folder(dataset, folder);
  TrainingData out;
  out.test = limit_examples(load_split(dataset, folder, data::Split::test), test_limit);
  SLAB_CHECK(out.test->size() > 0, out.test->name(), ": no test examples");
  check_image_headers(out.test);
  out.num_classes = out.test->num_classes();
  set_pipelines(dataset, image_size, out);
  if (out.example_shape.empty()) {
    const data::ImageShape shape = out.test_pipeline.output_shape(out.test->image_shape());
    out.in_channels = shape.channels;
    out.example_shape = {1, shape.channels, shape.height, shape.width};
  }
  return out;
}

}  // namespace slab::tools
