#!/usr/bin/env bash
# The GPU check: one short script for a borrowed GPU machine (one H100, PyTorch with CUDA
# installed, no network, no compiler dependencies), run against binaries built beforehand
# on a machine without a GPU. docs/cuda.md explains the whole procedure.
#
#   tools/gpu_check.sh --prepare            (here, no GPU needed) fills .carry/ and builds
#                                           build-gpu/ (sm_90, portable CPU code)
#   tools/gpu_check.sh OUT_DIR [DATA_DIR]   (on the GPU machine) runs the checks, prints a
#                                           table last, writes OUT_DIR/gpu_check.log and
#                                           OUT_DIR/summary.txt
#
# Steps, each under a time limit; one whose data or PyTorch is missing is skipped with a
# message, one whose binary is missing fails (run --prepare first);
# all within SLAB_GPU_CHECK_BUDGET seconds (default 290):
#   1. nvidia-smi, and the CUDA libraries the binaries need (cuDNN and cuBLAS may exist only
#      inside PyTorch's nvidia.* Python packages: their lib folders join LD_LIBRARY_PATH)
#   2. the CPU/CUDA parity suite:  BUILD/tests/test_cuda_parity
#   3. one epoch of CIFAR-10 with the paper's sampler on the GPU:
#        BUILD/bin/slab-train-cifar10 --data-dir DATA_DIR --device cuda --optimizer sghmc-spl
#                                     --epochs 1 --cycles 1 --output RUN_DIR --progress lines
#      DATA_DIR: the second argument, else $SLAB_CIFAR10_DIR, else .carry/cifar10-subset,
#      else ../shared/data/cifar10-subset (docs/data.md#getting-the-data)
#   4. ResNet-18 (CIFAR form, batch 128) training images/s, full float32, TF32, and bf16:
#        BUILD/bin/slab-bench train --model resnet18 --batch 128 --device cuda
#                                   --steps 30 --warmup 5 --passes 3   (SLAB_TF32=1 for TF32,
#                                   --precision bf16 for bf16)
#      printing a line `imgs_per_s=<number>`, the median of the passes; no step waits for
#      the GPU, each pass ends with a device synchronisation; PyTorch's twin is
#      tools/bench/train_torch_gpu.py (eager, cudnn.benchmark=True, same model)
#   5. the sghmc-spl step on ResNet-18's parameters:
#        BUILD/bin/slab-bench optim --optimizer sghmc-spl --model resnet18 --device cuda
#                                   --torch-script none
#      printing a line `ms_per_step=<number>`, against the PyTorch version of
#      docs/algorithm.md#sghmc-spl-step written one tensor op per line
#      (train_torch_gpu.py --mode sghmc)
#   6. per-op times against PyTorch on the same GPU (tools/bench/ops_torch.py compare
#      --device cuda): ResNet-18's conv shapes, batch norm and pooling at batch 128, to place
#      what remains of the training-throughput gap
# BUILD is $SLAB_GPU_BUILD or build-gpu. Exit status: 0 when no step failed (skips allowed).
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${SLAB_GPU_BUILD:-build-gpu}"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"

