#!/usr/bin/env python3
"""The PyTorch reference of bench/es_generation.ts: one OpenAI-ES generation of the
15,738-parameter CNN (the spec's §2.2 network with a logits head) on the CPU with 2 threads, its
forward batched over the population in the faster of two ways, measured per configuration:
grouped convolutions (every member's weights in one conv call with groups = P; the first layer,
whose input is shared, as one ordinary conv with P·16 filters) or a loop of ordinary batched
forwards, one per member (what the original torchzero does):

  eps ~ N(0, I) [P/2, N];  θ = m ± σ eps (mirrored);  losses = cross-entropy of every member
  on ONE shared batch;  centered ranks;  ĝ = −1/(Pσ) Σ (u⁺ − u⁻) eps;  Adam step on m.

    /usr/bin/python3 bench/torch_es_generation.py --data DIR [--rounds 3] [--configs 64x32,...]

DIR holds MNIST's raw IDX files. Prints ONE JSON line: adapter, and per configuration "PxB"
the median image-forwards per second of whole generations ("generation") and of the batched
forward alone ("forward"). The batched forward is checked against a per-member loop first.
"""

import argparse
import json
import os
import statistics
import struct
import time

import torch
import torch.nn.functional as F

SHAPES = [  # (name, shape) in the model's parameter order
    ("c1w", (16, 1, 4, 4)), ("c1b", (16,)),
    ("c2w", (32, 16, 3, 3)), ("c2b", (32,)),
    ("c3w", (64, 32, 2, 2)), ("c3b", (64,)),
    ("lw", (10, 256)), ("lb", (10,)),
]
N = sum(torch.Size(s).numel() for _, s in SHAPES)


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).reshape(dims)


def batches(data_dir, batch, seed=0):
    images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte")).float().div_(255)
    images = images.sub_(0.1307).div_(0.3081).unsqueeze(1)
    labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte")).long()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    while True:
        for i in range(0, len(order) - batch + 1, batch):
            idx = order[i : i + batch]
            yield images[idx], labels[idx]


def unflatten(theta):
    """[P, N] → the population's weights, each with a leading P axis."""
    out, at = {}, 0
    for name, shape in SHAPES:
        n = torch.Size(shape).numel()
        out[name] = theta[:, at : at + n].reshape(theta.shape[0], *shape)
        at += n
    return out


def forward_grouped(theta, x):
    """Logits [P, B, 10] of every member on the shared batch x [B, 1, 28, 28]."""
    P, B = theta.shape[0], x.shape[0]
    w = unflatten(theta)
    h = F.conv2d(x, w["c1w"].reshape(P * 16, 1, 4, 4), w["c1b"].reshape(-1))  # shared input
    h = F.relu(F.max_pool2d(h, 2))
    h = F.conv2d(h, w["c2w"].reshape(P * 32, 16, 3, 3), w["c2b"].reshape(-1), groups=P)
    h = F.relu(F.max_pool2d(h, 2))
    h = F.conv2d(h, w["c3w"].reshape(P * 64, 32, 2, 2), w["c3b"].reshape(-1), groups=P)
    h = F.relu(F.max_pool2d(h, 2))  # [B, P*64, 2, 2]
    h = h.reshape(B, P, 256).transpose(0, 1)  # [P, B, 256], torch's flatten order per member
    return torch.baddbmm(w["lb"].unsqueeze(1), h, w["lw"].transpose(1, 2))


def forward_loop(theta, x):
    """Logits [P, B, 10]: one ordinary forward per member."""
    return torch.stack([forward_one(row, x) for row in theta])


def forward_one(theta_row, x):
    w = {k: v[0] for k, v in unflatten(theta_row.unsqueeze(0)).items()}
    h = F.relu(F.max_pool2d(F.conv2d(x, w["c1w"], w["c1b"]), 2))
    h = F.relu(F.max_pool2d(F.conv2d(h, w["c2w"], w["c2b"]), 2))
    h = F.relu(F.max_pool2d(F.conv2d(h, w["c3w"], w["c3b"]), 2))
    return F.linear(h.flatten(1), w["lw"], w["lb"])


def centered_ranks(losses):
    P = losses.shape[0]
    ranks = torch.empty(P, dtype=torch.long)
    ranks[torch.argsort(losses)] = torch.arange(P)
    return (P - 1 - ranks).float() / (P - 1) - 0.5


class Generation:
    def __init__(self, P, forward, sigma=0.05, lr=0.01):
        self.P, self.sigma, self.forward = P, sigma, forward
        self.m = torch.nn.Parameter(torch.randn(N) * 0.05)
        self.adam = torch.optim.Adam([self.m], lr=lr)

    @torch.no_grad()
    def step(self, x, y):
        P, s = self.P, self.sigma
        eps = torch.randn(P // 2, N)
        theta = torch.empty(P, N)
        theta[0::2] = self.m + s * eps
        theta[1::2] = self.m - s * eps
        logits = self.forward(theta, x)  # [P, B, 10]
        losses = F.cross_entropy(logits.reshape(-1, 10), y.repeat(P), reduction="none")
        u = centered_ranks(losses.reshape(P, -1).mean(1))
        self.m.grad = -((u[0::2] - u[1::2]) @ eps) / (P * s)
        self.adam.step()


def median_rate(run, count, rounds):
    run()
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(count):
            run()
        rates.append(count / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", default="64x32,64x256,256x32,256x256")
    parser.add_argument(
        "--batching",
        choices=("best", "grouped", "loop"),
        default="best",
        help="time one batching only (the grouped one takes minutes at P x B = 256 x 256)",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    result = {"adapter": f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads"}
    for config in args.configs.split(","):
        P, B = (int(v) for v in config.split("x"))
        data = batches(args.data, B)
        x, y = next(data)
        theta = 0.05 * torch.randn(P, N)
        with torch.no_grad():  # the grouped forward equals the loop
            assert torch.allclose(forward_grouped(theta, x), forward_loop(theta, x), atol=1e-5)
        count = max(1, round(2 * 256 * 32 / (P * B)))  # about 2 s of work per timed round
        images = P * B
        best = None
        candidates = (("grouped", forward_grouped), ("loop", forward_loop))
        for name, fwd_fn in candidates:
            if args.batching not in ("best", name):
                continue
            with torch.no_grad():
                fwd = median_rate(lambda: fwd_fn(theta, x), count, args.rounds)
            gen = Generation(P, fwd_fn)
            gen_rate = median_rate(lambda: gen.step(*next(data)), count, args.rounds)
            entry = {"generation": gen_rate * images, "forward": fwd * images, "batching": name}
            if best is None or entry["generation"] > best["generation"]:
                best = entry
        result[config] = best
    print(json.dumps(result))


if __name__ == "__main__":
    main()
