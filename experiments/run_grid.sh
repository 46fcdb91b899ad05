#!/usr/bin/env bash
# Run a grid of training runs, a few at a time, and summarise them (experiments/README.md).
#
#   experiments/run_grid.sh PROGRAM GRID_FILE OUT_DIR [JOBS]
#
# GRID_FILE: one run per line, `NAME ARG...` (blank lines and # comments skipped); each run
# becomes `PROGRAM ARG... --output OUT_DIR/NAME --progress none` with its log in
# OUT_DIR/NAME.log. JOBS runs go at once (default 2). Runs whose OUT_DIR/NAME/summary.json
# exists are skipped, so an interrupted grid can be resumed. GRID_EXTRA_ARGS (environment)
# is appended to every run's arguments, e.g. "--device cuda --data-dir DIR". At the end
# experiments/summarize_runs.py prints the per-run and per-group tables to
# OUT_DIR/summary.md (and stdout). Exit status: the number of failed runs (capped at 100).
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROGRAM="${1:?usage: run_grid.sh PROGRAM GRID_FILE OUT_DIR [JOBS]}"
GRID="${2:?grid file}"
OUT="${3:?output folder}"
JOBS="${4:-2}"
[[ -x "$PROGRAM" ]] || { echo "run_grid.sh: $PROGRAM is not an executable program" >&2; exit 2; }
[[ -f "$GRID" ]] || { echo "run_grid.sh: grid file $GRID not found" >&2; exit 2; }
mkdir -p "$OUT"

failed=0
declare -a pids=() names=()
wait_one() {  # wait for the oldest running job and count a failure
  local pid="${pids[0]}" name="${names[0]}"
  pids=("${pids[@]:1}"); names=("${names[@]:1}")
  if ! wait "$pid"; then
    echo "FAILED: $name (see $OUT/$name.log)"
    failed=$((failed + 1))
  else
    echo "done:   $name ($(grep -o 'test_acc=[^ ]*.*' "$OUT/$name.log" | tail -n 1 | cut -c1-120))"
  fi
}

while read -r name args; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ -f "$OUT/$name/summary.json" ]]; then echo "exists: $name"; continue; fi
  ((${#pids[@]} >= JOBS)) && wait_one
  # shellcheck disable=SC2086  # the grid's arguments are words
  "$PROGRAM" $args ${GRID_EXTRA_ARGS:-} --output "$OUT/$name" --progress none >"$OUT/$name.log" 2>&1 &
  pids+=($!); names+=("$name")
  echo "start:  $name: $args"
done <"$GRID"
while ((${#pids[@]} > 0)); do wait_one; done

runs=()
for dir in "$OUT"/*/; do [[ -f "$dir/summary.json" ]] && runs+=("$dir"); done
if ((${#runs[@]} > 0)); then
  python3 "$ROOT/experiments/summarize_runs.py" "${runs[@]}" | tee "$OUT/summary.md"
fi
exit $((failed > 100 ? 100 : failed))
