// The export program's main (tools/slab-export.cpp is this function): writes a run's network
// in a form other programs run.
//
//   slab-export RUN_DIR --format safetensors|onnx|pytorch [--final | --sample N | --average]
//               [--shrink on|off] [--output DIR]
//
// --final (the default): the run's final checkpoint; --sample N: the posterior sample saved
// at epoch N; --average: the model average of all the run's samples as one network whose
// output is the mean of their softmax probabilities. --shrink on (the default) removes the
// dead channels first (layers/shrink.h), so the exported network is the compact one; the
// export is checked against the dense checkpoint (within 1e-5, relative) before it is
// written. The files go to DIR (default
// RUN_DIR/export), named after what was exported (final, sample-epoch-0003, average):
//   safetensors  NAME.json (the graph, tools/export/graph_files.h) + NAME.safetensors;
//                slab-eval --network DIR/NAME.json evaluates it
//   onnx         NAME.onnx (opset 17, weights inside; tools/export/onnx_writer.h)
//   pytorch      NAME.py (a torch.nn.Module; tools/export/pytorch_writer.h) + NAME.safetensors
// It prints and adds to RUN_DIR/export.json the report: parameters, multiply-adds per example
// and file bytes of the checkpoint(s) and of the exported network. Ends with one key=value
// line. Exit codes as the training programs: 0, 1 on a failure, 2 on bad usage.
#pragma once

namespace slab::tools {

int export_program_main(int argc, char** argv);

}  // namespace slab::tools
