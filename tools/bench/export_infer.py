"""Inference images/s of a network slab-export wrote, in ONNX Runtime or PyTorch: a fixed
random batch, `--passes` timed passes of `--steps` forward passes after one warm-up, the
median printed as `runtime=... batch=... threads=... imgs_per_s=...` (the twin of
`slab-bench infer`; tools/bench/export_bench.sh runs them side by side).

    python export_infer.py --onnx NET.onnx --batch 256 [--threads 2]
    python export_infer.py --pytorch NET.py --batch 1
"""
import argparse
import importlib.util
import statistics
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--onnx")
    what.add_argument("--pytorch")
    parser.add_argument("--shape", required=True, help="one example, C,H,W (e.g. 3,32,32)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    shape = [args.batch] + [int(v) for v in args.shape.split(",")]
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    if args.onnx:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        forward = lambda: session.run(None, {name: x})  # noqa: E731
        runtime = "onnxruntime-" + ort.__version__
    else:
        import torch

        torch.set_num_threads(args.threads)
        spec = importlib.util.spec_from_file_location("exported_network", args.pytorch)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.load()
        tx = torch.from_numpy(x)

        def forward():
            with torch.no_grad():
                return model(tx)

        runtime = "pytorch-" + torch.__version__
    forward()
    rates = []
    for _ in range(args.passes):
        start = time.perf_counter()
        for _ in range(args.steps):
            forward()
        rates.append(args.batch * args.steps / (time.perf_counter() - start))
    print(f"runtime={runtime} batch={args.batch} threads={args.threads} imgs_per_s={statistics.median(rates):.1f}")


if __name__ == "__main__":
    main()