# ---- --prepare: here, before borrowing a GPU ---------------------------------------------------
if [[ "${1:-}" == "--prepare" ]]; then
  set -e
  carry="$ROOT/.carry"
  mkdir -p "$carry/include" "$carry/lib"
  # Header-only dependencies, so build-gpu/ never points into /usr/include for them.
  cp -r /usr/include/eigen3 "$carry/include/"
  for dir in doctest stb CLI nlohmann; do cp -r "/usr/include/$dir" "$carry/include/"; done
  # Small runtime libraries the GPU machine might lack (cuBLAS and cuDNN are far too large
  # to carry: they come from the machine's CUDA or PyTorch).
  cp -L /lib/x86_64-linux-gnu/libgomp.so.1 "$carry/lib/"
  cp -L /usr/local/cuda/lib64/libcudart.so.13 "$carry/lib/" 2>/dev/null || true
  data="${SLAB_CIFAR10_DIR:-$ROOT/../shared/data/cifar10-subset}"
  if [[ -d "$data" ]]; then
    mkdir -p "$carry/cifar10-subset"
    cp "$data"/* "$carry/cifar10-subset/"
    chmod -R u+w "$carry/cifar10-subset"
  fi
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLAB_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DSLAB_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3 \
    -DSLAB_EIGEN_DIR="$carry/include/eigen3" -DSLAB_DOCTEST_DIR="$carry/include" \
    -DSLAB_STB_DIR="$carry/include" -DSLAB_CLI11_DIR="$carry/include" -DSLAB_JSON_DIR="$carry/include"
  ninja -C "$BUILD" -j"${SLAB_JOBS:-2}" test_cuda_parity slab-train-cifar10 slab-bench
  echo "prepared: carry .carry/lib .carry/cifar10-subset $(realpath --relative-to="$ROOT" "$BUILD")/bin" \
       "$(realpath --relative-to="$ROOT" "$BUILD")/tests/test_cuda_parity"
  exit 0
fi

# ---- the check, on the GPU machine ------------------------------------------------------------
OUT="${1:?usage: tools/gpu_check.sh OUT_DIR [DATA_DIR]   or   tools/gpu_check.sh --prepare}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/gpu_check.log"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
# On exit, close the pipe into tee and wait for it, so the log ends with the table.
trap 'exec 1>&- 2>&-; wait "$TEE_PID" 2>/dev/null' EXIT
cd "$ROOT"

BUDGET="${SLAB_GPU_CHECK_BUDGET:-290}"
START=$(date +%s)
declare -a STEP_LINES=()
declare -A RESULT=()
FAILED=0

remaining() { echo $((BUDGET - ($(date +%s) - START))); }

# record NAME STATUS SECONDS NOTE
record() { STEP_LINES+=("$(printf '%-44s %-8s %6s  %s' "$1" "$2" "$3" "$4")"); }

# record_step NAME RESULT [WHY]: the step just run is ok when it exited 0 and RESULT (the
# number or line it was run for) is not empty; otherwise FAILED, with its exit status and WHY.
record_step() {
  if ((STEP_RC == 0)) && [[ -n "$2" ]]; then record "$1" ok "$STEP_SECONDS" "$2"
  else record "$1" FAILED "$STEP_SECONDS" "exit $STEP_RC${3:+; $3}"; FAILED=1; fi
}

# run_step NAME LIMIT COMMAND...: runs under min(LIMIT, time left), output to the log and
# to $STEP_OUTPUT; sets STEP_RC (124/137 when stopped by the time limit).
run_step() {
  local name="$1" limit="$2"
  shift 2
  local left
  left=$(remaining)
  if ((left < 15)); then
    record "$name" skipped - "no time left in the ${BUDGET}s budget"
    STEP_RC=125
    return
  fi
  ((limit > left - 5)) && limit=$((left - 5))
  echo
  echo "=== $name (limit ${limit}s): $*"
  local t0 t1
  t0=$(date +%s)
  STEP_OUTPUT="$(mktemp)"
  timeout --kill-after=5 "$limit" "$@" 2>&1 | tee "$STEP_OUTPUT"
  STEP_RC=${PIPESTATUS[0]}
  t1=$(date +%s)
  STEP_SECONDS=$((t1 - t0))
  echo "=== $name: exit status $STEP_RC after ${STEP_SECONDS}s"
}

value_of() {  # value_of KEY FILE: the number after KEY= on the last line holding it
  grep -o "$1=[0-9.eE+-]*" "$2" | tail -n 1 | cut -d= -f2
}

echo "slab GPU check: $(date -u +%Y-%m-%dT%H:%M:%SZ), repository $ROOT, build $BUILD, budget ${BUDGET}s"
echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'no git') $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files"

# ---- 1. the machine and the libraries ---------------------------------------------------------
echo
echo "=== nvidia-smi"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  record "nvidia-smi" ok 0 "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -n 1)"
else
  echo "nvidia-smi not found"
  record "nvidia-smi" missing - "no nvidia-smi on PATH"
fi

PYTHON="${PYTHON:-python3}"
library_dirs=()
torch_dirs=()
# PyTorch's CUDA libraries live in the nvidia.* packages (nvidia/cudnn/lib, nvidia/cublas/lib,
# or nvidia/cu13/lib in the newer layout): every such lib folder is a candidate.
if command -v "$PYTHON" >/dev/null; then
  while IFS= read -r dir; do
    case "$dir" in
      torch:*) torch_dirs+=("${dir#torch:}") ;;
      ?*) library_dirs+=("$dir") ;;
    esac
  done < <("$PYTHON" - <<'PY' 2>/dev/null
import os
# First the folders of the libraries PyTorch itself loads (read from this process's memory
# map once torch has opened cuDNN and cuBLAS), so slab runs against the same versions.
try:
    import torch
    torch.backends.cudnn.version()
    torch.zeros(2, 2, device="cuda") @ torch.zeros(2, 2, device="cuda")
    seen = []
    for line in open("/proc/self/maps"):
        path = line.split()[-1]
        if any(name in path for name in ("libcudnn.so", "libcublas", "libcudart.so")):
            folder = os.path.dirname(path)
            if folder not in seen:
                seen.append(folder)
                print("torch:" + folder)
except Exception:
    pass
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
for root in roots:
    for here, dirs, files in os.walk(root):
        if os.path.basename(here) == "lib" and any(".so" in f for f in files):
            print(here)
try:
    import torch
    print(os.path.join(os.path.dirname(torch.__file__), "lib"))
except Exception:
    pass
PY
)
fi
library_dirs+=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib "$ROOT/.carry/lib")
needed=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libgomp.so.1)
# The folders of PyTorch's own cuDNN/cuBLAS come first, so that slab and its PyTorch twin
# run on the same library versions; then whatever else a missing library needs.
extra_path=""
for dir in "${torch_dirs[@]}"; do
  echo "PyTorch loads CUDA libraries from $dir"
  case ":$extra_path:" in *":$dir:"*) ;; *) extra_path="${extra_path:+$extra_path:}$dir" ;; esac
done
for lib in "${needed[@]}"; do
  if ldconfig -p 2>/dev/null | grep -q "[[:space:]]$lib "; then
    echo "library $lib: system ($(ldconfig -p | grep "[[:space:]]$lib " | head -n 1 | awk '{print $NF}'))"
    continue
  fi
  found=""
  for dir in "${library_dirs[@]}"; do
    if [[ -e "$dir/$lib" ]]; then found="$dir"; break; fi
  done
  if [[ -n "$found" ]]; then
    echo "library $lib: $found"
    case ":$extra_path:" in *":$found:"*) ;; *) extra_path="${extra_path:+$extra_path:}$found" ;; esac
  else
    echo "library $lib: NOT FOUND"
  fi
done
LD_LIBRARY_PATH="${extra_path}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
LD_LIBRARY_PATH="${LD_LIBRARY_PATH#:}"
export LD_LIBRARY_PATH
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
# For whatever runs after the check on the same machine (e.g. experiments/run_grid.sh):
# `source OUT_DIR/env.sh` gives it the same libraries.
printf 'export LD_LIBRARY_PATH=%q\n' "$LD_LIBRARY_PATH" >"$OUT/env.sh"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-8}"

PARITY="$BUILD/tests/test_cuda_parity"
if [[ -x "$PARITY" ]]; then
  echo "the parity binary resolves: $(ldd "$PARITY" 2>/dev/null | grep -E 'cudnn|cublas|cudart' | awk '{print $3}' | tr '\n' ' ')"
  missing=$(ldd "$PARITY" 2>/dev/null | grep "not found" || true)
  [[ -n "$missing" ]] && echo "unresolved libraries of $PARITY:" && echo "$missing"
fi

# ---- 2. parity tests ------------------------------------------------------------------------------
if [[ -x "$PARITY" ]]; then
  # SLAB_CUDA_SYNC=1: a kernel fault is reported at its own launch; --duration lists each
  # case as it ends, so a crash shows where it happened.
  run_step "CUDA parity tests (test_cuda_parity)" 150 env SLAB_CUDA_SYNC=1 "$PARITY" --duration=true
  summary_line=$(grep "test cases:" "$STEP_OUTPUT" | tail -n 1 | sed 's/\[doctest\] //')
  if grep -q "SLAB_SKIPPED" "$STEP_OUTPUT"; then
    record "CUDA parity tests" skipped "$STEP_SECONDS" "the binary saw no GPU: $(grep -m1 SLAB_SKIPPED "$STEP_OUTPUT")"
    FAILED=1
  elif ((STEP_RC == 0)); then
    record "CUDA parity tests" ok "$STEP_SECONDS" "$summary_line"
  else
    record "CUDA parity tests" FAILED "$STEP_SECONDS" "exit $STEP_RC; $summary_line"
    FAILED=1
  fi
else
  echo "=== CUDA parity tests: $PARITY not found (run tools/gpu_check.sh --prepare first)"
  record "CUDA parity tests" missing - "$PARITY not built"
  FAILED=1
fi

# ---- 3. one epoch of CIFAR-10 with sghmc-spl ---------------------------------------------------------
DATA="${2:-${SLAB_CIFAR10_DIR:-}}"
if [[ -z "$DATA" ]]; then
  for candidate in "$ROOT/.carry/cifar10-subset" "$ROOT/../shared/data/cifar10-subset" /work/shared/data/cifar10-subset; do
    if [[ -d "$candidate" ]]; then DATA="$candidate"; break; fi
  done
fi
TRAIN="$BUILD/bin/slab-train-cifar10"
if [[ ! -x "$TRAIN" ]]; then
  echo "=== training: $TRAIN not built (run tools/gpu_check.sh --prepare first)"
  record "train cifar10, 1 epoch, sghmc-spl" missing - "bin/slab-train-cifar10 not built"
  FAILED=1
elif [[ -z "$DATA" || ! -d "$DATA" ]]; then
  echo "=== training: no CIFAR-10 folder (give DATA_DIR or SLAB_CIFAR10_DIR): skipped"
  record "train cifar10, 1 epoch, sghmc-spl" skipped - "no data folder"
else
  RUN_DIR="${SLAB_GPU_CHECK_RUN_DIR:-$(mktemp -d)}"
  run_step "train cifar10, 1 epoch, sghmc-spl" 100 "$TRAIN" --device cuda --optimizer sghmc-spl --epochs 1 \
    --cycles 1 --data-dir "$DATA" --output "$RUN_DIR" --progress lines
  for file in "$RUN_DIR"/metrics.csv "$RUN_DIR"/*/metrics.csv "$RUN_DIR"/summary.json; do
    [[ -f "$file" ]] && echo "--- $file" && cat "$file"
  done
  last=$(grep -iE "epoch|accuracy|images/s" "$STEP_OUTPUT" | tail -n 1 | cut -c1-100)
  record_step "train cifar10, 1 epoch, sghmc-spl" "${last:-finished}" "$(tail -n 1 "$STEP_OUTPUT" | cut -c1-100)"
