"""Loads a torchzero checkpoint's weights into PyTorch's twin of mnistCnn() with
load_state_dict(strict=True) and prints the logits of a fixed input as JSON.

The safetensors file is read with the format's own rules (8-byte little-endian header length,
JSON header, raw little-endian data), since Debian 12 packages PyTorch but not the
`safetensors` module: what this script reads, `safetensors.torch.load_file` reads too.

    /usr/bin/python3 tests/io/torch_load_checkpoint.py CHECKPOINT
"""

import json
import math
import struct
import sys

import torch
from torch import nn

DTYPES = {"F32": torch.float32, "F64": torch.float64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    base = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        raw = bytearray(data[base + start : base + end])
        t = torch.frombuffer(raw, dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = t.clone()
    return tensors, header.get("__metadata__", {})


def mnist_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 4), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 32, 3), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(32, 64, 2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 10),
    )


def main():
    tensors, metadata = load_safetensors(sys.argv[1])
    assert metadata.get("format") == "pt", metadata.get("format")
    model = mnist_cnn()
    model.load_state_dict(tensors, strict=True)
    x = torch.tensor([math.sin(i) * 0.5 for i in range(2 * 28 * 28)], dtype=torch.float32)
    with torch.no_grad():
        logits = model(x.reshape(2, 1, 28, 28))
    print(json.dumps(logits.flatten().tolist()))


if __name__ == "__main__":
    main()
