#!/usr/bin/python3
"""PyTorch twin of `slab-bench ops`, and the driver that compares the two.

  /usr/bin/python3 tools/bench/ops_torch.py run [--iterations 10] [--only conv.r18]
      times the same measurements as `slab-bench ops` with torch (torch.set_num_threads),
      printing the same table and the same `result framework=torch ...` key=value lines.

  /usr/bin/python3 tools/bench/ops_torch.py compare --slab build/bin/slab-bench [--passes 5] [--device cuda]
      runs `slab-bench ops` and this script's `run` alternately (slab first on odd passes,
      torch first on even ones, so drifts in machine load hit both), then prints one row per
      measurement: the median over passes of each framework's median time, GFLOP/s, and
      the ratio torch time / slab time (above 1: slab is faster). --markdown prints the
      table for docs/performance.md. With --device cuda both run on the GPU (torch with
      cudnn.benchmark, each timed call ending with a device synchronisation, as slab's):
      tools/gpu_check.sh uses that for its per-op table.

Use Debian's interpreter (/usr/bin/python3: python3-torch). The shape list below must
match kConvShapes in tools/bench/conv_shapes.h (compare checks that the names agree).
"""
import argparse
import statistics
import subprocess
import sys
import time

# name, c_in, c_out, kernel, stride, padding, input size (square); as in bench_ops.cpp.
CONV_SHAPES = [
    ("r20.stem", 3, 16, 3, 1, 1, 32), ("r20.16", 16, 16, 3, 1, 1, 32),
    ("r20.16-32s2", 16, 32, 3, 2, 1, 32), ("r20.sc16-32", 16, 32, 1, 2, 0, 32),
    ("r20.32", 32, 32, 3, 1, 1, 16), ("r20.32-64s2", 32, 64, 3, 2, 1, 16),
    ("r20.sc32-64", 32, 64, 1, 2, 0, 16), ("r20.64", 64, 64, 3, 1, 1, 8),
    ("r18.stem", 3, 64, 3, 1, 1, 32), ("r18.64", 64, 64, 3, 1, 1, 32),
    ("r18.64-128s2", 64, 128, 3, 2, 1, 32), ("r18.sc64-128", 64, 128, 1, 2, 0, 32),
    ("r18.128", 128, 128, 3, 1, 1, 16), ("r18.128-256s2", 128, 256, 3, 2, 1, 16),
    ("r18.sc128-256", 128, 256, 1, 2, 0, 16), ("r18.256", 256, 256, 3, 1, 1, 8),
    ("r18.256-512s2", 256, 512, 3, 2, 1, 8), ("r18.sc256-512", 256, 512, 1, 2, 0, 8),
    ("r18.512", 512, 512, 3, 1, 1, 4),
    ("r20p.13", 13, 13, 3, 1, 1, 32), ("r20p.13-27s2", 13, 27, 3, 2, 1, 32),
    ("r20p.27", 27, 27, 3, 1, 1, 16), ("r20p.27-45s2", 27, 45, 3, 2, 1, 16),
    ("r20p.45", 45, 45, 3, 1, 1, 8),
]


def parse_results(text):
    """The `result key=value ...` lines of a run, keyed by (name, pass)."""
    results = {}
    for line in text.splitlines():
        if not line.startswith("result "):
            continue
        fields = dict(item.split("=", 1) for item in line.split()[1:])
        results[(fields["name"], fields["pass"])] = fields
    return results


# ---- run: the torch measurements ---------------------------------------------------------

