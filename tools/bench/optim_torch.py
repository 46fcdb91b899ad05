#!/usr/bin/python3
"""PyTorch twin of `slab-bench optim`: the same optimizer step on the same parameter shapes,
timed with torch on the same number of threads. `slab-bench optim` runs it itself and
prints both numbers; it can also run alone:

  /usr/bin/python3 tools/bench/optim_torch.py --shapes shapes.json --optimizer sghmc-spl \
      --steps 20 --warmup 3 --threads 2

shapes.json: [{"name": ..., "grouping": "conv-kernels" | "linear-columns" | "none",
"shape": [...]}, ...] (slab-bench writes it from the model's named_parameters()).

The sampler step is docs/algorithm.md#sghmc-spl-step written the way the authors write it:
one tensor op per line, full-size per-weight state
(rho, tau, momentum, noise, the soft mask holding each weight's lambda, the hard mask), a
fresh torch.randn_like for the noise. That is the reference's memory layout
(six full-size tensors per parameter) and its kernel count; slab fuses the same maths into
one pass over w, g, m and rho (optim/sghmc.cpp). The baselines (csghmc, vb-adaptive, ivon)
are written the same way from docs/algorithm.md#baselines.

Use Debian's interpreter (/usr/bin/python3: python3-torch). Prints the per-step times and
ends with `torch_ms_per_step=...`.
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch

N = 50000.0  # CIFAR-10's training-set size, as in slab-bench optim


class SghmcTwin:
    """Preconditioned SGHMC with the spike-and-slab masks (docs/algorithm.md#sghmc-spl-step)."""

    def __init__(self, params, lr=1.0, eta=0.1, beta1=0.1, beta2=1.0, lambda1=5e-4, spike=True):
        self.params, self.lr, self.eta, self.beta1, self.beta2, self.spike = params, lr, eta, beta1, beta2, spike
        self.temperature = 1.0 / N
        self.state = []
        for p in params:
            self.state.append({
                "rho": torch.zeros_like(p),
                "tau": torch.full_like(p, 0.5),
                "momentum": 0.001 * torch.randn_like(p),
                "noise": torch.randn_like(p),
                "soft": torch.full_like(p, lambda1),  # each weight's lambda (the soft mask)
                "hard": torch.ones_like(p),           # the hard mask
            })

    @torch.no_grad()
    def step(self):
        c2 = self.lr
        c = math.sqrt(c2)
        t = self.temperature
        for p, st in zip(self.params, self.state):
            g = p.grad
            st["tau"] = torch.sigmoid(st["rho"])
            a = st["soft"] * st["tau"]
            a = a * (t * t * c ** 3)
            b = st["noise"] * g
            b = b * (t * c ** 1.5)
            d = torch.reciprocal(st["tau"])
            d = d * (1.0 / N)
            a = a + b
            a = a - d
            a = a * self.eta
            st["rho"].sub_(a)
            st["tau"] = torch.sigmoid(st["rho"])
            st["noise"] = torch.randn_like(p)
            e = st["soft"] * p
            e = e + g
            e = e * (c2 * self.beta2)
            st["momentum"].mul_(self.beta1)
            st["momentum"].sub_(e)
            f = st["noise"] * (math.sqrt(2 + 2 * self.beta1 ** 2) * c ** 1.5 * t)
            st["momentum"].add_(f)
            h = st["tau"] * st["momentum"]
            p.add_(h)
            if self.spike:
                p.mul_(st["hard"])

    def state_bytes(self):
        return sum(x.numel() * x.element_size() for st in self.state for x in st.values())


class CsghmcTwin:
    """cSGHMC (Zhang et al. 2019), noise on (docs/algorithm.md#csghmc)."""

    def __init__(self, params, lr=0.5, alpha=0.9, weight_decay=5e-4, temperature=1.0 / 50000):
        self.params, self.lr, self.alpha, self.wd, self.temperature = params, lr, alpha, weight_decay, temperature
        self.state = [{"buf": torch.zeros_like(p)} for p in params]

    @torch.no_grad()
    def step(self):
        scale = math.sqrt(2.0 * self.lr * self.alpha * self.temperature / N)
        for p, st in zip(self.params, self.state):
            d = p.grad + self.wd * p
            buf = (1 - self.alpha) * st["buf"]
            buf = buf - self.lr * d
            eps = torch.randn_like(p)
            buf = buf + scale * eps
            p.add_(buf)
            st["buf"] = buf

    def state_bytes(self):
        return sum(st["buf"].numel() * 4 for st in self.state)


class VbAdaptiveTwin:
    """The naive Bayesian adaptive algorithm (docs/algorithm.md#vb-adaptive)."""

    def __init__(self, params, lr=1e-3, beta=0.9, gamma=1e-3, kappa=1.0, alpha=0.5, weight_decay=5e-4):
        self.params, self.lr, self.beta, self.gamma, self.kappa, self.alpha, self.wd = (
            params, lr, beta, gamma, kappa, alpha, weight_decay)
        self.state = [{"mu": p.detach().clone(), "precision": torch.ones_like(p), "m": torch.zeros_like(p)}
                      for p in params]

    @torch.no_grad()
    def step(self):
        for p, st in zip(self.params, self.state):
            g = p.grad
            st["m"].mul_(self.beta)
            st["m"].add_((1 - self.beta) * g)
            gg = g * g
            gg = gg + self.wd
            st["precision"].mul_(1 - self.kappa * self.gamma)
            st["precision"].add_(self.gamma * gg)
            step = st["precision"].pow(-self.alpha)
            d = st["m"] + self.wd * st["mu"]
            st["mu"].sub_(self.lr * step * d)
            eps = torch.randn_like(p)
            sigma = torch.rsqrt(st["precision"])
            p.copy_(st["mu"] + sigma * eps)

    def state_bytes(self):
        return sum(x.numel() * 4 for st in self.state for x in st.values())


class IvonTwin:
    """IVON (Shen et al. 2024) as docs/algorithm.md#ivon writes it, one MC sample."""

    def __init__(self, params, lr=0.1, h0=1.0, beta1=0.9, beta2=0.99999, weight_decay=1e-4):
        self.params, self.lr, self.h0, self.beta1, self.beta2, self.wd = params, lr, h0, beta1, beta2, weight_decay
        self.t = 0
        self.state = [{"m": p.detach().clone(), "h": torch.full_like(p, h0), "gbar": torch.zeros_like(p),
                       "eps": torch.zeros_like(p)} for p in params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        for p, st in zip(self.params, self.state):
            g = p.grad
            sigma_sq = 1.0 / (N * (st["h"] + self.wd))
            hhat = g * st["eps"] / sigma_sq
            st["gbar"].mul_(self.beta1).add_((1 - self.beta1) * g)
            gap = st["h"] - hhat
            st["h"].mul_(self.beta2).add_((1 - self.beta2) * hhat)
            st["h"].add_(0.5 * (1 - self.beta2) ** 2 * gap * gap / (st["h"] + self.wd))
            d = st["gbar"] / (1 - self.beta1 ** self.t) + self.wd * st["m"]
            d = d / (st["h"] + self.wd)
            st["m"].sub_(self.lr * (self.h0 + self.wd) * d)
            st["eps"] = torch.randn_like(p) * torch.rsqrt(N * (st["h"] + self.wd))
            p.copy_(st["m"] + st["eps"])

    def state_bytes(self):
        return sum(x.numel() * 4 for st in self.state for x in st.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", required=True, help="JSON list of parameters (name, grouping, shape)")
    parser.add_argument("--optimizer", default="sghmc-spl",
                        choices=["sghmc-spl", "sghmc", "csghmc", "vb-adaptive", "ivon"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    with open(args.shapes) as f:
        shapes = json.load(f)
    params = []
    for entry in shapes:
        p = torch.nn.Parameter(0.05 * torch.randn(entry["shape"]))
        p.grad = 1e-2 * torch.randn(entry["shape"])
        params.append(p)
    count = sum(p.numel() for p in params)
    twin = {
        "sghmc-spl": lambda: SghmcTwin(params, spike=True),
        "sghmc": lambda: SghmcTwin(params, spike=False),
        "csghmc": lambda: CsghmcTwin(params),
        "vb-adaptive": lambda: VbAdaptiveTwin(params),
        "ivon": lambda: IvonTwin(params),
    }[args.optimizer]()
    for _ in range(args.warmup):
        twin.step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        twin.step()
        times.append(1e3 * (time.perf_counter() - start))
    median = statistics.median(times)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: {args.optimizer} on {count} parameters "
          f"in {len(params)} tensors; median {median:.2f} ms per step (min {min(times):.2f}, max {max(times):.2f}); "
          f"state {twin.state_bytes() / count:.2f} bytes per parameter")
    print(f"torch_ms_per_step={median:.3f} torch_state_bytes_per_param={twin.state_bytes() / count:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
