#include "tools/export/onnx_writer.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tools/export/protobuf_writer.h"

namespace slab::tools {

namespace {

// Field numbers of onnx.proto (onnx/onnx.proto, the ONNX project's schema).
namespace model_field {
constexpr int kIrVersion = 1, kProducerName = 2, kProducerVersion = 3, kGraph = 7, kOpsetImport = 8;
}
namespace opset_field {
constexpr int kDomain = 1, kVersion = 2;
}
namespace graph_field {
constexpr int kNode = 1, kName = 2, kInitializer = 5, kInput = 11, kOutput = 12;
}
namespace node_field {
constexpr int kInput = 1, kOutput = 2, kName = 3, kOpType = 4, kAttribute = 5;
}
namespace attribute_field {
constexpr int kName = 1, kFloat = 2, kInt = 3, kInts = 8, kType = 20;
constexpr int kTypeFloat = 1, kTypeInt = 2, kTypeInts = 7;  // AttributeProto.AttributeType
}
namespace tensor_field {
constexpr int kDims = 1, kDataType = 2, kName = 8, kRawData = 9;
constexpr int kFloat = 1, kInt64 = 7;  // TensorProto.DataType
}
namespace value_field {  // ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto(.Dimension)
constexpr int kName = 1, kType = 2, kTensorType = 1, kElemType = 1, kShape = 2, kDim = 1, kDimValue = 1,
              kDimParam = 2;
}

ProtoMessage int_attribute(const std::string& name, int64_t value) {
  ProtoMessage a;
  a.bytes(attribute_field::kName, name).varint(attribute_field::kInt, value);
  a.varint(attribute_field::kType, attribute_field::kTypeInt);
  return a;
}

ProtoMessage ints_attribute(const std::string& name, const std::vector<int64_t>& values) {
  ProtoMessage a;
  a.bytes(attribute_field::kName, name);
  for (int64_t v : values) a.varint(attribute_field::kInts, v);
  a.varint(attribute_field::kType, attribute_field::kTypeInts);
  return a;
}

ProtoMessage float_attribute(const std::string& name, double value) {
  ProtoMessage a;
  a.bytes(attribute_field::kName, name).real(attribute_field::kFloat, static_cast<float>(value));
  a.varint(attribute_field::kType, attribute_field::kTypeFloat);
  return a;
}

ProtoMessage tensor_proto(const std::string& name, const Tensor& tensor) {
  ProtoMessage t;
  for (int64_t d : tensor.shape()) t.varint(tensor_field::kDims, d);
  const std::vector<double> values = tensor.to_vector();
  std::string raw(values.size() * sizeof(float), '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const float v = static_cast<float>(values[i]);  // little-endian hosts only (x86-64, aarch64)
    std::memcpy(raw.data() + i * sizeof(float), &v, sizeof(float));
  }
  t.varint(tensor_field::kDataType, tensor_field::kFloat).bytes(tensor_field::kName, name);
  t.bytes(tensor_field::kRawData, raw);
  return t;
}

ProtoMessage int64_tensor_proto(const std::string& name, const std::vector<int64_t>& values) {
  ProtoMessage t;
  t.varint(tensor_field::kDims, static_cast<int64_t>(values.size()));
  std::string raw(values.size() * sizeof(int64_t), '\0');
  std::memcpy(raw.data(), values.data(), raw.size());
  t.varint(tensor_field::kDataType, tensor_field::kInt64).bytes(tensor_field::kName, name);
  t.bytes(tensor_field::kRawData, raw);
  return t;
}

// A float tensor value [N, d1, d2, ...]: the batch free, the rest as traced.
ProtoMessage value_info(const std::string& name, const Shape& shape) {
  ProtoMessage dims;
  for (size_t d = 0; d < shape.size(); ++d) {
    ProtoMessage dim;
    if (d == 0) dim.bytes(value_field::kDimParam, "N");
    else dim.varint(value_field::kDimValue, shape[d]);
    dims.message(value_field::kDim, dim);
  }
  ProtoMessage tensor_type;
  tensor_type.varint(value_field::kElemType, tensor_field::kFloat).message(value_field::kShape, dims);
  ProtoMessage type;
  type.message(value_field::kTensorType, tensor_type);
  ProtoMessage info;
  info.bytes(value_field::kName, name).message(value_field::kType, type);
  return info;
}

std::vector<int64_t> ints(const nlohmann::json& attributes, const char* key) {
  return attributes.at(key).get<std::vector<int64_t>>();
}
std::vector<int64_t> pads(const nlohmann::json& attributes) {  // [h_begin, w_begin, h_end, w_end]
  const std::vector<int64_t> p = ints(attributes, "padding");
  return {p[0], p[1], p[0], p[1]};
}

struct OnnxNode {
  std::string op_type;
  std::vector<ProtoMessage> attributes;
};

OnnxNode pool_node(const char* op_type, const nlohmann::json& a) {
  return {op_type,
          {ints_attribute("kernel_shape", ints(a, "kernel")), ints_attribute("strides", ints(a, "stride")),
           ints_attribute("pads", pads(a))}};
}

OnnxNode onnx_node(const GraphNode& node) {
  const nlohmann::json& a = node.attributes;
  const std::string& op = node.op;
  if (op == "conv2d") {
    // kernel_shape is inferred from the weight; strides, pads, dilations and group as written.
    return {"Conv",
            {ints_attribute("strides", ints(a, "stride")), ints_attribute("pads", pads(a)),
             ints_attribute("dilations", ints(a, "dilation")), int_attribute("group", a.at("groups").get<int64_t>())}};
  }
  if (op == "batch_norm") return {"BatchNormalization", {float_attribute("epsilon", a.at("eps").get<double>())}};
  if (op == "linear") return {"Gemm", {int_attribute("transB", 1)}};
  if (op == "relu") return {"Relu", {}};
  if (op == "sigmoid") return {"Sigmoid", {}};
  if (op == "tanh") return {"Tanh", {}};
  if (op == "add") return {"Add", {}};
  if (op == "max_pool2d") return pool_node("MaxPool", a);
  if (op == "avg_pool2d") {
    OnnxNode n = pool_node("AveragePool", a);
    n.attributes.push_back(int_attribute("count_include_pad", 1));
    return n;
  }
  if (op == "global_avg_pool") return {"GlobalAveragePool", {}};
  if (op == "flatten") return {"Flatten", {int_attribute("axis", 1)}};
  if (op == "pad_channels") return {"Pad", {}};
  if (op == "slice_channels") return {"Slice", {}};
  if (op == "concat") return {"Concat", {int_attribute("axis", a.at("axis").get<int64_t>())}};
  if (op == "softmax") return {"Softmax", {int_attribute("axis", a.at("axis").get<int64_t>())}};
  if (op == "mean_of") return {"Mean", {}};
  SLAB_FAIL("ONNX export: no ONNX operator for graph op '", op, "'");
}

ProtoMessage graph_proto(const NetworkGraph& graph) {
  ProtoMessage g;
  for (const GraphNode& node : graph.nodes) {
    const OnnxNode onnx = onnx_node(node);
    std::vector<std::string> inputs = node.inputs;
    while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();  // absent trailing optionals
    ProtoMessage n;
    if (node.op == "pad_channels") {  // Pad's pads are an input: [begin of each axis, end of each axis]
      const std::string pads_name = node.output + ".pads";
      const int64_t before = node.attributes.at("before").get<int64_t>();
      const int64_t after = node.attributes.at("after").get<int64_t>();
      g.message(graph_field::kInitializer, int64_tensor_proto(pads_name, {0, before, 0, 0, 0, after, 0, 0}));
      inputs.push_back(pads_name);
    }
    if (node.op == "slice_channels") {  // Slice's starts, ends and axes are inputs
      const int64_t start = node.attributes.at("start").get<int64_t>();
      const int64_t end = start + node.attributes.at("length").get<int64_t>();
      for (const auto& [suffix, value] : {std::pair<const char*, int64_t>{".starts", start}, {".ends", end}, {".axes", 1}}) {
        const std::string input_name = node.output + suffix;
        g.message(graph_field::kInitializer, int64_tensor_proto(input_name, {value}));
        inputs.push_back(input_name);
      }
    }
    for (const std::string& input : inputs) n.bytes(node_field::kInput, input);
    n.bytes(node_field::kOutput, node.output).bytes(node_field::kName, node.output);
    n.bytes(node_field::kOpType, onnx.op_type);
    for (const ProtoMessage& attribute : onnx.attributes) n.message(node_field::kAttribute, attribute);
    g.message(graph_field::kNode, n);
  }
  g.bytes(graph_field::kName, "slab");
  for (const auto& [name, tensor] : graph.weights) g.message(graph_field::kInitializer, tensor_proto(name, tensor));
  g.message(graph_field::kInput, value_info(graph.input, graph.input_shape));
  g.message(graph_field::kOutput, value_info(graph.output, graph.nodes.back().output_shape));
  return g;
}

}  // namespace

std::string onnx_model(const NetworkGraph& graph) {
  SLAB_CHECK(!graph.nodes.empty() && graph.nodes.back().output == graph.output,
             "ONNX export: the graph's output must be written by its last node");
  ProtoMessage opset;
  opset.bytes(opset_field::kDomain, "").varint(opset_field::kVersion, kOnnxOpset);
  ProtoMessage model;
  model.varint(model_field::kIrVersion, kOnnxIrVersion);
  model.bytes(model_field::kProducerName, "slab").bytes(model_field::kProducerVersion, "slab-export");
  model.message(model_field::kGraph, graph_proto(graph));
  model.message(model_field::kOpsetImport, opset);
  return model.encoded();
}

void write_onnx(const NetworkGraph& graph, const std::string& path) {
  const std::string bytes = onnx_model(graph);
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary);
    SLAB_CHECK(out.good(), "cannot write '", temporary, "'");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    SLAB_CHECK(out.good(), "writing '", temporary, "' failed");
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace slab::tools
