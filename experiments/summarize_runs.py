#!/usr/bin/env python3
"""Summarise slab run folders as the tables of docs/results.md (standard library only).

    experiments/summarize_runs.py RUN_DIR... [--group-by optimizer,lr]

For each run folder (written by a slab-train-* program) it reads summary.json, config.json
and sparsity.txt and prints one row per run, then, per group of runs that differ only in
their seed, the mean and the spread (min..max) of each column:

  acc, nll, ece   of the Bayesian model average of the run's posterior samples when it saved
                  any (the samplers), else of the final weights (SGD);
  sparsity        exact zeros over all parameters (biases and BatchNorm included);
  conv_removed    the sparsity report's fraction of conv weights removed: zero, in a dead
                  filter, or reading a dead channel (reports older than that field: the
                  conv weights' exact zeros, which arise only from the hard masks);
  flops_kept      multiply-adds per example after pruning over dense (dead channels
                  propagated through BatchNorm and residual sums).
"""
import argparse
import json
import os
import re
import statistics
import sys


def conv_removed(run_dir):
    """The report's conv_removed (zero, in a dead filter, or reading a dead channel); for
    reports written before it existed, zeros over parameters of the conv rows."""
    path = os.path.join(run_dir, "sparsity.txt")
    if not os.path.exists(path):  # optimizers without a prior (SGD) write no report
        return 0.0
    with open(path) as f:
        text = f.read()
    found = re.search(r"conv_removed=([0-9.eE+-]+)", text)
    if found:
        return float(found.group(1))
    params = zeros = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[1] == "conv":
            params += int(fields[2])
            zeros += int(fields[3])
    return zeros / params if params else float("nan")


def read_run(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    bma = summary.get("posterior", {}).get("bma")
    metrics = bma if bma else summary["test"]
    optimizer = config["optimizer"]
    return {
        "run": os.path.basename(os.path.normpath(run_dir)),
        # runs named NAME-s1, NAME-s2, ... are the seeds of one configuration NAME
        "config": re.sub(r"-s\d+$", "", os.path.basename(os.path.normpath(run_dir))),
        "model": config.get("model", "?"),
        "optimizer": optimizer["name"],
        "lr": optimizer["lr"],
        "seed": config.get("seed", 0),
        "epochs": config.get("epochs", 0),
        "samples": len(summary.get("posterior", {}).get("samples", [])),
        "acc": 100.0 * metrics["accuracy"],
        "nll": metrics["nll"],
        "ece": metrics["ece"],
        "sparsity": summary.get("sparsity", {}).get("sparsity", 0.0),
        "conv_removed": conv_removed(run_dir),
        "flops_kept": summary.get("sparsity", {}).get("flops_kept", 1.0),
    }


COLUMNS = [("acc", "{:.2f}"), ("nll", "{:.4f}"), ("ece", "{:.4f}"), ("sparsity", "{:.3f}"),
           ("conv_removed", "{:.3f}"), ("flops_kept", "{:.3f}")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--group-by", default="config,optimizer,lr",
                        help="keys that define a group of runs differing only by seed (config: the run "
                             "folder's name without a trailing -s<seed>)")
    args = parser.parse_args()
    rows = []
    for run_dir in args.runs:
        try:
            rows.append(read_run(run_dir))
        except (OSError, KeyError, ValueError) as error:
            print(f"skipping {run_dir}: {error}", file=sys.stderr)
    if not rows:
        sys.exit("no readable run folders")

    print("| run | optimizer | lr | seed | samples | " + " | ".join(c for c, _ in COLUMNS) + " |")
    print("|---" * (5 + len(COLUMNS)) + "|")
    for r in rows:
        values = " | ".join(fmt.format(r[c]) for c, fmt in COLUMNS)
        print(f"| {r['run']} | {r['optimizer']} | {r['lr']:g} | {r['seed']} | {r['samples']} | {values} |")

    keys = args.group_by.split(",")
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    print()
    print("| " + " | ".join(keys) + " | seeds | " + " | ".join(c for c, _ in COLUMNS) + " |")
    print("|---" * (len(keys) + 1 + len(COLUMNS)) + "|")
    for key, members in groups.items():
        cells = []
        for c, fmt in COLUMNS:
            values = [m[c] for m in members]
            mean = statistics.fmean(values)
            if len(values) > 1:
                cells.append(f"{fmt.format(mean)} ({fmt.format(min(values))}..{fmt.format(max(values))})")
            else:
                cells.append(fmt.format(mean))
        print("| " + " | ".join(str(k) for k in key) + f" | {len(members)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
