#!/usr/bin/env python3
"""PyTorch twins of slab's GPU benchmarks, run by tools/gpu_check.sh on the GPU machine.

Measures, on one CUDA device:
  train   ResNet-18 (CIFAR form, kuangliu layout: 3x3 stem, no max-pool, [2, 2, 2, 2] basic
          blocks, 4x4 average pool, linear 512 -> 10) training images/s: forward, cross-entropy,
          backward, SGD step (momentum 0.9, weight decay 5e-4), batch 128 of synthetic
          32x32 images already on the GPU (the loader is not part of the measurement);
          eager mode, cudnn.benchmark = True; once in full float32 (TF32 off for matmul and
          cuDNN), once with TF32 on, and once under torch.autocast("cuda", torch.bfloat16)
          (TF32 off: what slab's --precision bf16 is set against).
  sghmc   the sghmc-spl step of docs/algorithm.md#sghmc-spl-step over ResNet-18's
          parameters, written one tensor op per line as the reference PyTorch code does
          (full-size tensors for rho, momentum, the previous noise, the per-weight decay and
          the hard mask), in ms per step.

Prints one `key=value` line per measurement (what gpu_check.sh parses), e.g.
  torch_train_fp32_images_per_second=1234.5
  torch_train_tf32_images_per_second=2345.6
  torch_train_bf16_images_per_second=3456.7
  torch_sghmc_spl_step_ms=3.21
Usage: train_torch_gpu.py [--mode train|sghmc|all] [--batch-size 128] [--steps 30] [--warmup 5]
"""
import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, 2, 1)
        self.layer2 = self._make_layer(128, 2, 2)
        self.layer3 = self._make_layer(256, 2, 2)
        self.layer4 = self._make_layer(512, 2, 2)
        self.linear = nn.Linear(512, num_classes)

    def _make_layer(self, planes, blocks, stride):
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4).flatten(1)
        return self.linear(out)


def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    torch.set_float32_matmul_precision("high" if on else "highest")


def bench_train(batch_size, steps, warmup, tf32, bf16=False):
    set_tf32(tf32)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = ResNet18().to(device)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(batch_size, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    if not math.isfinite(loss.item()):
        raise RuntimeError("the loss is not finite")
    return batch_size * steps / elapsed


def bench_sghmc(steps, warmup):
    """docs/algorithm.md#adaptive-variational-update (the dense step) with the per-weight
    decay and hard mask of docs/algorithm.md#sghmc-spl-step, one tensor operation per line,
    every state a full-size tensor."""
    set_tf32(False)
    torch.manual_seed(0)
    device = torch.device("cuda")
    params = [p.detach().clone() for p in ResNet18().to(device).parameters()]
    grads = [torch.randn_like(p) for p in params]
    rho = [torch.zeros_like(p) for p in params]
    momentum = [0.001 * torch.randn_like(p) for p in params]
    xi_prev = [torch.randn_like(p) for p in params]
    decay = [torch.full_like(p, 5e-4) for p in params]   # lambda per weight (slab or spike)
    mask = [torch.ones_like(p) for p in params]          # hard mask
    n_data, temperature, eta, beta1, beta2 = 50000.0, 1.0 / 50000.0, 0.1, 0.1, 1.0
    c2 = 0.5
    c = math.sqrt(c2)
    c15 = c ** 1.5
    c3 = c ** 3

    def step():
        for i, w in enumerate(params):
            g = grads[i]
            tau_old = torch.sigmoid(rho[i])
            a = decay[i] * tau_old
            a = a * (temperature * temperature * c3)
            b = xi_prev[i] * g
            b = b * (temperature * c15)
            e = 1.0 / tau_old
            e = e / n_data
            d = a + b
            d = d - e
            rho[i].sub_(eta * d)
            tau = torch.sigmoid(rho[i])
            xi = torch.randn_like(w)
            gw = decay[i] * w
            gw = g + gw
            momentum[i].mul_(beta1)
            momentum[i].sub_(c2 * beta2 * gw)
            momentum[i].add_(math.sqrt(2.0 + 2.0 * beta1 * beta1) * c15 * temperature * xi)
            momentum[i].mul_(mask[i])
            w.add_(tau * momentum[i])
            w.mul_(mask[i])
            xi_prev[i] = xi

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["train", "sghmc", "all"], default="all")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("error: PyTorch sees no CUDA device", file=sys.stderr)
        return 1
    print(f"torch_version={torch.__version__} cuda={torch.version.cuda} cudnn={torch.backends.cudnn.version()} "
          f"device={torch.cuda.get_device_name(0).replace(' ', '_')}", flush=True)
    if args.mode in ("train", "all"):
        fp32 = bench_train(args.batch_size, args.steps, args.warmup, tf32=False)
        print(f"torch_train_fp32_images_per_second={fp32:.1f}", flush=True)
        tf32 = bench_train(args.batch_size, args.steps, args.warmup, tf32=True)
        print(f"torch_train_tf32_images_per_second={tf32:.1f}", flush=True)
        bf16 = bench_train(args.batch_size, args.steps, args.warmup, tf32=False, bf16=True)
        print(f"torch_train_bf16_images_per_second={bf16:.1f}", flush=True)
    if args.mode in ("sghmc", "all"):
        ms = bench_sghmc(max(args.steps, 20), args.warmup)
        print(f"torch_sghmc_spl_step_ms={ms:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
