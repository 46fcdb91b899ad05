#!/usr/bin/env python3
"""bf16 against float32, paired by seed: issue 18's accuracy rules (standard library only)

    experiments/precision_pairs.py [--export build/bin/slab-export --dense-conv-weights N] \
        FP32_RUN:BF16_RUN ...

Each argument pairs two run folders of the same seed and flags, one trained with
--precision fp32 and one with bf16. Printed, in markdown:

- per pair: the final test accuracy (summary.json "test"), the model average's where the run
  has posterior samples ("posterior" "bma"), and with --export the conv weights the last
  sample removes: 1 - (weights of the 4-dimensional tensors of `slab-export RUN --sample
  LAST --format safetensors`, the compact network) / N, N being the dense architecture's
  conv weights (ResNet-20: 267,696);
- the mean paired difference d = bf16 - fp32 of each, with its standard error over the
  seeds (sd / sqrt(n)), and whether |mean d| <= 2 standard errors and <= 1 point;
- the training-loss curves (metrics.csv "train_loss"): at each epoch the gap between the
  two precisions' means over the seeds and the larger of their seed-to-seed standard
  deviations, and the number of epochs where the gap is at most that spread.
The rules (experiments/grids/cifar-resnet20-m.grid): accuracies met if |mean d| <= 2
standard errors and <= 1 point; conv weights removed met if |mean d| <= 5 points; the loss
curves met if the gap is within the spread at every epoch.
"""
import argparse
import csv
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile


def summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def train_losses(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [float(row["train_loss"]) for row in csv.DictReader(f)]


def conv_weights_of_last_sample(export_program, run_dir):
    """Weights of the 4-D tensors of the run's last posterior sample, exported compact."""
    samples = sorted(os.listdir(os.path.join(run_dir, "samples")))
    epoch = int(samples[-1].split("-")[-1].split(".")[0])
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([export_program, run_dir, "--sample", str(epoch), "--format", "safetensors",
                               "--output", out, "--threads", "1"], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"precision_pairs.py: slab-export failed on {run_dir}:\n{done.stdout}{done.stderr}")
        [weights] = [name for name in os.listdir(out) if name.endswith(".safetensors")]
        with open(os.path.join(out, weights), "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    return sum(math.prod(entry["shape"]) for name, entry in header.items()
               if name != "__metadata__" and len(entry["shape"]) == 4)


def paired(label, fp32, bf16, rule):
    """One row: the mean paired difference, its standard error, and whether `rule` holds."""
    d = [b - a for a, b in zip(fp32, bf16)]
    mean = statistics.mean(d)
    se = statistics.stdev(d) / math.sqrt(len(d))
    held = abs(mean) <= 2 * se and abs(mean) <= 1.0 if rule == "accuracy" else abs(mean) <= 5.0
    print(f"| {label} | {statistics.mean(fp32):.2f} | {statistics.mean(bf16):.2f} | {mean:+.2f} ± {se:.2f} | "
          f"{'met' if held else 'missed'} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", help="FP32_RUN:BF16_RUN")
    parser.add_argument("--export", help="slab-export, to count the last sample's conv weights")
    parser.add_argument("--dense-conv-weights", type=int, help="the dense architecture's conv weights")
    args = parser.parse_args()
    if bool(args.export) != bool(args.dense_conv_weights):
        sys.exit("precision_pairs.py: --export and --dense-conv-weights go together")
    pairs = [tuple(p.split(":")) for p in args.pairs]
    if any(len(p) != 2 for p in pairs):
        sys.exit("precision_pairs.py: each pair is FP32_RUN:BF16_RUN")

    rows = {"acc": ([], []), "bma": ([], []), "removed": ([], [])}
    print("| fp32 run | bf16 run | acc fp32 / bf16 | model average fp32 / bf16 | conv removed fp32 / bf16 |")
    print("|---|---|---|---|---|")
    for fp32_run, bf16_run in pairs:
        cells = []
        for key in ("acc", "bma", "removed"):
            values = []
            for k, run in enumerate((fp32_run, bf16_run)):
                s = summary(run)
                if key == "acc":
                    value = 100 * s["test"]["accuracy"]
                elif key == "bma":
                    value = 100 * s["posterior"]["bma"]["accuracy"] if "posterior" in s else None
                else:
                    value = (100 * (1 - conv_weights_of_last_sample(args.export, run) / args.dense_conv_weights)
                             if args.export and "posterior" in s else None)
                values.append(value)
            if None not in values:
                for k in range(2):
                    rows[key][k].append(values[k])
                cells.append(f"{values[0]:.2f} / {values[1]:.2f}")
            else:
                cells.append("-")
        print(f"| {os.path.basename(fp32_run.rstrip('/'))} | {os.path.basename(bf16_run.rstrip('/'))} | " +
              " | ".join(cells) + " |")

    print("\n| quantity | mean fp32 | mean bf16 | bf16 - fp32 (points) | rule |")
    print("|---|---:|---:|---|---|")
    for key, label, rule in (("acc", "test accuracy % (within 2 SE and 1 point)", "accuracy"),
                             ("bma", "model average accuracy % (within 2 SE and 1 point)", "accuracy"),
                             ("removed", "conv weights removed % (within 5 points)", "removed")):
        if len(rows[key][0]) >= 2:
            paired(label, rows[key][0], rows[key][1], rule)

    curves = [(train_losses(a), train_losses(b)) for a, b in pairs]
    epochs = min(min(len(a), len(b)) for a, b in curves)
    held = 0
    worst = (0.0, 0)
    for e in range(epochs):
        fp32 = [a[e] for a, _ in curves]
        bf16 = [b[e] for _, b in curves]
        gap = abs(statistics.mean(bf16) - statistics.mean(fp32))
        spread = max(statistics.stdev(fp32), statistics.stdev(bf16))
        held += gap <= spread
        worst = max(worst, (gap / spread if spread > 0 else math.inf, e + 1))
    print(f"\ntraining loss: gap between the means <= the larger seed-to-seed sd at {held} of {epochs} epochs; "
          f"largest gap / spread {worst[0]:.2f} (epoch {worst[1]})")


if __name__ == "__main__":
    main()
