#!/usr/bin/python3
"""Golden files for slab's core ops, made by PyTorch (Debian's python3-torch 1.13, CPU).

    /usr/bin/python3 tests/golden/make_golden.py                  # every file
    /usr/bin/python3 tests/golden/make_golden.py --only conv2d    # one file (or several)

(/usr/bin/python3 is Debian's interpreter, which has python3-torch: tools/setup.sh
--with-torch installs it; another python3 on PATH may have no torch.) Writes
tests/golden/ops/*.safetensors, read by tests/test_golden.cpp. For every case the
file holds the inputs and parameters (float32: both sides start from exactly the same
numbers), a random upstream gradient (float32), and PyTorch's outputs and gradients with
respect to every input and parameter. The references are computed in float64 from those
float32 inputs, so they are the exact answers up to float64 rounding: slab's float32 path
is compared at a float32 tolerance and its float64 path at a float64 one (see
tests/golden/README.md). Each case's settings (stride, padding, momentum, ...) are in the
header's __metadata__ as "<case>.<setting>" = "a b" strings, so the C++ side reads them
rather than repeating them.

Every file draws its inputs from one seeded stream, in the order of FILES. --only still
computes the files before the ones asked for (a fraction of a second), so the numbers of
a file regenerated alone are those of a full run, and it writes only the files asked for:
the others stay byte for byte as they are. A new file goes at the end of FILES, so that
the files before it keep their inputs.
"""
import argparse
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ops")

DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.int64): "I64"}


def save_safetensors(path, tensors, metadata):
    """The safetensors format: 8-byte little-endian header length, a JSON header naming each
    tensor's dtype, shape and byte range, the header padded with spaces to a multiple of 8,
    then the raw little-endian data."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, array in tensors.items():
        # (np.ascontiguousarray would turn a 0-d array into shape [1]; a copy keeps [].)
        array = np.array(array, order="C", dtype=np.dtype(array.dtype).newbyteorder("="))
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


class Golden:
    """Collects the tensors and settings of one file."""

    def __init__(self, name):
        self.name, self.tensors, self.metadata = name, {}, {"made_by": "tests/golden/make_golden.py",
                                                             "torch": torch.__version__}

    def input(self, key, tensor):  # float32 as stored; returned as a float64 leaf
        value = tensor.detach().to(torch.float32)
        self.tensors[key] = value.numpy()
        return value.to(torch.float64).requires_grad_(True)

    def labels(self, key, tensor):
        self.tensors[key] = tensor.to(torch.int64).numpy()
        return tensor

    def reference(self, key, tensor):
        self.tensors[key] = tensor.detach().to(torch.float64).numpy()

    def setting(self, key, *values):
        self.metadata[key] = " ".join(str(v) for v in values)

    def write(self):
        path = os.path.join(OUT, self.name + ".safetensors")
        save_safetensors(path, self.tensors, self.metadata)
        return path


def upstream(golden, key, like):
    """A random float32 upstream gradient of `like`'s shape, stored under key."""
    return golden.input(key, torch.randn(like.shape)).detach()


