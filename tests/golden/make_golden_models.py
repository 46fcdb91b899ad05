#!/usr/bin/python3
"""Golden files for slab's layers, models, optimizers and schedules, made with PyTorch.

Run with Debian's python3-torch (/usr/bin/python3; tools/setup.sh --with-torch installs it,
another python3 on PATH may have no torch):

    /usr/bin/python3 tests/golden/make_golden_models.py                 # every group
    /usr/bin/python3 tests/golden/make_golden_models.py --only layers   # one group (or several)

Each group is one file under tests/golden/models/ (tens of KB in all) and depends on no
random state (weights and inputs come from golden_values), so a group regenerated alone
is byte for byte what a full run writes, and --only leaves the other files as they are:

  architectures.json          every make_model() name: state-dict keys, shapes, dtypes and
                              the parameter count of the PyTorch model (10 classes)
  resnet20.safetensors        ResNet-20 forward + backward at batch 2 (train mode), the
                              running statistics it leaves, and the eval-mode logits
  small_cnn.safetensors       the same for the Fashion-MNIST small CNN
  layers.safetensors          a Sequential of Conv2d (groups, stride, dilation, bias),
                              BatchNorm2d/1d, ReLU, pools, Flatten, Linear: forward, input and
                              parameter gradients, running statistics, eval output
  optimizers.safetensors      10 steps of SGD (momentum, Nesterov, dampening, weight decay),
                              Adam, AdamW, amsgrad on a small MLP: final weights
  schedules.safetensors       StepLR, CosineAnnealingLR and LinearLR values

Weights and inputs are not stored: both sides generate them from a hash of the tensor's
name (golden_values below, tests/golden/models/golden_values.h in C++) whose values are
exact in float32, so the files hold only the results. The PyTorch model definitions below
follow the public PyTorch code slab's models name (kuangliu/pytorch-cifar,
akamaster/pytorch_resnet_cifar10, torchvision.models.resnet, xternalz/WideResNet-pytorch);
they are written out here because torchvision is not installed.

Precision: these references are PyTorch's float32 results, because the C++ tests run the
same float32 computation and compare at float32 tolerances (test_models.cpp: logits 1e-4,
gradients 1e-3 relative; test_layers.cpp: 1e-4; test_optim.cpp: 2e-5). The numbers those
tests compare at float64 accuracy are computed in float64 here: the gradient projections
and norms (from the float32 gradient) and the schedules' learning rates (Python floats,
compared at 1e-12). The ops' files (make_golden.py) are float64 throughout.
"""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "models")

# ---------------------------------------------------------------------------------------
# Golden values: value[i] = offset + scale * (k_i - 2^23) / 2^23, with
# k_i = splitmix64(fnv1a64(name) ^ i) >> 40 (24 bits) and scale a power of two, so every
# value is exact in float32 and both languages produce the same bits.
MASK = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h ^= byte
        h = (h * 0x100000001B3) & MASK
    return h


def golden_values(name, shape, scale=1.0, offset=0.0):
    n = int(np.prod(shape)) if len(shape) else 1
    z = np.uint64(fnv1a64(name)) ^ np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    k = (z >> np.uint64(40)).astype(np.int64) - (1 << 23)
    values = offset + scale * (k.astype(np.float64) / float(1 << 23))
    return torch.tensor(values.astype(np.float32)).reshape(shape)


def power_of_two_near(x):
    return 2.0 ** round(math.log2(x))


def golden_state(model):
    """A state dict of golden values by key (the same rule as golden_values.h)."""
    state = {}
    for key, tensor in model.state_dict().items():
        shape = tuple(tensor.shape)
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(5, dtype=torch.int64)
        elif key.endswith("running_mean"):
            state[key] = golden_values(key, shape, 0.125)
        elif key.endswith("running_var"):
            state[key] = golden_values(key, shape, 0.25, 1.0)
        elif len(shape) >= 2:  # conv / linear weight: about He-uniform's bound sqrt(6 / fan_in)
            fan_in = int(np.prod(shape[1:]))
            state[key] = golden_values(key, shape, power_of_two_near(math.sqrt(6.0 / fan_in)))
        elif key.endswith("weight"):  # BatchNorm scale
            state[key] = golden_values(key, shape, 0.25, 1.0)
        else:  # biases
            state[key] = golden_values(key, shape, 0.125)
    return state


# ---------------------------------------------------------------------------------------
# Models.
class MLP(nn.Module):
    def __init__(self, widths):
        super().__init__()
        layers = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i + 2 < len(widths):
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.flatten(1))