fi

# ---- 4 and 5. benchmarks -------------------------------------------------------------------------------
BENCH="$BUILD/bin/slab-bench"
if [[ ! -x "$BENCH" ]]; then
  echo "=== benchmarks: $BENCH not built (run tools/gpu_check.sh --prepare first)"
  record "slab-bench" missing - "bin/slab-bench not built"
  FAILED=1
else
  # Three timed passes of 30 steps: slab-bench reports their median as imgs_per_s=.
  for precision in fp32 tf32 bf16; do
    tf32_flag=0 matmul=fp32
    [[ "$precision" == tf32 ]] && tf32_flag=1
    [[ "$precision" == bf16 ]] && matmul=bf16
    run_step "slab resnet18 train $precision" 60 env SLAB_TF32=$tf32_flag "$BENCH" train --model resnet18 \
      --device cuda --batch 128 --steps 30 --warmup 5 --passes 3 --precision $matmul
    value=$(value_of imgs_per_s "$STEP_OUTPUT")
    RESULT[slab_train_$precision]="${value:-}"
    record_step "slab resnet18 train $precision" "${value:+$value images/s}" "no imgs_per_s= line"
  done

  # --torch-script none: the GPU twin of the step is train_torch_gpu.py, below.
  run_step "slab sghmc-spl step, resnet18 parameters" 45 "$BENCH" optim --optimizer sghmc-spl --model resnet18 \
    --device cuda --torch-script none
  value=$(value_of ms_per_step "$STEP_OUTPUT")
  RESULT[slab_sghmc]="${value:-}"
  record_step "slab sghmc-spl step" "${value:+$value ms}" "no ms_per_step= line"