def run(args):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(2024)
    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    if on_gpu:
        torch.backends.cudnn.benchmark = True  # PyTorch's own best, like slab's plan search
        torch.backends.cuda.matmul.allow_tf32 = False  # full float32, as slab by default
        torch.backends.cudnn.allow_tf32 = False
    print(f"torch {torch.__version__} on {device}, {torch.get_num_threads()} threads, mkldnn "
          f"{'on' if torch.backends.mkldnn.is_available() else 'off'}; batch {args.batch}, "
          f"{args.iterations} timed iterations (+{args.warmup} warm-up) per measurement, median")
    print(f"{'measurement':22s} {'pass':8s} {'shape':34s} {'median':>13s} {'rate':>17s}")
    results = []

    def wait():
        if on_gpu:
            torch.cuda.synchronize(device)

    def time_it(body):
        for _ in range(args.warmup):
            body()
        wait()
        times = []
        for _ in range(args.iterations):
            start = time.perf_counter()
            body()
            wait()
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times), min(times)

    def report(name, kind, shape, flops, median_ms, min_ms):
        print(f"{name:22s} {kind:8s} {shape:34s} {median_ms:10.3f} ms {flops / (median_ms * 1e-3) / 1e9:9.1f} GFLOP/s",
              flush=True)
        results.append((name, kind, flops, median_ms, min_ms))

    def selected(name):  # --only: comma-separated texts, any of which the name contains
        return not args.only or any(part and part in name for part in args.only.split(","))

    if not args.skip_gemm and selected("gemm"):
        n = args.gemm_size
        a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
        c = torch.empty(n, n, device=device)
        med, low = time_it(lambda: torch.mm(a, b, out=c))
        report(f"gemm.{n}", "forward", f"{n}^3 float32", 2.0 * n ** 3, med, low)

    for name, c_in, c_out, k, stride, pad, size in CONV_SHAPES:
        name = "conv." + name
        if not selected(name):
            continue
        x = torch.randn(args.batch, c_in, size, size, device=device)
        w = torch.randn(c_out, c_in, k, k, device=device) * 0.1
        out = (size + 2 * pad - k) // stride + 1
        macs = args.batch * c_out * out * out * c_in * k * k
        upstream = torch.randn(args.batch, c_out, out, out, device=device)
        shape = f"{args.batch}x{c_in}x{size}^2 k{k} s{stride} -> {c_out}"

        def forward():
            with torch.no_grad():
                F.conv2d(x, w, None, stride, pad)
        report(name, "forward", shape, 2.0 * macs, *time_it(forward))

        x.requires_grad_(True)
        w.requires_grad_(True)

        def train():  # forward, then the input and weight gradients
            x.grad = None
            w.grad = None
            F.conv2d(x, w, None, stride, pad).backward(upstream)
        report(name, "train", shape, 6.0 * macs, *time_it(train))

    for name, channels, size in (("64x32", 64, 32), ("512x4", 512, 4)):
        if not selected("batch_norm." + name):
            continue
        x = torch.randn(args.batch, channels, size, size, device=device, requires_grad=True)
        weight = torch.ones(channels, device=device, requires_grad=True)
        bias = torch.zeros(channels, device=device, requires_grad=True)
        running_mean, running_var = torch.zeros(channels, device=device), torch.ones(channels, device=device)
        upstream = torch.randn_like(x)

        def bn():
            x.grad = weight.grad = bias.grad = None
            F.batch_norm(x, running_mean, running_var, weight, bias, True, 0.1, 1e-5).backward(upstream)
        report("batch_norm." + name, "train", f"{args.batch}x{channels}x{size}^2", 10.0 * x.numel(), *time_it(bn))

    if selected("max_pool2d.64x32"):
        x = torch.randn(args.batch, 64, 32, 32, device=device, requires_grad=True)
        upstream = torch.randn(args.batch, 64, 16, 16, device=device)

        def pool():
            x.grad = None
            F.max_pool2d(x, 2, 2).backward(upstream)
        report("max_pool2d.64x32", "train", "64x64x32^2 k2 s2", 2.0 * x.numel(), *time_it(pool))
    if selected("adaptive_avg_pool2d.512x4"):
        x = torch.randn(args.batch, 512, 4, 4, device=device, requires_grad=True)
        upstream = torch.randn(args.batch, 512, 1, 1, device=device)

        def adaptive():
            x.grad = None
            F.adaptive_avg_pool2d(x, 1).backward(upstream)
        report("adaptive_avg_pool2d.512x4", "train", "64x512x4^2 -> 1x1", 2.0 * x.numel(), *time_it(adaptive))

    for name, kind, flops, med, low in results:
        print(f"result framework=torch name={name} pass={kind} threads={torch.get_num_threads()} batch={args.batch} "
              f"median_ms={med:.4f} min_ms={low:.4f} gflops={flops / (med * 1e-3) / 1e9:.2f}")


# ---- compare: both frameworks, interleaved -----------------------------------------------

