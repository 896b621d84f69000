#!/usr/bin/env python3
"""Golden gradients from torch.autograd, written once as a JSON fixture for the Deno tests.

Run with Debian's torch (apt-get install python3-torch):

    /usr/bin/python3 tests/golden/generate_grads.py

Parameters, inputs and targets come from a formula both sides compute (see `det` below and
`detValues` in tests/nn/grad_test.ts), so only the gradients are stored. Gradients are taken
in float64 from the float32 values: the truth our float32 kernels are compared to.

Cases: the MNIST CNN (conv 1→16 k4, max-pool 2, ReLU, conv 16→32 k3, ..., Linear 256→10)
with cross-entropy on logits (mean, sum, none = backward of the sum) and with the softmax head
of the original (`--faithful`: cross-entropy applied to probabilities); a small net covering
the other layers (strided padded conv, overlapping padded max-pool, padded avg-pool, Linear
without bias) with mseLoss. Also the original's gradient chain Nesterov SGD(lr=1, momentum=0.9)
→ Lion(lr=1e-2) for 5 steps on the small net: the parameters after each step.
"""

import json
import math
import os

import torch
from torch import nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def det(n, a, b, scale):
    """float32(scale * sin(a * j + b)) for j < n, computed in float64."""
    j = torch.arange(n, dtype=torch.float64)
    return (scale * torch.sin(a * j + b)).float().double()


def mnist_cnn(softmax_head):
    layers = [
        nn.Conv2d(1, 16, 4), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 32, 3), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(32, 64, 2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 10),
    ]
    if softmax_head:
        layers.append(nn.Softmax(dim=1))
    return nn.Sequential(*layers)


def small_net():
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, stride=1, padding=1),
        nn.AvgPool2d(3, stride=2, padding=1),
        nn.Flatten(), nn.Linear(27, 5), nn.ReLU(), nn.Linear(5, 4, bias=False),
    )


def load(model):
    """Parameter k (model order), element j: det with a = 0.37, b = 1.7 k, scale 1/sqrt(fan-in)."""
    model.double()
    with torch.no_grad():
        for k, (_, p) in enumerate(model.named_parameters()):
            fan_in = p.shape[1:].numel() if p.dim() > 1 else None
            if fan_in is None:  # a bias: the fan-in of its layer's weight
                fan_in = prev_fan
            prev_fan = fan_in
            p.copy_(det(p.numel(), 0.37, 1.7 * k, 1 / math.sqrt(fan_in)).view(p.shape))
    return model


def values(t):
    """A tensor as a list, 9 significant digits (float32 precision, a smaller fixture)."""
    return [float(f"{v:.9g}") for v in t.flatten().tolist()]


def grads(model):
    return {name: values(p.grad) for name, p in model.named_parameters()}


def mnist_case(name, reduction, softmax_head, batch=3):
    model = load(mnist_cnn(softmax_head))
    x = det(batch * 784, 0.11, 0.3, 1.0).view(batch, 1, 28, 28)
    y = torch.tensor([(7 * j + 3) % 10 for j in range(batch)])
    loss = F.cross_entropy(model(x), y, reduction=reduction)
    (loss.sum() if reduction == "none" else loss).backward()
    return {"name": name, "model": "mnistCnn", "softmaxHead": softmax_head,
            "reduction": reduction, "batch": batch, "loss": values(loss),
            "grads": grads(model)}


def small_case(name, reduction, batch=2):
    model = load(small_net())
    x = det(batch * 2 * 9 * 9, 0.23, 0.9, 1.5).view(batch, 2, 9, 9)
    t = det(batch * 4, 0.5, 0.1, 1.0).view(batch, 4)
    loss = F.mse_loss(model(x), t, reduction=reduction)
    (loss.sum() if reduction == "none" else loss).backward()
    return {"name": name, "model": "small", "reduction": reduction, "batch": batch,
            "loss": values(loss), "grads": grads(model)}


def chain_case(steps=5, batch=2):
    """GradChain([SGD(lr=1, momentum=0.9, nesterov=True), Lion(lr=1e-2)]): Lion steps on the
    Nesterov direction, the update of SGD(lr=1) read back as a gradient."""
    model = load(small_net())
    x = det(batch * 2 * 9 * 9, 0.23, 0.9, 1.5).view(batch, 2, 9, 9)
    t = det(batch * 4, 0.5, 0.1, 1.0).view(batch, 4)
    params = list(model.parameters())
    buf = [None] * len(params)
    m = [torch.zeros_like(p) for p in params]
    lr, beta1, beta2 = 1e-2, 0.9, 0.99
    after = []
    for _ in range(steps):
        model.zero_grad()
        F.mse_loss(model(x), t).backward()
        with torch.no_grad():
            for i, p in enumerate(params):
                g = p.grad
                buf[i] = g.clone() if buf[i] is None else buf[i] * 0.9 + g
                d = g + 0.9 * buf[i]  # SGD(lr=1, nesterov) moves by -d: the chained gradient is d
                c = beta1 * m[i] + (1 - beta1) * d
                p.add_(torch.sign(c), alpha=-lr)
                m[i] = beta2 * m[i] + (1 - beta2) * d
        after.append({name: values(p.detach()) for name, p in model.named_parameters()})
    return {"name": "GradChain Nesterov SGD -> Lion", "model": "small", "steps": steps,
            "batch": batch, "params": after}


def main():
    cases = [
        mnist_case("mnistCnn logits, mean", "mean", False),
        mnist_case("mnistCnn logits, sum", "sum", False),
        mnist_case("mnistCnn logits, none", "none", False),
        mnist_case("mnistCnn softmax head (faithful), mean", "mean", True),
        small_case("small net, mse mean", "mean"),
        small_case("small net, mse sum", "sum"),
    ]
    meta = {"torch": torch.__version__, "script": "tests/golden/generate_grads.py",
            "dtype": "float64 from float32 values"}
    with open(os.path.join(HERE, "gradients.json"), "w") as f:
        json.dump({"meta": meta, "cases": cases, "chain": chain_case()}, f,
                  separators=(",", ":"))
    print(f"wrote {len(cases)} gradient cases and a 5-step chain")


if __name__ == "__main__":
    main()
