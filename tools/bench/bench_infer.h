// `slab-bench infer --network NAME.json --batch B [--passes P --steps S --threads T]`:
// inference images/s of a network slab-export wrote (tools/export/graph_files.h), run by
// slab's graph interpreter on a fixed random batch in evaluation mode, without a loader.
// Prints images/s per pass, their median and a final `network=... batch=... threads=...
// imgs_per_s=...` line. tools/bench/export_bench.sh times the same network in slab, ONNX
// Runtime and PyTorch side by side (docs/performance.md).
// `slab-bench infer --model M --prune-channels P --batch B`: instead, the registered model M
// with the fraction P of every prunable channel group pruned, dense masked against shrunken
// (tools/bench/channel_pruning.h), with I, S and the target S - 1 >= 0.8 (I - 1).
#pragma once

namespace slab::tools {

int run_infer_benchmark(int argc, char** argv);

}  // namespace slab::tools
