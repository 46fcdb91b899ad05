#!/usr/bin/env python3
"""Pick the sghmc-spl settings to repeat on more seeds, from seed-1 runs (experiments/README.md).

    experiments/pick_config.py GRID_FILE RUN_ROOT --min-conv-removed 0.4 --take 2 --seeds 2,3

Among the grid's sghmc-spl runs whose folder under RUN_ROOT finished, keeps those that
removed at least --min-conv-removed of the conv weights, ranks them by BMA accuracy (ties:
NLL), and prints the grid lines of the best --take settings with each of --seeds in place
of their seed (the run name's -s<seed> suffix and the --seed flag). Prints nothing when no
run qualifies (then the most-pruning runs are repeated instead, so the spread is known).
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize_runs import read_run  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid")
    parser.add_argument("runs")
    parser.add_argument("--min-conv-removed", type=float, default=0.4)
    parser.add_argument("--take", type=int, default=2)
    parser.add_argument("--seeds", default="2,3")
    args = parser.parse_args()
    lines = {}
    for line in open(args.grid):
        fields = line.split(None, 1)
        if len(fields) == 2 and not fields[0].startswith("#") and "sghmc-spl" in fields[1]:
            lines[fields[0]] = fields[1].strip()
    finished = []
    for name in lines:
        if os.path.exists(os.path.join(args.runs, name, "summary.json")):
            finished.append((name, read_run(os.path.join(args.runs, name))))
    good = [f for f in finished if f[1]["conv_removed"] >= args.min_conv_removed]
    ranked = sorted(good, key=lambda f: (-f[1]["acc"], f[1]["nll"]))
    if not ranked:  # nothing pruned enough: repeat the most-pruning ones
        ranked = sorted(finished, key=lambda f: -f[1]["conv_removed"])
    for name, run in ranked[: args.take]:
        print(f"# picked {name}: acc {run['acc']:.2f}, conv_removed {run['conv_removed']:.3f}", file=sys.stderr)
        for seed in args.seeds.split(","):
            new_name = re.sub(r"-s\d+$", f"-s{seed}", name)
            new_args = re.sub(r"--seed \d+", f"--seed {seed}", lines[name])
            print(f"{new_name} {new_args}")


if __name__ == "__main__":
    main()
