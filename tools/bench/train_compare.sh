#!/bin/sh
# Training throughput of slab next to PyTorch on the same models, interleaved so that both
# see the same machine load: for each round, for each model, `slab-bench train` and then
# tools/bench/train_torch.py (2 threads each), then one table of the medians of the rounds'
# medians. Also the peak resident memory of one ResNet-18 batch-128 step on each side.
#
#   tools/bench/train_compare.sh [BUILD_DIR] [ROUNDS]      (defaults: build, 2)
#
# Models and batches: resnet20/128, resnet18/64, vgg16-bn/64 (MODELS overrides, as
# "model:batch model:batch"); BENCH_ARGS adds options to both sides (e.g. "--steps 2
# --passes 3 --warmup 1" for a shorter run); SLAB_BENCH names another slab-bench binary.
# Runs a few minutes on 2 cores.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
rounds=${2:-2}
models=${MODELS:-"resnet20:128 resnet18:64 vgg16-bn:64"}
bench=${SLAB_BENCH:-"$build/bin/slab-bench"}
args=${BENCH_ARGS:-}
torch_py="$here/train_torch.py"
[ -x "$bench" ] || { echo "error: $bench not found (build first, or pass the build folder)" >&2; exit 2; }
export OMP_NUM_THREADS=2
results=$(mktemp)
trap 'rm -f "$results"' EXIT

rate() { sed -n 's/.*imgs_per_s=\([0-9.]*\).*/\1/p' | tail -1; }
rss() { sed -n 's/^peak_rss_mib=\([0-9.]*\).*/\1/p' | tail -1; }

round=1
while [ "$round" -le "$rounds" ]; do
  for entry in $models; do
    model=${entry%%:*}
    batch=${entry##*:}
    # shellcheck disable=SC2086  # $args is a list of options
    s=$("$bench" train --model "$model" --batch "$batch" --threads 2 $args | rate)
    # shellcheck disable=SC2086
    t=$(/usr/bin/python3 "$torch_py" --model "$model" --batch "$batch" --threads 2 $args | rate)
    echo "round $round: $model batch $batch: slab $s imgs/s, torch $t imgs/s"
    echo "$model $batch $s $t" >>"$results"
  done
  round=$((round + 1))
done

echo
printf '%-10s %6s %14s %14s %8s\n' model batch "slab imgs/s" "torch imgs/s" ratio
for entry in $models; do
  model=${entry%%:*}
  batch=${entry##*:}
  awk -v m="$model" -v b="$batch" '
    BEGIN { n = 0 }
    $1 == m && $2 == b { s[n] = $3; t[n] = $4; n++ }
    function median(a, n,   i, j, x) {
      for (i = 1; i < n; i++) { x = a[i]; for (j = i - 1; j >= 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2
    }
    END { ms = median(s, n); mt = median(t, n); printf "%-10s %6d %14.1f %14.1f %7.2fx\n", m, b, ms, mt, ms / mt }
  ' "$results"
done

echo
srss=$("$bench" train --model resnet18 --batch 128 --threads 2 --warmup 0 --passes 1 --steps 1 | rss)
trss=$(/usr/bin/python3 "$torch_py" --model resnet18 --batch 128 --threads 2 --warmup 0 --passes 1 --steps 1 | rss)
echo "peak RSS of one ResNet-18 batch-128 step: slab $srss MiB, torch $trss MiB"
