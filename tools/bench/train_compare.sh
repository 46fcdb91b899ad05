#!/bin/sh
# Training throughput of slab next to PyTorch on the same models, interleaved so that every
# column sees the same machine load: for each round, for each model, `slab-bench train
# --precision fp32`, `--precision bf16`, and tools/bench/train_torch.py in each of its
# variants (2 threads each), then one table of the medians of the rounds' medians. Also
# the peak resident memory of one ResNet-18 batch-128 float32 step on each side.
#
#   tools/bench/train_compare.sh [BUILD_DIR] [ROUNDS]      (defaults: build, 2)
#
# The PyTorch side is PyTorch 2 from tools/bench/pytorch2-env.sh (made on first use; see
# that script for what it downloads) in the variants fp32-nchw, fp32-channels-last,
# bf16-autocast-channels-last and bf16-autocast-compile (torch.compile's time is reported
# apart, never timed). TORCH_PYTHON names another python (e.g. /usr/bin/python3, Debian's
# torch 1.13, which has no torch.compile: its column then reads n/a); VARIANTS another list.
# Models and batches: resnet20/128, resnet18/64, vgg16-bn/64 (MODELS overrides, as
# "model:batch model:batch"); BENCH_ARGS adds options to both sides (e.g. "--steps 2
# --passes 3 --warmup 1" for a shorter run); SLAB_BENCH names another slab-bench binary.
# Runs tens of minutes on 2 cores (torch.compile of each model takes minutes on the first round).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
rounds=${2:-2}
models=${MODELS:-"resnet20:128 resnet18:64 vgg16-bn:64"}
bench=${SLAB_BENCH:-"$build/bin/slab-bench"}
args=${BENCH_ARGS:-}
variants=${VARIANTS:-"fp32-nchw fp32-channels-last bf16-autocast-channels-last bf16-autocast-compile"}
torch_py="$here/train_torch.py"
[ -x "$bench" ] || { echo "error: $bench not found (build first, or pass the build folder)" >&2; exit 2; }
python=${TORCH_PYTHON:-$("$here/pytorch2-env.sh")}
export OMP_NUM_THREADS=2
results=$(mktemp)
# inductor's compiled kernels go to a fresh cache, so the first round's compile time is a
# cold compile and later rounds' are what a warm cache gives.
inductor_cache=$(mktemp -d)
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$inductor_cache}
trap 'rm -rf "$results" "$inductor_cache"' EXIT

rate() { sed -n 's/.*imgs_per_s=\([0-9.]*\).*/\1/p' | tail -1; }
rss() { sed -n 's/^peak_rss_mib=\([0-9.]*\).*/\1/p' | tail -1; }
compile_seconds() { sed -n 's/^compile_s=\([0-9.]*\).*/\1/p' | tail -1; }

echo "slab: $bench; torch: $("$python" -c 'import torch; print(torch.__version__)') ($python)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
round=1
while [ "$round" -le "$rounds" ]; do
  for entry in $models; do
    model=${entry%%:*}
    batch=${entry##*:}
    line="$model $batch"
    for precision in fp32 bf16; do
      # shellcheck disable=SC2086  # $args is a list of options
      s=$("$bench" train --model "$model" --batch "$batch" --threads 2 --precision "$precision" $args | rate)
      line="$line ${s:-nan}"
    done
    compile=nan
    for variant in $variants; do
      # shellcheck disable=SC2086
      out=$("$python" "$torch_py" --model "$model" --batch "$batch" --threads 2 --variant "$variant" $args 2>&1) || true
      t=$(printf '%s\n' "$out" | rate)
      [ "$variant" = bf16-autocast-compile ] && compile=$(printf '%s\n' "$out" | compile_seconds)
      line="$line ${t:-nan}"
    done
    echo "round $round: $line (imgs/s: slab fp32 bf16, torch $variants; compile ${compile:-nan} s)"
    echo "$line ${compile:-nan} $round" >>"$results"
  done
  round=$((round + 1))
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# The table: the median over rounds of each column (nan where a run failed: n/a), and the
# ratios of slab to PyTorch at the same precision (fp32: NCHW eager; bf16: channels-last
# autocast eager), torch.compile's time in the first round (cold cache) and the median of
# the later rounds (warm cache).
echo
printf '%-9s %5s %9s %9s' model batch "slab fp32" "slab bf16"
for variant in $variants; do printf ' %*s' "$(( ${#variant} > 9 ? ${#variant} : 9 ))" "$variant"; done
printf ' %11s %11s %12s %12s\n' "fp32 ratio" "bf16 ratio" "compile cold" "compile warm"
for entry in $models; do
  model=${entry%%:*}
  batch=${entry##*:}
  awk -v m="$model" -v b="$batch" -v variants="$variants" '
    function median(col, first,   i, j, x, k, a) {
      k = 0
      for (i = first; i < n; i++) if (v[i, col] != "nan") a[k++] = v[i, col] + 0
      if (k == 0) return -1
      for (i = 1; i < k; i++) { x = a[i]; for (j = i - 1; j >= 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return k % 2 ? a[int(k / 2)] : (a[k / 2 - 1] + a[k / 2]) / 2
    }
    function cell(x, width) { return x < 0 ? sprintf(" %*s", width, "n/a") : sprintf(" %*.1f", width, x) }
    BEGIN { n = 0; nv = split(variants, names, " ") }
    $1 == m && $2 == b { for (c = 3; c <= NF; c++) v[n, c] = $c; n++ }
    END {
      line = sprintf("%-9s %5d", m, b) cell(median(3, 0), 9) cell(median(4, 0), 9)
      fp32 = -1; bf16 = -1
      for (i = 1; i <= nv; i++) {
        x = median(4 + i, 0)
        line = line cell(x, length(names[i]) > 9 ? length(names[i]) : 9)
        if (names[i] == "fp32-nchw") fp32 = x
        if (names[i] == "bf16-autocast-channels-last") bf16 = x
      }
      r32 = fp32 > 0 && median(3, 0) > 0 ? sprintf(" %10.2fx", median(3, 0) / fp32) : sprintf(" %11s", "n/a")
      r16 = bf16 > 0 && median(4, 0) > 0 ? sprintf(" %10.2fx", median(4, 0) / bf16) : sprintf(" %11s", "n/a")
      cold = v[0, 5 + nv] == "nan" ? -1 : v[0, 5 + nv] + 0
      print line r32 r16 cell(cold, 12) cell(n > 1 ? median(5 + nv, 1) : -1, 12)
    }
  ' "$results"
done

echo
srss=$("$bench" train --model resnet18 --batch 128 --threads 2 --warmup 0 --passes 1 --steps 1 | rss)
trss=$("$python" "$torch_py" --model resnet18 --batch 128 --threads 2 --warmup 0 --passes 1 --steps 1 | rss)
echo "peak RSS of one ResNet-18 batch-128 float32 step: slab $srss MiB, torch $trss MiB"