class SmallCNN(nn.Module):
    def __init__(self, in_channels, num_classes, c1=16, c2=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(c2 * 49, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


VGG_CFG = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):  # kuangliu/pytorch-cifar models/vgg.py
    def __init__(self, depth, in_channels, num_classes):
        super().__init__()
        layers, c = [], in_channels
        for x in VGG_CFG[depth]:
            if x == "M":
                layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                layers += [nn.Conv2d(c, x, kernel_size=3, padding=1), nn.BatchNorm2d(x), nn.ReLU(inplace=True)]
                c = x
        layers += [nn.AvgPool2d(kernel_size=1, stride=1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class LambdaLayer(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


class CifarBasicBlock(nn.Module):  # akamaster/pytorch_resnet_cifar10 resnet.py, option A
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            pad = planes // 4
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth, in_channels, num_classes):
        super().__init__()
        n = (depth - 2) // 6
        self.in_planes = 16
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(CifarBasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.flatten(1))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride, shortcut_name):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut_name = shortcut_name
        if stride != 1 or in_planes != planes:
            setattr(self, shortcut_name, nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = getattr(self, self.shortcut_name, None)
        return F.relu(out + (sc(x) if sc is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes, planes, stride, shortcut_name):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.shortcut_name = shortcut_name
        if stride != 1 or in_planes != 4 * planes:
            setattr(self, shortcut_name, nn.Sequential(
                nn.Conv2d(in_planes, 4 * planes, 1, stride=stride, bias=False), nn.BatchNorm2d(4 * planes)))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        sc = getattr(self, self.shortcut_name, None)
        return F.relu(out + (sc(x) if sc is not None else x))


class ResNet(nn.Module):
    """kuangliu's CIFAR ResNet (imagenet=False) or torchvision's (imagenet=True)."""

    def __init__(self, depth, in_channels, num_classes, imagenet):
        super().__init__()
        block, counts = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
                         50: (Bottleneck, [3, 4, 6, 3])}[depth]
        self.imagenet = imagenet
        name = "downsample" if imagenet else "shortcut"
        if imagenet:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        if imagenet:
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_planes = 64
        for s in range(4):
            planes, layers = 64 << s, []
            for b in range(counts[s]):
                layers.append(block(in_planes, planes, 2 if (s > 0 and b == 0) else 1, name))
                in_planes = planes * block.expansion
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layers))
        if imagenet:
            self.fc = nn.Linear(in_planes, num_classes)
        else:
            self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        if self.imagenet:
            out = self.maxpool(out)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        if self.imagenet:
            return self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))
        return self.linear(F.avg_pool2d(out, 4).flatten(1))


class PreActBlock(nn.Module):  # kuangliu preact_resnet.py
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    def __init__(self, depth, in_channels, num_classes):
        super().__init__()
        counts = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[depth]
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        in_planes = 64
        for s in range(4):
            planes, layers = 64 << s, []
            for b in range(counts[s]):
                layers.append(PreActBlock(in_planes, planes, 2 if (s > 0 and b == 0) else 1))
                in_planes = planes
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layers))
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x):
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        out = F.relu(self.bn(out))
        return self.linear(F.avg_pool2d(out, 4).flatten(1))


class WideBasic(nn.Module):  # xternalz/WideResNet-pytorch wideresnet.py
    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.equal = in_planes == out_planes
        self.convShortcut = None if self.equal else nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return (x if self.equal else self.convShortcut(a)) + out


