#!/usr/bin/env bash
# One borrowed-GPU session (docs/cuda.md "The GPU check", experiments/history.md):
#
#   experiments/gpu_session.sh OUT_DIR [GRID_SECONDS]
#
#   1. tools/gpu_check.sh OUT_DIR/check .carry/cifar10-subset   (parity, 1 epoch, benchmarks)
#   2. the CIFAR-10 ResNet-20 grid (experiments/grids/cifar-resnet20.grid) on the GPU,
#      12 runs at a time, for at most GRID_SECONDS (default 230); runs finished by then are
#      summarised in OUT_DIR/cifar/summary.md. Weights (*.safetensors) are deleted afterwards
#      so that only logs, configs, metrics and sparsity reports come back.
# Built beforehand by `tools/gpu_check.sh --prepare` (build-gpu/, .carry/).
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: gpu_session.sh OUT_DIR [GRID_SECONDS]}"
GRID_SECONDS="${2:-230}"
DATA="$ROOT/.carry/cifar10-subset"
mkdir -p "$OUT"
"$ROOT/tools/gpu_check.sh" "$OUT/check" "$DATA"
check_status=$?
# shellcheck disable=SC1091  # written by gpu_check.sh: the CUDA library folders it found
[[ -f "$OUT/check/env.sh" ]] && source "$OUT/check/env.sh"
export OMP_NUM_THREADS=1
GRID_EXTRA_ARGS="--device cuda --data-dir $DATA --threads 1" timeout --kill-after=5 "$GRID_SECONDS" \
  "$ROOT/experiments/run_grid.sh" "${SLAB_GPU_BUILD:-$ROOT/build-gpu}/bin/slab-train-cifar10" \
  "$ROOT/experiments/grids/cifar-resnet20.grid" "$OUT/cifar" 12 >"$OUT/cifar-grid.log" 2>&1
echo "grid exit status $? (124: stopped at ${GRID_SECONDS}s; finished runs are kept)" >>"$OUT/cifar-grid.log"
find "$OUT/cifar" -name '*.safetensors' -delete 2>/dev/null
runs=()
for dir in "$OUT"/cifar/*/; do [[ -f "$dir/summary.json" ]] && runs+=("$dir"); done
((${#runs[@]} > 0)) && python3 "$ROOT/experiments/summarize_runs.py" "${runs[@]}" >"$OUT/cifar/summary.md"
tail -n 40 "$OUT/cifar-grid.log"
cat "$OUT/cifar/summary.md" 2>/dev/null | tail -n 12
exit $check_status
