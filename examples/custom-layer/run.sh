#!/usr/bin/env bash
# Builds and runs the example against slab both ways a project can use it:
#   1. installed: `cmake --install BUILD --prefix WORK/prefix`, then this project with
#      find_package(slab): build, ctest, a short sghmc-spl run on Fashion-MNIST with the
#      example's model (the sparsity report is printed), and slab's evaluator on its folder;
#   2. subproject: this project with -DSLAB_SOURCE_DIR=<the checkout> (add_subdirectory):
#      build and ctest. slab's CPU library is built here (SLAB_CUDA=OFF): the installed
#      route already links the CUDA-built library when BUILD has the CUDA backend, and the
#      kernels would double the build time.
# Usage: examples/custom-layer/run.sh BUILD [WORK]
#   BUILD  a configured and built slab build folder (e.g. build)
#   WORK   scratch folder (default: a new temporary one, removed at the end)
# Environment: SLAB_EXAMPLE_JOBS (parallel build jobs, default 2); CMAKE_CXX_COMPILER_LAUNCHER
# is passed on by CMake (ccache, say). Needs /usr/share/datasets/fashion-mnist
# (tools/setup.sh --with-data).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 BUILD [WORK]" >&2; exit 2; }
build="$(cd "$1" && pwd)"
if [[ $# -ge 2 ]]; then
  mkdir -p "$2"
  work="$(cd "$2" && pwd)"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
jobs="${SLAB_EXAMPLE_JOBS:-2}"
data=/usr/share/datasets/fashion-mnist
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

step() {  # step NAME COMMAND...: runs it and prints its wall time
  local name="$1" start=$SECONDS
  shift
  echo "=== $name"
  "$@"
  echo "=== $name: $((SECONDS - start)) s"
}

# 1. Installed slab.
step "install slab ($build -> $work/prefix)" cmake --install "$build" --prefix "$work/prefix"
step "configure against the installed slab" \
  cmake -S "$here" -B "$work/installed" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix"
step "build" cmake --build "$work/installed" -j "$jobs"
step "test" ctest --test-dir "$work/installed" --output-on-failure
[[ -f "$data/train-images-idx3-ubyte.gz" || -f "$data/train-images-idx3-ubyte" ]] ||
  { echo "run.sh: no Fashion-MNIST in $data (tools/setup.sh --with-data installs it)" >&2; exit 1; }
# 256 steps: 4096 images in batches of 32, 2 epochs; the E-step and pruning pass runs
# before the second (the slab-mnist preset has no warm-up).
step "train tanh-cnn with sghmc-spl (4096 images, 2 epochs of 128 steps)" \
  env OMP_NUM_THREADS=2 "$work/installed/train-tanh-cnn" --train-limit 4096 --test-limit 2000 --epochs 2 \
  --batch-size 32 --optimizer sghmc-spl --progress none --output "$work/run" | tee "$work/train.log"
step "evaluate the run folder" env OMP_NUM_THREADS=2 "$work/installed/eval-tanh-cnn" "$work/run" | tee "$work/eval.log"
# The evaluator rebuilds the registered model from the run folder: same model average.
trained=$(grep -o 'bma_acc=[0-9.]*' "$work/train.log" | tail -1)
evaluated=$(grep -o 'bma_acc=[0-9.]*' "$work/eval.log" | tail -1)
[[ -n "$trained" && "$trained" == "$evaluated" ]] ||
  { echo "run.sh: the evaluator's $evaluated differs from the training run's $trained" >&2; exit 1; }

# 2. slab as a subproject of this one.
step "configure with add_subdirectory($root)" \
  cmake -S "$here" -B "$work/subproject" "${generator[@]}" -DSLAB_SOURCE_DIR="$root" -DSLAB_CUDA=OFF
step "build (slab's libraries too)" cmake --build "$work/subproject" -j "$jobs"
step "test" ctest --test-dir "$work/subproject" --output-on-failure
echo "run.sh: the example built, tested and trained against installed slab and as a subproject"