class NetworkBlock(nn.Module):
    def __init__(self, n, in_planes, out_planes, stride):
        super().__init__()
        self.layer = nn.Sequential(*[WideBasic(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1)
                                     for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, k, in_channels, num_classes):
        super().__init__()
        n = (depth - 4) // 6
        w = [16, 16 * k, 32 * k, 64 * k]
        self.conv1 = nn.Conv2d(in_channels, w[0], 3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, w[0], w[1], 1)
        self.block2 = NetworkBlock(n, w[1], w[2], 2)
        self.block3 = NetworkBlock(n, w[2], w[3], 2)
        self.bn1 = nn.BatchNorm2d(w[3])
        self.fc = nn.Linear(w[3], num_classes)


def make(name, num_classes=10, in_channels=3):
    if name.startswith("mlp-"):
        return MLP([int(x) for x in name[4:].split("-")] + [num_classes])
    if name.startswith("wrn-"):
        depth, k = (int(x) for x in name[4:].split("-"))
        return WideResNet(depth, k, in_channels, num_classes)
    if name == "small-cnn":
        return SmallCNN(in_channels, num_classes)
    if name.startswith("small-cnn-"):
        c1, c2 = (int(x) for x in name[len("small-cnn-"):].split("-"))
        return SmallCNN(in_channels, num_classes, c1, c2)
    if name.startswith("vgg"):
        return VGG(int(name[3:5]), in_channels, num_classes)
    if name.startswith("preact-resnet"):
        return PreActResNet(int(name[len("preact-resnet"):]), in_channels, num_classes)
    if name.startswith("resnet"):
        base, _, form = name.partition("-")
        depth = int(base[6:])
        if depth in (18, 34, 50):
            return ResNet(depth, in_channels, num_classes, imagenet=(form == "imagenet"))
        return CifarResNet(depth, in_channels, num_classes)
    raise ValueError(name)


ARCHITECTURES = [
    ("mlp-784-256-256", 1), ("mlp-1000-5-3", 1), ("small-cnn", 1), ("small-cnn-32-64", 1),
    ("vgg11-bn", 3), ("vgg13-bn", 3), ("vgg16-bn", 3), ("vgg19-bn", 3),
    ("resnet20", 3), ("resnet32", 3), ("resnet44", 3), ("resnet56", 3), ("resnet110", 3),
    ("resnet18", 3), ("resnet34", 3), ("resnet50", 3),
    ("resnet18-imagenet", 3), ("resnet34-imagenet", 3), ("resnet50-imagenet", 3),
    ("preact-resnet18", 3), ("preact-resnet34", 3), ("wrn-28-10", 3), ("wrn-16-4", 3),
]


# Models whose full (sorted) key list is stored; the others store a digest of it (FNV-1a 64
# over the entries joined by newlines), which the C++ test recomputes.
FULL_LISTS = {"mlp-1000-5-3", "small-cnn", "vgg11-bn", "resnet20", "resnet18", "resnet18-imagenet",
              "resnet50-imagenet", "preact-resnet18", "wrn-16-4"}


def write_architectures():
    # Cross-check the hand-written torchvision forms against torchvision's published counts.
    for depth, count in ((18, 11689512), (34, 21797672), (50, 25557032)):
        got = sum(p.numel() for p in ResNet(depth, 3, 1000, imagenet=True).parameters())
        assert got == count, (depth, got, count)
    result = {}
    for name, in_channels in ARCHITECTURES:
        classes = 1 if name == "mlp-1000-5-3" else 10
        model = make(name, classes, in_channels)
        # "key shape dtype", e.g. "layer1.0.conv1.weight 16,16,3,3 float32"
        # Sorted: PyTorch interleaves each module's parameters and buffers, slab lists a
        # module tree's parameters first; the keys, not their order, must agree.
        entries = sorted("%s %s %s" % (key, ",".join(str(d) for d in t.shape), str(t.dtype).replace("torch.", ""))
                         for key, t in model.state_dict().items())
        record = {"num_classes": classes, "in_channels": in_channels,
                  "parameters": sum(p.numel() for p in model.parameters()), "entries": len(entries),
                  "digest": "%016x" % fnv1a64("\n".join(entries))}
        if name in FULL_LISTS:
            record["state_dict"] = entries
        result[name] = record
        print("%-20s %12d parameters, %4d state-dict entries" % (name, record["parameters"], len(entries)))
    with open(os.path.join(OUT, "architectures.json"), "w") as f:
        json.dump(result, f, indent=0, separators=(",", ":"))


# ---------------------------------------------------------------------------------------
def save(path, tensors, metadata=None):
    """A minimal safetensors writer (the package may be absent): F32/F64/I64, little-endian."""
    codes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for key, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[key] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)


PROJECTIONS = 3


def model_step(model, name, input_shape, labels, full_gradient_limit):
    """Loads golden weights, runs train-mode forward + backward and eval-mode forward."""
    model.load_state_dict(golden_state(model))
    x = golden_values("input", input_shape)
    y = torch.tensor(labels, dtype=torch.int64)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    out = {"logits": logits.detach(), "loss": loss.detach().reshape(1).double()}
    for key, p in model.named_parameters():
        g = p.grad.detach()
        if g.numel() <= full_gradient_limit:
            out["grad." + key] = g
        else:
            g64 = g.double().flatten()
            proj = [float(torch.dot(g64, golden_values("projection%d/%s" % (k, key), (g.numel(),)).double()))
                    for k in range(PROJECTIONS)]
            out["gradproj." + key] = torch.tensor(proj + [float(g64.norm())], dtype=torch.float64)
    for key, b in model.named_buffers():
        out["after." + key] = b.detach().clone()
    model.eval()
    with torch.no_grad():
        out["eval_logits"] = model(x)
    save(os.path.join(OUT, name + ".safetensors"), out,
         {"input_shape": json.dumps(list(input_shape)), "labels": json.dumps(labels)})
    print(name, "loss", float(loss))


