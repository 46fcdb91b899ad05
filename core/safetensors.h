// safetensors files (8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw little-endian data), the format of
// slab's checkpoints, posterior samples and golden test files. Writes go to a temporary
// file that is renamed into place, so a crash never leaves a half-written file.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace slab {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

struct SafetensorsContents {
  std::map<std::string, Tensor> tensors;  // CPU tensors
  Metadata metadata;                      // the header's "__metadata__" (string values)

  // The tensor `name`; throws naming the file's keys when absent.
  const Tensor& at(const std::string& name) const;
};

// Writes float32, float64 and int64 tensors (copied to the host as needed) in the order given.
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

// Reads and validates a file: a truncated file, a header that is not JSON, an unknown dtype,
// or byte ranges that do not match shapes each throw an Error naming the file.
SafetensorsContents load_safetensors(const std::string& path);

// Throws naming the file, the first tensor (in name order) that holds a NaN or an infinity,
// its element and its value: a model or optimizer state with one cannot be trusted (a
// diverged run, a corrupted file). Integer tensors are not checked.
void check_all_finite(const SafetensorsContents& contents, const std::string& path);

}  // namespace slab
