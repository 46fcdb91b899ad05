#include "core/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/fault_injection.h"

namespace slab {

namespace {

const char* format_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
  }
  return "?";
}

DType parse_dtype(const std::string& name, const std::string& path, const std::string& key) {
  if (name == "F32") return DType::f32;
  if (name == "F64") return DType::f64;
  if (name == "I64") return DType::i64;
  SLAB_FAIL(path, ": tensor '", key, "' has dtype ", name, "; slab reads F32, F64 and I64");
}

}  // namespace

const Tensor& SafetensorsContents::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it != tensors.end()) return it->second;
  std::string keys;
  for (const auto& [key, value] : tensors) keys += (keys.empty() ? "" : ", ") + key;
  SLAB_FAIL("safetensors: no tensor named '", name, "' (the file holds: ", keys, ")");
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> host;
  size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    SLAB_CHECK(tensor.defined(), "save_safetensors: tensor '", name, "' is undefined");
    SLAB_CHECK(!header.contains(name), "save_safetensors: tensor name '", name, "' repeated");
    host.push_back(tensor.device().is_cpu() ? tensor : tensor.to(Device::cpu()));
    const size_t bytes = tensor.nbytes();
    header[name] = {{"dtype", format_dtype(tensor.dtype())}, {"shape", tensor.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  // Invalid UTF-8 in a name or a metadata value (a flag's text) is written as U+FFFD
  // instead of throwing a JSON library error that names nothing (fuzz/fuzz_config_json).
  std::string text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  text.append((8 - text.size() % 8) % 8, ' ');  // the format pads the header to 8 bytes
  const uint64_t length = text.size();

  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    SLAB_CHECK(out.good(), "cannot open ", temporary, " for writing");
    unsigned char length_bytes[8];
    for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(length >> (8 * i));
    out.write(reinterpret_cast<const char*>(length_bytes), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (size_t i = 0; i < host.size(); ++i) {
      if (i == host.size() / 2 && fault_injection_armed("safetensors-write")) {
        out.flush();  // a test crash leaves the half-written temporary file on disk
        fault_injection_point("safetensors-write");
      }
      out.write(static_cast<const char*>(host[i].raw_data()), static_cast<std::streamsize>(host[i].nbytes()));
    }
    out.flush();
    if (!out.good()) {
      out.close();
      std::remove(temporary.c_str());
      SLAB_FAIL("writing ", temporary, " failed (disk full?)");
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  SLAB_CHECK(!error, "cannot rename ", temporary, " to ", path, ": ", error.message());
}

void check_all_finite(const SafetensorsContents& contents, const std::string& path) {
  auto check = [&](const std::string& name, const auto* values, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      SLAB_CHECK(std::isfinite(values[i]), path, ": tensor '", name, "' holds ", values[i], " at element ", i, " of ", n,
                 " (a non-finite value: the run that wrote it diverged, or the file is corrupt)");
  };
  for (const auto& [name, tensor] : contents.tensors) {
    if (tensor.dtype() == DType::f32) check(name, tensor.data<float>(), tensor.numel());
    if (tensor.dtype() == DType::f64) check(name, tensor.data<double>(), tensor.numel());
  }
}

SafetensorsContents load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SLAB_CHECK(in.good(), "cannot open ", path);
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  SLAB_CHECK(file_size >= 8, path, ": truncated safetensors file (", file_size, " bytes, no header length)");
  unsigned char length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= static_cast<uint64_t>(length_bytes[i]) << (8 * i);
  SLAB_CHECK(length <= file_size - 8, path, ": header length ", length, " exceeds the file size ", file_size);
  std::string text(length, '\0');
  in.read(text.data(), static_cast<std::streamsize>(length));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    SLAB_FAIL(path, ": the safetensors header is not valid JSON (", e.what(), ")");
  }
  SLAB_CHECK(header.is_object(), path, ": the safetensors header is not a JSON object");
  const uint64_t data_size = file_size - 8 - length;
  SafetensorsContents contents;
  struct ByteRange {
    uint64_t begin, end;
    std::string key;
  };
  std::vector<ByteRange> ranges;  // of the non-empty tensors
  try {
    for (const auto& [key, entry] : header.items()) {
      if (key == "__metadata__") {
        for (const auto& [mkey, mvalue] : entry.items())
          contents.metadata[mkey] = mvalue.is_string() ? mvalue.get<std::string>() : mvalue.dump();
        continue;
      }
      const DType dtype = parse_dtype(entry.at("dtype").get<std::string>(), path, key);
      const Shape shape = entry.at("shape").get<Shape>();
      const uint64_t begin = entry.at("data_offsets").at(0).get<uint64_t>();
      const uint64_t end = entry.at("data_offsets").at(1).get<uint64_t>();
      for (int64_t extent : shape)
        SLAB_CHECK(extent >= 0, path, ": tensor '", key, "' has a negative extent in its shape ", shape);
      int64_t count = 0;
      try {
        count = shape_numel(shape);
      } catch (const Error& e) {
        SLAB_FAIL(path, ": tensor '", key, "': ", e.what());
      }
      // Compared before multiplying, so no product of a hostile header overflows.
      SLAB_CHECK(static_cast<uint64_t>(count) <= data_size / dtype_size(dtype), path, ": tensor '", key, "' of shape ",
                 shape, " needs more bytes than the file's ", data_size, " of data");
      const uint64_t expected = static_cast<uint64_t>(count) * dtype_size(dtype);
      SLAB_CHECK(end >= begin && end - begin == expected, path, ": tensor '", key, "' of shape ", shape, " needs ",
                 expected, " bytes, its offsets give ", end - begin);
      SLAB_CHECK(end <= data_size, path, ": tensor '", key, "' ends at byte ", end, " but the data holds ", data_size,
                 " (truncated file?)");
      if (begin < end) ranges.push_back({begin, end, key});
      Tensor t = Tensor::empty(shape, dtype);
      in.seekg(static_cast<std::streamoff>(8 + length + begin));
      in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(expected));
      SLAB_CHECK(in.good(), path, ": read of tensor '", key, "' failed");
      contents.tensors.emplace(key, t);
    }
  } catch (const nlohmann::json::exception& e) {
    SLAB_FAIL(path, ": malformed safetensors header entry (", e.what(), ")");
  }
  // Two tensors sharing bytes would alias in the file: a writer never does that, so it is a
  // corrupt or hand-edited header (the format forbids it).
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i)
    SLAB_CHECK(ranges[i].begin >= ranges[i - 1].end, path, ": tensors '", ranges[i - 1].key, "' (bytes ",
               ranges[i - 1].begin, "-", ranges[i - 1].end, ") and '", ranges[i].key, "' (bytes ", ranges[i].begin, "-",
               ranges[i].end, ") overlap");
  return contents;
}

}  // namespace slab
