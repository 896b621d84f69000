#!/usr/bin/env python3
"""The baseline a user of the original torchzero gets: the same workloads as bench/mnist_steps.ts
in PyTorch on the CPU (2 threads), written from the behaviour in the torchzero spec (the
original package is not installable here; its optimizers are small and re-implemented below
exactly as specified: RandomGrad §1.7, RandomBestGrad §1.8, SwarmOfOptimizers §1.11).

    /usr/bin/python3 bench/torch_reference.py --data DIR [--rounds 5] [--steps 100]

DIR holds MNIST's raw IDX files (deno run bench/compare.ts passes the npm package's copy).
Prints ONE JSON line: adapter, randomgrad_steps_per_s, bestgrad_steps_per_s,
swarm_steps_per_s, forward_per_s (keyed by P), device_bytes_peak (peak RSS).
"""

import argparse
import json
import os
import resource
import statistics
import struct
import time

import torch
from torch import nn


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).reshape(dims)


def mnist_batches(data_dir, batch=32, seed=0):
    images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte")).float().div_(255)
    images = images.sub_(0.1307).div_(0.3081).unsqueeze(1)
    labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte")).long()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    while True:
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i : i + batch]
            yield images[idx], labels[idx]


def cnn():
    """The spec's 15,738-parameter CNN (§2.2), softmax head included as in the original."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 4), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 32, 3), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(32, 64, 2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 10), nn.Softmax(dim=1),
    )


class RandomGrad(torch.optim.Optimizer):
    """§1.7: baseline, perturb by magn·randn, evaluate, grad = ±s, restore, inner step."""

    def __init__(self, params, magn=1e-5, opt=None):
        super().__init__(params, dict(magn=magn))
        self.opt = opt

    @torch.no_grad()
    def step(self, closure):
        base = closure()
        params = [p for g in self.param_groups for p in g["params"]]
        backups, dirs = [], []
        for g in self.param_groups:
            for p in g["params"]:
                backups.append(p.clone())
                d = torch.randn_like(p) * g["magn"]
                dirs.append(d)
                p.add_(d)
        loss = closure()
        for p, b, d, g in zip(params, backups, dirs, [g for g in self.param_groups for _ in g["params"]]):
            s = d / g["magn"] if loss > base else -d / g["magn"]
            p.grad = s if p.grad is None else p.grad.add_(s)
            p.copy_(b)
        if self.opt is not None:
            self.opt.step()
        return loss


class RandomBestGrad(torch.optim.Optimizer):
    """§1.8: bestof trials against one baseline; grad from the best (or negated worst) trial."""

    def __init__(self, params, magn=1e-5, opt=None, bestof=10):
        super().__init__(params, dict(magn=magn))
        self.opt, self.bestof = opt, bestof

    @torch.no_grad()
    def step(self, closure):
        base = closure()
        params = [p for g in self.param_groups for p in g["params"]]
        magn = self.param_groups[0]["magn"]
        backups = [p.clone() for p in params]
        best = [torch.zeros_like(p) for p in params]
        worst = None
        max_inc = max_dec = 0.0
        nbest = 0
        for _ in range(self.bestof):
            dirs = [torch.randn_like(p) * magn for p in params]
            for p, d in zip(params, dirs):
                p.add_(d)
            loss = closure()
            if loss > base:
                if loss - base > max_inc:
                    max_inc, worst = loss - base, [d.clone() for d in dirs]
            else:
                if base - loss > max_dec:
                    max_dec, best = base - loss, [d.clone() for d in dirs]
                nbest += 1
            for p, b in zip(params, backups):
                p.copy_(b)
        if nbest == 0 and worst is not None:
            best = [-w for w in worst]
        for p, b in zip(params, best):
            g = -b / magn
            p.grad = g if p.grad is None else p.grad.add_(g)
        if self.opt is not None:
            self.opt.step()
        return loss


class Swarm(torch.optim.Optimizer):
    """§1.11 with old_steps=5, die_after=20, crossover_p=0.9 (mean crossover for brevity: the
    crossover cost is negligible next to the 20 forward passes per step)."""

    def __init__(self, params, optimizers, old_steps=5, die_after=20, crossover_p=0.9):
        super().__init__(params, {})
        self.optimizers, self.old_steps, self.die_after, self.crossover_p = optimizers, old_steps, die_after, crossover_p
        self.params = [p for g in self.param_groups for p in g["params"]]
        self.copies = [[p.clone() for p in self.params] for _ in optimizers]
        self.age = [0] * len(optimizers)
        self.streak = [0] * len(optimizers)

    @torch.no_grad()
    def step(self, closure):
        losses = []
        for i, opt in enumerate(self.optimizers):
            opt.zero_grad()
            for p, c in zip(self.params, self.copies[i]):
                p.copy_(c)
            self.age[i] += 1
            losses.append(float(opt.step(closure)))
            self.copies[i] = [p.clone() for p in self.params]
        order = sorted(range(len(losses)), key=lambda i: losses[i])
        best, second = order[0], order[1]
        for i in range(len(losses)):
            old = self.age[i] > self.old_steps
            self.streak[i] = self.streak[i] + 1 if (i != best and old) else 0
            if self.streak[i] > self.die_after:
                if torch.rand(1).item() < self.crossover_p:
                    self.copies[i] = [(a + b) / 2 for a, b in zip(self.copies[best], self.copies[second])]
                else:
                    self.copies[i] = [a.clone() for a in self.copies[best]]
        for p, c in zip(self.params, self.copies[best]):
            p.copy_(c)
        return losses[best]


def make(name):
    model = cnn()
    params = list(model.parameters())
    if name == "randomgrad":
        return model, RandomGrad(params, 1e-5, torch.optim.AdamW(params, lr=1e-3))
    if name == "bestgrad":
        return model, RandomBestGrad(params, 1e-5, torch.optim.AdamW(params, lr=1e-3), bestof=10)
    members = [RandomGrad(params, 1e-5, torch.optim.AdamW(params, lr=1e-3)) for _ in range(10)]
    return model, Swarm(params, members)


def bench_steps(name, batches, rounds, steps):
    model, opt = make(name)
    loss_fn = nn.CrossEntropyLoss()

    def one():
        x, y = next(batches)

        def closure():
            opt.zero_grad()
            return loss_fn(model(x), y)

        opt.step(closure)

    for _ in range(5):
        one()
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            one()
        rates.append(steps / (time.perf_counter() - t0))
    return statistics.median(rates)


@torch.no_grad()
def bench_forward(rows, batches, rounds):
    """P parameter vectors evaluated one after another, as the original does (params swapped in)."""
    model = cnn()
    copies = [[p.clone() for p in model.parameters()] for _ in range(rows)]
    x, _ = next(batches)
    repeats = max(4, round(200 / rows))
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeats):
            for c in copies:
                for p, v in zip(model.parameters(), c):
                    p.copy_(v)
                model(x)
        rates.append(repeats / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = mnist_batches(args.data)
    out = {"adapter": f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads"}
    for name in ["randomgrad", "bestgrad", "swarm"]:
        steps = max(10, args.steps // 5) if name == "swarm" else args.steps // 2 if name == "bestgrad" else args.steps
        out[f"{name}_steps_per_s"] = bench_steps(name, batches, args.rounds, steps)
    out["forward_per_s"] = {str(p): bench_forward(p, batches, args.rounds) for p in [1, 2, 20, 64]}
    out["device_bytes_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
