"""Runs a network slab-export wrote, in ONNX Runtime or PyTorch, on the input of a reference
file and compares the output with slab's.

    python check_exported.py --onnx NET.onnx --reference REF.safetensors [--tol 1e-4]
    python check_exported.py --pytorch NET.py --reference REF.safetensors [--tol 1e-4]

REF.safetensors holds "input" [N, C, H, W] and "output" [N, K] (slab's output for that input).
Equal within tol: max|a - b| <= tol * max|b| and the same argmax for every example. Prints
`max_abs=... max_ref=... relative=... argmax_equal=0|1 threads=T`, exits 0 when equal, 1 otherwise.
`--threads T` sets the runtime's threads (default 2).
"""
import argparse
import importlib.util
import sys

import numpy as np
from safetensors.numpy import load_file


def run_onnx(path, x, threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x})[0]


def load_module(path):
    spec = importlib.util.spec_from_file_location("exported_network", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_pytorch(path, x, threads):
    import torch

    torch.set_num_threads(threads)
    model = load_module(path).load()
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--onnx")
    what.add_argument("--pytorch")
    parser.add_argument("--reference", required=True)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    reference = load_file(args.reference)
    x = np.ascontiguousarray(reference["input"].astype(np.float32))
    expected = reference["output"].astype(np.float64)
    got = (run_onnx(args.onnx, x, args.threads) if args.onnx else run_pytorch(args.pytorch, x, args.threads))
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        print(f"shape {got.shape} != reference {expected.shape}")
        return 1
    max_abs = float(np.max(np.abs(got - expected)))
    max_ref = float(np.max(np.abs(expected)))
    argmax_equal = bool(np.all(np.argmax(got, 1) == np.argmax(expected, 1)))
    relative = max_abs / max_ref if max_ref > 0 else max_abs
    print(f"max_abs={max_abs:.3g} max_ref={max_ref:.3g} relative={relative:.3g} "
          f"argmax_equal={int(argmax_equal)} threads={args.threads}")
    return 0 if max_abs <= args.tol * max_ref and argmax_equal else 1


if __name__ == "__main__":
    sys.exit(main())
