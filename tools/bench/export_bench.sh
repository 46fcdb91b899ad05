#!/usr/bin/env bash
# Inference images/s of a run's exported network in slab (slab-bench infer), ONNX Runtime and
# PyTorch (tools/bench/export_infer.py), side by side, at batch 256 and batch 1, with the same
# thread count; each number is the median of 5 passes. Exports the run's final checkpoint
# first (slab-export --format safetensors, onnx and pytorch into RUN_DIR/export).
#
#   tools/bench/export_bench.sh RUN_DIR [BUILD_DIR=build] [THREADS=2]
#
# Prints one markdown table row per batch size: | model | batch | slab | onnxruntime | pytorch |
set -euo pipefail
run_dir=$1
build=${2:-build}
threads=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
python=$("$here/../python-env.sh")
for format in safetensors onnx pytorch; do
  "$build/bin/slab-export" "$run_dir" --format "$format" --threads "$threads" > /dev/null
done
net="$run_dir/export/final"
shape=$("$python" -c "import json,sys; s=json.load(open(sys.argv[1]))['input']['shape']; print(','.join(map(str, s[1:])))" "$net.json")
model=$("$python" -c "import json,sys; print(json.load(open(sys.argv[1]))['source']['model'])" "$net.json")
rate() { sed -n 's/.*imgs_per_s=\([0-9.]*\).*/\1/p' | tail -1; }
for batch in 256 1; do
  steps=3
  [ "$batch" = 1 ] && steps=50
  slab=$("$build/bin/slab-bench" infer --network "$net.json" --batch "$batch" --steps "$steps" --threads "$threads" | rate)
  ort=$("$python" "$here/export_infer.py" --onnx "$net.onnx" --shape "$shape" --batch "$batch" --steps "$steps" --threads "$threads" | rate)
  torch=$("$python" "$here/export_infer.py" --pytorch "$net.py" --shape "$shape" --batch "$batch" --steps "$steps" --threads "$threads" | rate)
  echo "| $model | $batch | $slab | $ort | $torch |"
done
