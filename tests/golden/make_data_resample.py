#!/usr/bin/python3
"""Golden file for slab's bilinear resampling (data/resample.h) and CenterCrop: Pillow's
Image.resize(..., BILINEAR), which torchvision's Resize / RandomResizedCrop / CenterCrop run
on PIL images. Run with Debian's python3 (Pillow, NumPy):
    /usr/bin/python3 tests/golden/make_data_resample.py
Writes tests/golden/data_resample.safetensors (a few KB): the input image and each output,
as float32 arrays of byte values, planar CHW.
"""
import json
import os
import struct

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"made_by": "tests/golden/make_data_resample.py", "pillow": Image.__version__}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for blob in blobs:
            out.write(blob)


def chw(image):
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32)


rng = np.random.default_rng(20240611)
# A smooth pattern plus noise: exercises both the averaging and the rounding.
yy, xx = np.mgrid[0:13, 0:17]
base = np.stack([yy * 19 + xx * 3, 255 - xx * 15, (yy * xx * 2) % 256], axis=-1)
pixels = np.clip(base + rng.integers(-40, 41, size=base.shape), 0, 255).astype(np.uint8)
image = Image.fromarray(pixels, "RGB")

tensors = {"input": chw(image)}
# (name, output width, output height): shrink both, enlarge both, one axis each way.
for name, width, height in [("shrink_5x7", 5, 7), ("enlarge_30x20", 30, 20), ("horizontal_9x13", 9, 13),
                            ("vertical_17x4", 17, 4), ("mixed_40x3", 40, 3)]:
    tensors[name] = chw(image.resize((width, height), Image.BILINEAR))
# RandomResizedCrop's resize of a window: crop (left 3, top 2, width 11, height 9), then 6x6.
tensors["window_6x6"] = chw(image.crop((3, 2, 14, 11)).resize((6, 6), Image.BILINEAR))
save_safetensors(os.path.join(HERE, "data_resample.safetensors"), tensors)
print("wrote", os.path.join(HERE, "data_resample.safetensors"))
