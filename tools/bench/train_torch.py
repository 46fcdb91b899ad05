#!/usr/bin/python3
"""PyTorch twin of `slab-bench train`: images/s of training steps on random data.

Run with Debian's python3-torch (1.13) or with PyTorch 2 from tools/bench/pytorch2-env.sh:
    /usr/bin/python3 tools/bench/train_torch.py --model resnet20 --batch 128
    "$(tools/bench/pytorch2-env.sh)" tools/bench/train_torch.py --variant bf16-autocast-compile

--variant picks how PyTorch runs the same step (the twins of `slab-bench train --precision`):
  fp32-nchw                    float32, NCHW tensors (the default; any PyTorch)
  fp32-channels-last           float32, model and batch in channels-last (NHWC) memory format,
                               the layout oneDNN's direct convolutions prefer
  bf16-autocast-channels-last  channels-last, forward and loss under
                               torch.autocast("cpu", dtype=torch.bfloat16): convolutions and
                               linear layers take bf16 inputs (oneDNN runs them on AMX or
                               AVX512-BF16 where the CPU has them), weights, gradients and the
                               SGD state stay float32 -- what slab's --precision bf16 does
  bf16-autocast-compile        the same through torch.compile (inductor, which writes and
                               compiles C++ kernels with the system's C++ compiler); PyTorch 2
                               only. The warm-up steps include the compilation, which is
                               reported on its own line (compile_s=) and not timed.

One step = forward, cross entropy, backward and SGD (lr 0.01, momentum 0.9, weight decay
5e-4), on one fixed random batch, exactly as slab-bench train times it: the same warm-up
steps, passes and steps per pass, the median over passes, and the peak resident memory of
the process (resource.getrusage). torch.set_num_threads(2) by default, the cores of the
reference machine. The models come from tests/golden/make_golden_models.py, the PyTorch
definitions the golden tests check slab's models against, so both sides time the same
architecture. Prints a final line `model=... batch=... threads=... imgs_per_s=...`.
"""
import argparse
import os
import resource
import statistics
import sys
import time

import contextlib

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "golden"))
from make_golden_models import make  # noqa: E402  (the golden twins of slab's models)


def input_shape(model, batch, image_size):
    mnist_like = model == "small-cnn" or model.startswith("mlp-")
    imagenet = "-imagenet" in model
    size = image_size or (28 if mnist_like else 224 if imagenet else 32)
    return (batch, 1 if mnist_like else 3, size, size)


VARIANTS = ("fp32-nchw", "fp32-channels-last", "bf16-autocast-channels-last", "bf16-autocast-compile")


def prepare(variant, model, images):
    """The model to call, the batch in the variant's memory format, and the autocast context."""
    channels_last = variant != "fp32-nchw" and images.dim() == 4
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    if variant.startswith("bf16-autocast"):
        def autocast():
            return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    else:
        autocast = contextlib.nullcontext
    forward = model
    if variant == "bf16-autocast-compile":
        if not hasattr(torch, "compile"):
            sys.exit(f"error: --variant {variant} needs torch.compile (PyTorch 2); this is torch {torch.__version__}")
        forward = torch.compile(model)
    return forward, images, autocast


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=0)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", default="fp32-nchw", choices=VARIANTS)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    shape = input_shape(args.model, args.batch, args.image_size)
    model = make(args.model, num_classes=args.classes, in_channels=shape[1])
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(shape)
    labels = torch.randint(0, args.classes, (args.batch,))
    params = sum(p.numel() for p in model.parameters())
    forward, images, autocast = prepare(args.variant, model, images)
    print(f"torch train benchmark: {args.model}, batch {args.batch}, input {list(shape)}, {params} parameters, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, variant {args.variant}")
    loss_sum = 0.0

    def step():
        nonlocal loss_sum
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(forward(images), labels)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item()

    # torch.compile traces and compiles on the first call (the forward and backward graphs),
    # so that variant always warms up with at least one step, and the timed passes exclude it.
    compiled = args.variant == "bf16-autocast-compile"
    warmup = max(args.warmup, 1) if compiled else args.warmup
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    if compiled:
        print(f"compile_s={time.perf_counter() - start:.1f} (warm-up of {warmup} steps, compilation included)")
    rates = []
    for p in range(1, args.passes + 1):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        seconds = time.perf_counter() - start
        rates.append(args.steps * args.batch / seconds)
        print(f"pass {p}: {args.steps} steps in {seconds:.3f} s = {rates[-1]:.1f} imgs/s "
              f"({1000 * seconds / args.steps:.1f} ms/step)", flush=True)
    rate = statistics.median(rates)
    print(f"median: {rate:.1f} imgs/s (min {min(rates):.1f}, max {max(rates):.1f}) "
          f"[mean loss {loss_sum / (warmup + args.passes * args.steps):.4f}]")
    print(f"peak_rss_mib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    print(f"model={args.model} batch={args.batch} threads={torch.get_num_threads()} variant={args.variant} "
          f"imgs_per_s={rate:.1f}")


if __name__ == "__main__":
    main()
