#!/usr/bin/env python3
"""How many posterior samples should enter the model average? (standard library only)

    experiments/sample_subsets.py --eval build/bin/slab-eval --from 28,25,21 \
        [--baseline SGD_RUN_DIR...] RUN_DIR...

For every run folder and every first epoch E of --from, runs
`slab-eval RUN --samples-from-epoch E --threads 1` (the model average of the samples saved
at epoch E or later) and prints one markdown row per run and E, then the mean over the runs
for each E. With --baseline, each run is set beside the baseline run of the same seed
(config.json "seed"; SGD's final weights, summary.json) and the means of the differences,
the number of seeds within 2 points of accuracy, and those with lower NLL and ECE are printed.
Each mean difference comes with its standard error over the seeds (sd / sqrt(n) of the
paired differences), so a difference smaller than about twice its error reads as a tie.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys


def seed_of(run_dir):
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)["seed"]


def bma(eval_program, run_dir, first_epoch):
    """acc, nll, ece and the sample count of slab-eval's last key=value line."""
    out = subprocess.run([eval_program, run_dir, "--samples-from-epoch", str(first_epoch), "--threads", "1"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"sample_subsets.py: slab-eval failed on {run_dir} (exit {out.returncode}):\n{out.stdout}{out.stderr}")
    values = dict(re.findall(r"(\w+)=([0-9.eE+-]+)", out.stdout.strip().splitlines()[-1]))
    return {"acc": 100 * float(values["bma_acc"]), "nll": float(values["bma_nll"]), "ece": float(values["bma_ece"]),
            "samples": int(values["samples"])}


def baseline_metrics(run_dir):
    """The baseline's test metrics: its model average when it saved samples, else the final weights."""
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    test = summary.get("posterior", {}).get("average") or summary["test"]
    return {"acc": 100 * test["accuracy"], "nll": test["nll"], "ece": test["ece"]}


def paired(values, digits):
    """The mean of paired differences, with its standard error when there are two or more."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return f"{mean:+.{digits}f}"
    return f"{mean:+.{digits}f} ± {statistics.stdev(values) / len(values) ** 0.5:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", required=True, help="the slab-eval program")
    parser.add_argument("--from", dest="first_epochs", required=True, help="first epochs, comma-separated (1-based)")
    parser.add_argument("--baseline", nargs="*", default=[], help="baseline run folders, matched by seed")
    parser.add_argument("runs", nargs="+")
    args = parser.parse_args()
    first_epochs = [int(e) for e in args.first_epochs.split(",")]
    baselines = {seed_of(b): baseline_metrics(b) for b in args.baseline}

    print("| run | seed | from epoch | samples | acc | nll | ece |" + (" base acc | base nll | base ece |" if baselines else ""))
    print("|---|---|---|---|---|---|---|" + ("---|---|---|" if baselines else ""))
    rows = {e: [] for e in first_epochs}
    for run in args.runs:
        if not os.path.exists(os.path.join(run, "summary.json")):
            print(f"skipping {run}: no summary.json (not finished)", file=sys.stderr)
            continue
        seed = seed_of(run)
        for e in first_epochs:
            m = bma(args.eval, run, e)
            base = baselines.get(seed)
            rows[e].append((m, base))
            line = f"| {os.path.basename(run.rstrip('/'))} | {seed} | {e} | {m['samples']} | {m['acc']:.2f} | {m['nll']:.4f} | {m['ece']:.4f} |"
            if baselines:
                line += f" {base['acc']:.2f} | {base['nll']:.4f} | {base['ece']:.4f} |" if base else " - | - | - |"
            print(line, flush=True)
    print()
    print("| from epoch | runs | acc | nll | ece |" + (" acc - base | nll - base | ece - base | within 2 | nll lower | ece lower |" if baselines else ""))
    print("|---|---|---|---|---|" + ("---|---|---|---|---|---|" if baselines else ""))
    for e, pairs in rows.items():
        mean = {k: statistics.mean(m[k] for m, _ in pairs) for k in ("acc", "nll", "ece")}
        line = f"| {e} | {len(pairs)} | {mean['acc']:.2f} | {mean['nll']:.4f} | {mean['ece']:.4f} |"
        matched = [(m, b) for m, b in pairs if b]
        if baselines and matched:
            diff = {k: [m[k] - b[k] for m, b in matched] for k in ("acc", "nll", "ece")}
            within = sum(m["acc"] >= b["acc"] - 2 for m, b in matched)
            nll_lower = sum(m["nll"] < b["nll"] for m, b in matched)
            ece_lower = sum(m["ece"] < b["ece"] for m, b in matched)
            line += (f" {paired(diff['acc'], 2)} | {paired(diff['nll'], 4)} | {paired(diff['ece'], 4)} |"
                     f" {within}/{len(matched)} |"
                     f" {nll_lower}/{len(matched)} | {ece_lower}/{len(matched)} |")
        print(line)


if __name__ == "__main__":
    main()