def layers_step():
    seq = nn.Sequential(
        nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=True),  # 0
        nn.BatchNorm2d(6),                                              # 1
        nn.ReLU(),                                                      # 2
        nn.AvgPool2d(2, stride=1),                                      # 3
        nn.Conv2d(6, 8, 3, padding=2, dilation=2, bias=True),           # 4
        nn.MaxPool2d(2),                                                # 5
        nn.AdaptiveAvgPool2d((2, 3)),                                   # 6
        nn.Flatten(),                                                   # 7
        nn.Linear(48, 5),                                               # 8
        nn.BatchNorm1d(5),                                              # 9
    )
    seq.load_state_dict(golden_state(seq))
    x = golden_values("input", (3, 4, 13, 13)).requires_grad_(True)
    seq.train()
    y = seq(x)
    upstream = golden_values("upstream", tuple(y.shape))
    (y * upstream).sum().backward()
    out = {"output": y.detach(), "grad.input": x.grad.detach()}
    for key, p in seq.named_parameters():
        out["grad." + key] = p.grad.detach()
    for key, b in seq.named_buffers():
        out["after." + key] = b.detach().clone()
    seq.eval()
    with torch.no_grad():
        out["eval_output"] = seq(x)
    save(os.path.join(OUT, "layers.safetensors"), out)


OPTIMIZER_CASES = [
    ("sgd", "sgd", dict(lr=0.1)),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd_nesterov_wd", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("sgd_dampening_wd", "sgd", dict(lr=0.05, momentum=0.8, dampening=0.5, weight_decay=0.001)),
    ("adam", "adam", dict(lr=0.01)),
    ("adam_wd", "adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", "adamw", dict(lr=0.01, weight_decay=0.1)),
    ("adamw_amsgrad", "adamw", dict(lr=0.02, weight_decay=0.05, amsgrad=True)),
]
OPTIMIZER_STEPS = 10


def optimizers_step():
    x = golden_values("optim/input", (8, 5))
    y = torch.tensor([0, 2, 1, 1, 0, 2, 2, 1], dtype=torch.int64)
    out = {}
    for case, kind, kwargs in OPTIMIZER_CASES:
        model = MLP([5, 7, 3])
        model.load_state_dict(golden_state(model))
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
        optimizer = cls(model.parameters(), **kwargs)
        for step in range(OPTIMIZER_STEPS):
            rows = slice(0, 4) if step % 2 == 0 else slice(4, 8)  # alternate half-batches
            optimizer.zero_grad()
            F.cross_entropy(model(x[rows]), y[rows]).backward()
            optimizer.step()
        for key, p in model.named_parameters():
            out[case + "." + key] = p.detach().clone()
    save(os.path.join(OUT, "optimizers.safetensors"), out)


def schedules_step():
    def run(make_scheduler, epochs):
        p = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([p], lr=0.1)
        scheduler = make_scheduler(optimizer)
        values = []
        for _ in range(epochs):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return torch.tensor(values, dtype=torch.float64)

    out = {
        "step": run(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 12),
        "cosine": run(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 30),
        "linear_warmup": run(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5), 8),
    }
    save(os.path.join(OUT, "schedules.safetensors"), out)


GROUPS = {
    "architectures": write_architectures,
    "resnet20": lambda: model_step(make("resnet20"), "resnet20", (2, 3, 32, 32), [3, 7], 1024),
    "small_cnn": lambda: model_step(make("small-cnn", 10, 1), "small_cnn", (2, 1, 28, 28), [1, 9], 1024),
    "layers": layers_step,
    "optimizers": optimizers_step,
    "schedules": schedules_step,
}


def main():
    parser = argparse.ArgumentParser(description="Writes tests/golden/models/* with PyTorch.")
    parser.add_argument("--only", nargs="+", choices=list(GROUPS), metavar="GROUP",
                        help="regenerate only these groups (%s); the others are left as they are" % ", ".join(GROUPS))
    selected = parser.parse_args().only or list(GROUPS)
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for name in GROUPS:
        if name in selected:
            GROUPS[name]()
    for f in sorted(os.listdir(OUT)):
        print("%-28s %8d bytes" % (f, os.path.getsize(os.path.join(OUT, f))))


if __name__ == "__main__":
    main()