fi

# Whether a python3 with CUDA PyTorch is here: the twins (below) and the per-op step need it.
TORCH_CUDA=0
command -v "$PYTHON" >/dev/null && "$PYTHON" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null &&
  TORCH_CUDA=1
if ((TORCH_CUDA)); then
  run_step "PyTorch twins (train fp32, tf32, bf16, sghmc-spl)" 150 env PYTHONUNBUFFERED=1 "$PYTHON" \
    "$ROOT/tools/bench/train_torch_gpu.py" --mode all --batch-size 128 --steps 30 --warmup 5
  RESULT[torch_train_fp32]=$(value_of torch_train_fp32_images_per_second "$STEP_OUTPUT")
  RESULT[torch_train_tf32]=$(value_of torch_train_tf32_images_per_second "$STEP_OUTPUT")
  RESULT[torch_train_bf16]=$(value_of torch_train_bf16_images_per_second "$STEP_OUTPUT")
  RESULT[torch_sghmc]=$(value_of torch_sghmc_spl_step_ms "$STEP_OUTPUT")
  versions=$(grep -m1 torch_version "$STEP_OUTPUT" | cut -c1-90)
  record_step "PyTorch twins" "${versions:-finished}"
else
  echo "=== PyTorch twins: no python3 with CUDA PyTorch: skipped"
  record "PyTorch twins" skipped - "no CUDA PyTorch"