def compare(args):
    common = ["--threads", str(args.threads), "--batch", str(args.batch), "--iterations", str(args.iterations),
              "--warmup", str(args.warmup), "--device", args.device]
    if args.only:
        common += ["--only", args.only]
    if args.skip_gemm:
        common += ["--skip-gemm"]
    slab_command = [args.slab, "ops"] + common + ["--path", args.path]
    torch_command = [sys.executable, __file__, "run"] + common
    per_pass = {"slab": [], "torch": []}
    backend = ""
    for p in range(1, args.passes + 1):
        order = [("slab", slab_command), ("torch", torch_command)]
        if p % 2 == 0:
            order.reverse()
        for framework, command in order:
            start = time.time()
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"error: {' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
            if framework == "slab":
                backend = next((l for l in done.stdout.splitlines() if l.startswith("backend:")), backend)
            per_pass[framework].append(parse_results(done.stdout))
            print(f"pass {p}: {framework} done in {time.time() - start:.1f} s", file=sys.stderr, flush=True)
    keys = list(per_pass["slab"][0].keys())
    missing = [k for k in keys if k not in per_pass["torch"][0]]
    if missing:
        sys.exit(f"error: measurements missing from the torch twin: {missing}")

    def median_ms(framework, key):
        return statistics.median(float(run[key]["median_ms"]) for run in per_pass[framework])

    rows = []
    for key in keys:
        slab_ms, torch_ms = median_ms("slab", key), median_ms("torch", key)
        gflops_per_ms = float(per_pass["slab"][0][key]["gflops"]) * float(per_pass["slab"][0][key]["median_ms"])
        rows.append((key[0], key[1], slab_ms, torch_ms, gflops_per_ms / slab_ms, gflops_per_ms / torch_ms,
                     torch_ms / slab_ms))
    print(backend)
    print(f"{args.passes} passes x {args.iterations} iterations, {args.threads} threads, batch {args.batch}; "
          f"medians over passes of per-pass medians; ratio = torch time / slab time (> 1: slab faster)")
    if args.markdown:
        print("| measurement | pass | slab ms | torch ms | slab GFLOP/s | torch GFLOP/s | ratio |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name, kind, s_ms, t_ms, s_g, t_g, ratio in rows:
            print(f"| {name} | {kind} | {s_ms:.3f} | {t_ms:.3f} | {s_g:.1f} | {t_g:.1f} | {ratio:.2f} |")
    else:
        print(f"{'measurement':26s} {'pass':8s} {'slab ms':>10s} {'torch ms':>10s} {'slab GF/s':>10s} "
              f"{'torch GF/s':>10s} {'ratio':>7s}")
        for name, kind, s_ms, t_ms, s_g, t_g, ratio in rows:
            flag = "" if ratio >= 1.0 else "  <"
            print(f"{name:26s} {kind:8s} {s_ms:10.3f} {t_ms:10.3f} {s_g:10.1f} {t_g:10.1f} {ratio:7.2f}{flag}")
    for name, kind, s_ms, t_ms, s_g, t_g, ratio in rows:
        print(f"compare name={name} pass={kind} slab_ms={s_ms:.4f} torch_ms={t_ms:.4f} ratio={ratio:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("run", "compare"):
        p = sub.add_parser(mode)
        p.add_argument("--threads", type=int, default=2)
        p.add_argument("--batch", type=int, default=64)
        p.add_argument("--iterations", type=int, default=10)
        p.add_argument("--warmup", type=int, default=2)
        p.add_argument("--gemm-size", type=int, default=2048)
        p.add_argument("--only", default="", help="measurements whose name contains one of these comma-separated texts")
        p.add_argument("--skip-gemm", action="store_true")
        p.add_argument("--device", default="cpu", help="cpu, or cuda (both frameworks on the GPU)")
        if mode == "compare":
            p.add_argument("--slab", required=True, help="path of the slab-bench binary")
            p.add_argument("--passes", type=int, default=5)
            p.add_argument("--path", default="auto", help="slab's convolution path (see slab-bench ops --help)")
            p.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.mode == "compare" and args.passes < 1:
        sys.exit("error: --passes must be >= 1")
    run(args) if args.mode == "run" else compare(args)


if __name__ == "__main__":
    main()