def conv2d_file():
    g = Golden("conv2d")
    # name, x shape, weight shape, bias, stride, padding, dilation, groups
    cases = [
        ("basic", (2, 3, 7, 7), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1), 1),
        ("stride2_no_bias", (2, 3, 8, 8), (5, 3, 3, 3), False, (2, 2), (0, 0), (1, 1), 1),
        ("dilation2", (1, 2, 9, 9), (3, 2, 3, 3), True, (1, 1), (2, 2), (2, 2), 1),
        ("groups2_rectangular", (2, 4, 6, 6), (6, 2, 3, 2), True, (2, 1), (1, 0), (1, 1), 2),
        ("depthwise", (1, 4, 5, 5), (4, 1, 3, 3), True, (1, 1), (1, 1), (1, 1), 4),
        ("pointwise_stride2", (2, 4, 6, 6), (8, 4, 1, 1), False, (2, 2), (0, 0), (1, 1), 1),
        ("asymmetric", (1, 3, 7, 9), (2, 3, 3, 5), True, (1, 2), (2, 1), (2, 1), 1),
    ]
    for name, x_shape, w_shape, has_bias, stride, padding, dilation, groups in cases:
        x = g.input(f"{name}.x", torch.randn(x_shape))
        w = g.input(f"{name}.weight", torch.randn(w_shape) * 0.5)
        b = g.input(f"{name}.bias", torch.randn(w_shape[0])) if has_bias else None
        out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        grad_out = upstream(g, f"{name}.grad_out", out)
        out.backward(grad_out.to(torch.float64))
        g.reference(f"{name}.out", out)
        g.reference(f"{name}.grad_x", x.grad)
        g.reference(f"{name}.grad_weight", w.grad)
        if has_bias:
            g.reference(f"{name}.grad_bias", b.grad)
        g.setting(f"{name}.stride", *stride)
        g.setting(f"{name}.padding", *padding)
        g.setting(f"{name}.dilation", *dilation)
        g.setting(f"{name}.groups", groups)
        g.setting(f"{name}.bias", int(has_bias))
    g.setting("cases", *[c[0] for c in cases])
    return g


def batch_norm_file():
    g = Golden("batch_norm")
    # name, x shape, training, affine, momentum, eps
    cases = [
        ("train_4d", (4, 3, 5, 5), True, True, 0.1, 1e-5),
        ("train_2d", (8, 5), True, True, 0.3, 1e-3),
        ("train_4d_no_affine", (3, 2, 3, 3), True, False, 0.1, 1e-5),
        ("eval_4d", (2, 3, 4, 4), False, True, 0.1, 1e-5),
        ("eval_2d", (6, 4), False, True, 0.1, 1e-5),
    ]
    for name, x_shape, training, affine, momentum, eps in cases:
        channels = x_shape[1]
        stat_shape = [1, channels] + [1] * (len(x_shape) - 2)
        # Channels with their own offset and spread, so the statistics matter.
        shift = torch.randn(stat_shape) * 2
        spread = torch.rand(stat_shape) * 2 + 0.5
        x = g.input(f"{name}.x", torch.randn(x_shape) * spread + shift)
        weight = g.input(f"{name}.weight", torch.rand(channels) + 0.5) if affine else None
        bias = g.input(f"{name}.bias", torch.randn(channels)) if affine else None
        running_mean = g.input(f"{name}.running_mean", torch.randn(channels) * 0.5).detach()
        running_var = g.input(f"{name}.running_var", torch.rand(channels) + 0.5).detach()
        out = F.batch_norm(x, running_mean, running_var, weight, bias, training=training, momentum=momentum, eps=eps)
        grad_out = upstream(g, f"{name}.grad_out", out)
        out.backward(grad_out.to(torch.float64))
        g.reference(f"{name}.out", out)
        g.reference(f"{name}.running_mean_after", running_mean)
        g.reference(f"{name}.running_var_after", running_var)
        g.reference(f"{name}.grad_x", x.grad)
        if affine:
            g.reference(f"{name}.grad_weight", weight.grad)
            g.reference(f"{name}.grad_bias", bias.grad)
        g.setting(f"{name}.training", int(training))
        g.setting(f"{name}.affine", int(affine))
        g.setting(f"{name}.momentum", momentum)
        g.setting(f"{name}.eps", eps)
    g.setting("cases", *[c[0] for c in cases])
    return g


