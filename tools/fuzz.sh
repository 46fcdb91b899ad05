#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (-DSLAB_FUZZ=ON, in BUILD_DIR) and runs
# each from its committed seed corpus, fuzz/corpus/<name>/, for an equal share of SECONDS
# (docs/reliability.md#fuzzing). New inputs go to a scratch copy of the corpus, not to the
# repository. A crash, a sanitizer report, a timeout or an allocation above 2 GiB stops the
# target and this script fails, naming the reproducer file (rerun it: BUILD_DIR/fuzz/NAME FILE,
# copied to BUILD_DIR/fuzz-findings/). Each target's log is kept in BUILD_DIR/fuzz-logs/.
#
#   tools/fuzz.sh [BUILD_DIR [SECONDS|ci [JOBS]]]   defaults: build-fuzz, 480, 1 (targets at a time)
#
# SECONDS = 0 replays instead: every committed input of every target once (the seeds and the
# inputs of past findings), no exploration.
#
# ci (what CI runs): the replay, then each target explores for a fixed number of executions
# (kCiRuns below, about 8 CPU-minutes in all on an idle 2-core machine) from a fixed libFuzzer seed.
# A count and a seed, not a time: the same binary tries the same inputs on any machine, fast
# or slow, so a CI verdict never depends on the machine's speed, and a finding is reproduced
# by rerunning the same command.
#
# SLAB_FUZZ_SKIP="fuzz_a fuzz_b" leaves targets out: CI leaves out those with an open finding
# (docs/reliability.md#fuzzing lists them), which would fail every run until it is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1  # the targets are single-threaded; the machine is shared
build=${1:-build-fuzz} budget=${2:-480} jobs=${3:-1}
# Executions per target in ci mode, from the rates of docs/reliability.md#fuzzing so that each
# takes about a minute on an idle machine (the targets run 500 to 6,000 inputs a second).
# fuzz_image's rate depends on where its mutations lead: once they reach headers that claim
# large images within the limits (up to 2^26 pixels, decoded under ASan) it runs about 40
# inputs a second, so its count is sized for that rate.
declare -A kCiRuns=([fuzz_checkpoint]=50000 [fuzz_cifar]=60000 [fuzz_command_line]=30000 [fuzz_config_json]=30000
                    [fuzz_idx]=70000 [fuzz_image]=4000 [fuzz_safetensors]=300000)
kCiSeed=20261207
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DSLAB_FUZZ=ON \
  -DSLAB_CUDA=OFF -DSLAB_BUILD_PROGRAMS=OFF -DSLAB_BUILD_TESTS=OFF -DSLAB_INSTALL=OFF > /dev/null
cmake --build "$build"
targets=()
for source in fuzz/fuzz_*.cpp; do
  name=$(basename "$source" .cpp)
  case " ${SLAB_FUZZ_SKIP:-} " in *" $name "*) echo "$name: left out (SLAB_FUZZ_SKIP)"; continue ;; esac
  targets+=("$name")
done
ci=0
if [ "$budget" = ci ]; then ci=1 budget=0; fi
share=$(( budget * jobs / ${#targets[@]} ))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_one() {  # run_one NAME: fuzzes one target for $share seconds, log in $work/NAME.log
  local name=$1 corpus="$work/$1"
  mkdir -p "$corpus" "$work/$1-artifacts"
  cp "fuzz/corpus/${name#fuzz_}/"* "$corpus/"
  local status=0 limit=(-max_total_time="$share")
  if [ "$ci" -eq 1 ]; then limit=(-runs="${kCiRuns[$name]:?no ci budget for $name in kCiRuns}" -seed="$kCiSeed"); fi
  "$build/fuzz/$name" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
       -print_final_stats=1 -close_fd_mask=1 -artifact_prefix="$work/$1-artifacts/" "$corpus" > "$work/$name.log" 2>&1 || status=$?
  cp "$work/$name.log" "$build/fuzz-logs/"
  if [ "$status" -eq 0 ]; then
    echo "$name: $(grep -E '^stat::number_of_executed_units' "$work/$name.log" | awk '{print $2}') runs," \
         "$(grep -oE 'cov: [0-9]+' "$work/$name.log" | tail -1), $(ls "$corpus" | wc -l) inputs in the corpus"
  else
    tail -40 "$work/$name.log"
    echo "$name: FAILED; reproducer: $(ls "$work/$1-artifacts/"*)" >&2
    mkdir -p "$build/fuzz-findings" && cp "$work/$1-artifacts/"* "$build/fuzz-findings/" 2>/dev/null || true
    return 1
  fi
}
if [ "$budget" -eq 0 ]; then
  failed=0
  for name in "${targets[@]}"; do
    inputs=(fuzz/corpus/"${name#fuzz_}"/*)
    if "$build/fuzz/$name" "${inputs[@]}" > "$work/$name.log" 2>&1; then
      echo "$name: ${#inputs[@]} committed inputs replayed"
    else
      tail -40 "$work/$name.log"
      echo "$name: FAILED on a committed input" >&2
      failed=1
    fi
  done
  if [ "$ci" -eq 0 ] || [ "$failed" -ne 0 ]; then exit $failed; fi
fi
mkdir -p "$build/fuzz-logs"
failed=0
running=0
for name in "${targets[@]}"; do
  run_one "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || failed=1; running=$((running - 1)); fi
done
while [ "$running" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
exit $failed