fi

# ---- 6. per-op times, to place the training gap ---------------------------------------------------------
# The same ops and shapes on both sides (tools/bench/ops_torch.py compare --device cuda: slab-bench ops and its
# PyTorch twin, alternating, each timed call ending with a synchronisation): ResNet-18's convolutions, batch
# norm and pooling at batch 128, full float32. The full table is in the log; the summary keeps batch norm and
# the sum over ResNet-18's conv shapes.
if [[ -x "$BENCH" ]] && ((TORCH_CUDA)); then
  run_step "per-op times, slab vs PyTorch" 120 env PYTHONUNBUFFERED=1 "$PYTHON" "$ROOT/tools/bench/ops_torch.py" \
    compare --slab "$BENCH" --device cuda --batch 128 --passes 2 --iterations 20 --warmup 3 --skip-gemm \
    --only conv.r18,batch_norm,pool
  ms_of() {  # ms_of FRAMEWORK NAME FILE: the compare line's time
    grep "^compare name=$2 pass=train " "$3" | tail -n 1 | grep -o "$1_ms=[0-9.]*" | cut -d= -f2
  }
  for name in batch_norm.64x32 batch_norm.512x4; do
    RESULT[slab_$name]=$(ms_of slab "$name" "$STEP_OUTPUT")
    RESULT[torch_$name]=$(ms_of torch "$name" "$STEP_OUTPUT")
  done
  sum_of() {  # sum_of FRAMEWORK FILE: the conv.r18 training rows added
    grep "^compare name=conv.r18" "$2" | grep " pass=train " | grep -o "$1_ms=[0-9.]*" | cut -d= -f2 |
      awk '{ t += $1 } END { if (NR) printf "%.3f", t }'
  }
  RESULT[slab_conv_r18]=$(sum_of slab "$STEP_OUTPUT")
  RESULT[torch_conv_r18]=$(sum_of torch "$STEP_OUTPUT")
  record_step "per-op times" "${RESULT[slab_batch_norm.64x32]:+table in the log}" "no batch_norm.64x32 line"
else
  echo "=== per-op times: needs bin/slab-bench and a python3 with CUDA PyTorch: skipped"
  record "per-op times" skipped - "no slab-bench or no CUDA PyTorch"
fi

# ---- the table ---------------------------------------------------------------------------------------------
show() { echo "${1:--}"; }
{
  echo
  echo "================ slab GPU check summary ($(($(date +%s) - START))s) ================"
  printf '%-44s %-8s %6s  %s\n' step status seconds result
  for line in "${STEP_LINES[@]}"; do echo "$line"; done
  echo
  printf '%-52s %12s %12s\n' "ResNet-18 (CIFAR form), batch 128" slab PyTorch
  printf '%-52s %12s %12s\n' "  training images/s, float32 (TF32 off)" "$(show "${RESULT[slab_train_fp32]:-}")" \
    "$(show "${RESULT[torch_train_fp32]:-}")"
  printf '%-52s %12s %12s\n' "  training images/s, TF32" "$(show "${RESULT[slab_train_tf32]:-}")" \
    "$(show "${RESULT[torch_train_tf32]:-}")"
  printf '%-52s %12s %12s\n' "  training images/s, bf16 (PyTorch: autocast)" "$(show "${RESULT[slab_train_bf16]:-}")" \
    "$(show "${RESULT[torch_train_bf16]:-}")"
  printf '%-52s %12s %12s\n' "  sghmc-spl step on its parameters, ms" "$(show "${RESULT[slab_sghmc]:-}")" \
    "$(show "${RESULT[torch_sghmc]:-}")"
  printf '%-52s %12s %12s\n' "  batch norm forward + backward, 128x64x32^2, ms" "$(show "${RESULT[slab_batch_norm.64x32]:-}")" \
    "$(show "${RESULT[torch_batch_norm.64x32]:-}")"
  printf '%-52s %12s %12s\n' "  batch norm forward + backward, 128x512x4^2, ms" "$(show "${RESULT[slab_batch_norm.512x4]:-}")" \
    "$(show "${RESULT[torch_batch_norm.512x4]:-}")"
  printf '%-52s %12s %12s\n' "  ResNet-18's 11 conv shapes, each once, fwd+bwd, ms" "$(show "${RESULT[slab_conv_r18]:-}")" \
    "$(show "${RESULT[torch_conv_r18]:-}")"
} | tee "$OUT/summary.txt"
exit $FAILED
