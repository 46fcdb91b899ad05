// The Protocol Buffers wire format, the writing half, as far as the ONNX file needs it
// (tools/export/onnx_writer.cpp): a message is a sequence of fields, each a key
// varint (field_number << 3 | wire_type) and a value: wire type 0 a varint (int64, enums),
// 5 four little-endian bytes (float), 2 a varint length and that many bytes (strings,
// bytes, nested messages). Repeated fields repeat the key; nothing needs packing.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace slab::tools {

class ProtoMessage {
 public:
  ProtoMessage& varint(int field, int64_t value) {
    key(field, 0);
    put_varint(static_cast<uint64_t>(value));  // negative values: ten bytes, two's complement, as protobuf
    return *this;
  }
  ProtoMessage& real(int field, float value) {
    key(field, 5);
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    for (int k = 0; k < 4; ++k) bytes_.push_back(static_cast<char>((bits >> (8 * k)) & 0xff));
    return *this;
  }
  ProtoMessage& bytes(int field, const std::string& value) {
    key(field, 2);
    put_varint(value.size());
    bytes_ += value;
    return *this;
  }
  ProtoMessage& message(int field, const ProtoMessage& value) { return bytes(field, value.bytes_); }
  const std::string& encoded() const { return bytes_; }

 private:
  void key(int field, int wire_type) { put_varint((static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type)); }
  void put_varint(uint64_t value) {
    while (value >= 0x80) {
      bytes_.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    bytes_.push_back(static_cast<char>(value));
  }
  std::string bytes_;
};

}  // namespace slab::tools