def pooling_file():
    g = Golden("pooling")
    # kind, name, x shape, kernel, stride, padding (adaptive: output size in `kernel`)
    cases = [
        ("max", "max_k2_s2", (2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
        ("max", "max_k3_s2_p1", (2, 2, 7, 7), (3, 3), (2, 2), (1, 1)),
        ("max", "max_rectangular_overlapping", (1, 2, 5, 6), (2, 3), (1, 2), (0, 1)),
        ("avg", "avg_k2_s2", (2, 3, 6, 6), (2, 2), (2, 2), (0, 0)),
        ("avg", "avg_k3_s2_p1", (2, 2, 7, 7), (3, 3), (2, 2), (1, 1)),
        ("avg", "avg_rectangular", (1, 2, 6, 5), (3, 2), (2, 1), (1, 0)),
        ("adaptive", "adaptive_7x7_to_3x3", (2, 3, 7, 7), (3, 3), None, None),
        ("adaptive", "adaptive_5x8_to_2x3", (1, 2, 5, 8), (2, 3), None, None),
        ("adaptive", "adaptive_global", (2, 3, 4, 4), (1, 1), None, None),
        ("adaptive", "adaptive_5x3_to_6x4", (1, 2, 5, 3), (6, 4), None, None),
    ]
    for kind, name, x_shape, kernel, stride, padding in cases:
        x = g.input(f"{name}.x", torch.randn(x_shape))
        if kind == "max":
            out = F.max_pool2d(x, kernel, stride, padding)
        elif kind == "avg":
            out = F.avg_pool2d(x, kernel, stride, padding, count_include_pad=True)
        else:
            out = F.adaptive_avg_pool2d(x, kernel)
        grad_out = upstream(g, f"{name}.grad_out", out)
        out.backward(grad_out.to(torch.float64))
        g.reference(f"{name}.out", out)
        g.reference(f"{name}.grad_x", x.grad)
        g.setting(f"{name}.kind", kind)
        if kind == "adaptive":
            g.setting(f"{name}.output_size", *kernel)
        else:
            g.setting(f"{name}.kernel", *kernel)
            g.setting(f"{name}.stride", *stride)
            g.setting(f"{name}.padding", *padding)
    g.setting("cases", *[c[1] for c in cases])
    return g


def linear_file():
    g = Golden("linear")
    cases = [("with_bias", (5, 7), 4, True), ("input_3d", (2, 3, 7), 4, True), ("no_bias", (3, 6), 2, False)]
    for name, x_shape, out_features, has_bias in cases:
        x = g.input(f"{name}.x", torch.randn(x_shape))
        w = g.input(f"{name}.weight", torch.randn(out_features, x_shape[-1]) * 0.4)
        b = g.input(f"{name}.bias", torch.randn(out_features)) if has_bias else None
        out = F.linear(x, w, b)
        grad_out = upstream(g, f"{name}.grad_out", out)
        out.backward(grad_out.to(torch.float64))
        g.reference(f"{name}.out", out)
        g.reference(f"{name}.grad_x", x.grad)
        g.reference(f"{name}.grad_weight", w.grad)
        if has_bias:
            g.reference(f"{name}.grad_bias", b.grad)
        g.setting(f"{name}.bias", int(has_bias))
    g.setting("cases", *[c[0] for c in cases])
    return g


def softmax_and_loss_file():
    g = Golden("softmax_cross_entropy")
    for name, shape, dim in [("log_softmax_rows", (4, 6), 1), ("log_softmax_3d_dim1", (2, 3, 4), 1),
                             ("log_softmax_dim0", (5, 3), 0)]:
        x = g.input(f"{name}.x", torch.randn(shape) * 3)
        out = F.log_softmax(x, dim)
        grad_out = upstream(g, f"{name}.grad_out", out)
        out.backward(grad_out.to(torch.float64))
        g.reference(f"{name}.out", out)
        g.reference(f"{name}.grad_x", x.grad)
        g.setting(f"{name}.dim", dim)
    for name, batch, classes, scale in [("cross_entropy", 6, 5, 1.0), ("cross_entropy_large_logits", 3, 4, 30.0)]:
        logits = g.input(f"{name}.logits", torch.randn(batch, classes) * scale)
        targets = g.labels(f"{name}.targets", torch.randint(0, classes, (batch,)))
        loss = F.cross_entropy(logits, targets)
        grad_out = upstream(g, f"{name}.grad_out", loss)
        loss.backward(grad_out.to(torch.float64))
        g.reference(f"{name}.out", loss)
        g.reference(f"{name}.grad_logits", logits.grad)
    g.setting("log_softmax_cases", "log_softmax_rows", "log_softmax_3d_dim1", "log_softmax_dim0")
    g.setting("cross_entropy_cases", "cross_entropy", "cross_entropy_large_logits")
    return g


def small_convnet_file():
    """conv(3->8, 3x3, pad 1, bias) - bn - relu - maxpool 2 - conv(8->16, 3x3, pad 1) - bn - relu
    - adaptive average pool to 1x1 - flatten - linear(16->10) - cross-entropy, batch norm in
    training mode; the loss, every parameter's gradient, the input's gradient, and the
    running statistics after the step."""
    g = Golden("small_convnet")
    x = g.input("x", torch.randn(4, 3, 8, 8))
    targets = g.labels("targets", torch.randint(0, 10, (4,)))
    p = {
        "conv1.weight": g.input("conv1.weight", torch.randn(8, 3, 3, 3) * 0.3),
        "conv1.bias": g.input("conv1.bias", torch.randn(8) * 0.1),
        "bn1.weight": g.input("bn1.weight", torch.rand(8) + 0.5),
        "bn1.bias": g.input("bn1.bias", torch.randn(8) * 0.1),
        "conv2.weight": g.input("conv2.weight", torch.randn(16, 8, 3, 3) * 0.15),
        "bn2.weight": g.input("bn2.weight", torch.rand(16) + 0.5),
        "bn2.bias": g.input("bn2.bias", torch.randn(16) * 0.1),
        "linear.weight": g.input("linear.weight", torch.randn(10, 16) * 0.3),
        "linear.bias": g.input("linear.bias", torch.randn(10) * 0.1),
    }
    stats = {key: g.input(key, value).detach() for key, value in [
        ("bn1.running_mean", torch.zeros(8)), ("bn1.running_var", torch.ones(8)),
        ("bn2.running_mean", torch.zeros(16)), ("bn2.running_var", torch.ones(16))]}
    h = F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)
    h = F.batch_norm(h, stats["bn1.running_mean"], stats["bn1.running_var"], p["bn1.weight"], p["bn1.bias"],
                     training=True, momentum=0.1, eps=1e-5)
    h = F.max_pool2d(F.relu(h), 2)
    h = F.conv2d(h, p["conv2.weight"], None, padding=1)
    h = F.batch_norm(h, stats["bn2.running_mean"], stats["bn2.running_var"], p["bn2.weight"], p["bn2.bias"],
                     training=True, momentum=0.1, eps=1e-5)
    h = F.adaptive_avg_pool2d(F.relu(h), (1, 1))
    logits = F.linear(torch.flatten(h, 1), p["linear.weight"], p["linear.bias"])
    loss = F.cross_entropy(logits, targets)
    loss.backward()
    g.reference("logits", logits)
    g.reference("loss", loss)
    g.reference("grad.x", x.grad)
    for key, value in p.items():
        g.reference(f"grad.{key}", value.grad)
    for key, value in stats.items():
        g.reference(f"{key}_after", value)
    return g


# In the order their inputs are drawn from the seeded stream.
FILES = {"conv2d": conv2d_file, "batch_norm": batch_norm_file, "pooling": pooling_file, "linear": linear_file,
         "softmax_cross_entropy": softmax_and_loss_file, "small_convnet": small_convnet_file}


def main():
    parser = argparse.ArgumentParser(description="Writes tests/golden/ops/*.safetensors with PyTorch.")
    parser.add_argument("--only", nargs="+", choices=list(FILES), metavar="FILE",
                        help="write only these files (%s); the others are left as they are" % ", ".join(FILES))
    selected = set(parser.parse_args().only or FILES)
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20240611)
    total = 0
    for name, make in FILES.items():
        if not selected:
            break  # the files after the last one asked for need not be computed
        golden = make()
        if name not in selected:
            continue
        selected.discard(name)
        path = golden.write()
        size = os.path.getsize(path)
        total += size
        print(f"{os.path.relpath(path, HERE)}: {size} bytes")
    print(f"total: {total} bytes")


if __name__ == "__main__":
    main()
