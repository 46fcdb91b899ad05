// A contiguous block of memory on one device, shared by the tensors that view it
// (a reshape is a second tensor on the same storage).
#pragma once
#include <cstddef>
#include <memory>

#include "core/device.h"

namespace slab {

class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

}  // namespace slab
