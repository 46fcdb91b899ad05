// Bit-for-bit comparison of two safetensors files (checkpoints, samples) for the resume and
// crash tests: an exact resume must write exactly what the uninterrupted run writes.
#pragma once
#include <cstring>
#include <string>

#include <doctest/doctest.h>

#include "core/safetensors.h"

namespace slab::testing {

// Every tensor equal byte for byte, and the metadata equal key by key but for the
// wall-clock entries.
inline void check_same_file(const std::string& a, const std::string& b) {
  const SafetensorsContents x = load_safetensors(a), y = load_safetensors(b);
  REQUIRE(x.tensors.size() == y.tensors.size());
  for (const auto& [name, tensor] : x.tensors) {
    CAPTURE(name);
    REQUIRE(y.tensors.count(name) == 1);
    const Tensor& other = y.tensors.at(name);
    REQUIRE(tensor.shape() == other.shape());
    REQUIRE(tensor.dtype() == other.dtype());
    CHECK(std::memcmp(tensor.raw_data(), other.raw_data(), tensor.nbytes()) == 0);
  }
  Metadata mx = x.metadata, my = y.metadata;
  for (Metadata* m : {&mx, &my})
    for (const char* key : {"user.elapsed_seconds", "user.epoch.seconds"}) m->erase(key);
  CHECK(mx.size() > 3);
  for (const auto& [key, value] : mx) {
    CAPTURE(key);
    REQUIRE(my.count(key) == 1);
    CHECK(my.at(key) == value);
  }
  CHECK(mx.size() == my.size());
}

}  // namespace slab::testing
