#!/usr/bin/env python3
"""PyTorch reference for bench/population_forward.ts: the MNIST CNN (15,738 parameters) evaluated
for P parameter rows on one shared batch of B images, with the per-row cross-entropy, batched
over the population on the CPU (2 threads), in image-forwards per second (P x B per forward).

    /usr/bin/python3 bench/torch_population.py [--cases 1x32,64x32,16x256] [--rounds 5]
        [--ms 600] [--methods grouped,vmap]

Methods (each computes all P rows in one batched call, no Python loop over rows):
  grouped  conv1 as one convolution with P*16 output channels (the batch is shared), conv2 and
           conv3 as grouped convolutions (groups = P) over [B, P*C, H, W], the linear layer as
           one batched matmul (einsum) over [P, B, 256].
  vmap     functorch.vmap of the functional model over the stacked parameters (torch 1.13's
           batching rules; the same as torch.func.vmap in torch >= 2.0).
  unfold   conv1 as in grouped; conv2 and conv3 as im2col (F.unfold) and one batched matmul
           (torch.bmm) over the rows, the layout every row's GEMM wants.
  loop     not batched: a Python loop of P one-row forwards (for comparison only; it is never
           picked as the reference).
Every method's outputs (logits and losses) are checked once per case against a plain loop over
the rows (max abs difference printed to stderr, must be below 1e-4).

Method: per case and method, a warm-up call, then --rounds rounds in which every case and method
runs once (interleaved), each timing n calls sized from the warm-up to last about --ms ms (one
call when a call alone takes longer). The median over rounds is reported. Prints ONE JSON line, the format of population_forward.ts:
adapter, image_forwards_per_s and ms_per_forward keyed by PxB (the best batched method per
case), method (which one), methods (every method's figures, the loop's included), errors.
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

DEFAULT_CASES = "1x32,16x32,64x32,256x32,1x256,16x256,64x256,256x256"

# (name, shape) of the CNN's parameters, torch's order.
SHAPES = [
    ("0.weight", (16, 1, 4, 4)),
    ("0.bias", (16,)),
    ("3.weight", (32, 16, 3, 3)),
    ("3.bias", (32,)),
    ("6.weight", (64, 32, 2, 2)),
    ("6.bias", (64,)),
    ("10.weight", (10, 256)),
    ("10.bias", (10,)),
]


def population(rows, seed=0):
    """Stacked parameters [P, ...] of P perturbed copies of torch's default initialisation."""
    g = torch.Generator().manual_seed(seed)
    stacked = {}
    for name, shape in SHAPES:
        fan_in = 1
        for d in (shape[1:] if name.endswith("weight") else ()):
            fan_in *= d
        if name.endswith("bias"):
            fan_in = {"0": 16, "3": 144, "6": 128, "10": 256}[name.split(".")[0]]
        bound = 1 / fan_in**0.5
        base = (torch.rand(shape, generator=g) * 2 - 1) * bound
        noise = (torch.rand((rows, *shape), generator=g) - 0.5) * 0.01
        stacked[name] = (base.unsqueeze(0) + noise).contiguous()
    return stacked


def forward_one(p, x):
    """One row: logits [B, 10] of the CNN with parameters p (no population axis)."""
    h = F.relu(F.max_pool2d(F.conv2d(x, p["0.weight"], p["0.bias"]), 2))
    h = F.relu(F.max_pool2d(F.conv2d(h, p["3.weight"], p["3.bias"]), 2))
    h = F.relu(F.max_pool2d(F.conv2d(h, p["6.weight"], p["6.bias"]), 2))
    return F.linear(h.flatten(1), p["10.weight"], p["10.bias"])


def loop(ps, x, y):
    """Reference: a Python loop over the rows."""
    rows = ps["0.weight"].shape[0]
    logits = torch.stack([forward_one({k: v[r] for k, v in ps.items()}, x) for r in range(rows)])
    return logits, losses(logits, y)


def losses(logits, y):
    """Mean cross-entropy per row: [P, B, 10] -> [P]."""
    rows, batch, classes = logits.shape
    each = F.cross_entropy(logits.reshape(rows * batch, classes), y.repeat(rows), reduction="none")
    return each.view(rows, batch).mean(1)


def grouped(ps, x, y):
    """All rows at once: one wide conv1, grouped conv2/conv3, one batched matmul."""
    rows = ps["0.weight"].shape[0]
    batch = x.shape[0]
    w1 = ps["0.weight"].reshape(rows * 16, 1, 4, 4)
    h = F.relu(F.max_pool2d(F.conv2d(x, w1, ps["0.bias"].reshape(-1)), 2))  # [B, P*16, 12, 12]
    w2 = ps["3.weight"].reshape(rows * 32, 16, 3, 3)
    h = F.relu(F.max_pool2d(F.conv2d(h, w2, ps["3.bias"].reshape(-1), groups=rows), 2))
    w3 = ps["6.weight"].reshape(rows * 64, 32, 2, 2)
    h = F.relu(F.max_pool2d(F.conv2d(h, w3, ps["6.bias"].reshape(-1), groups=rows), 2))
    h = h.reshape(batch, rows, 256).transpose(0, 1)  # [P, B, 256], torch's flatten order per row
    logits = torch.baddbmm(ps["10.bias"].unsqueeze(1), h, ps["10.weight"].transpose(1, 2))
    return logits, losses(logits, y)


def unfold(ps, x, y):
    """conv1 as one wide convolution; conv2 and conv3 as im2col + one bmm over the rows."""
    rows = ps["0.weight"].shape[0]
    batch = x.shape[0]
    w1 = ps["0.weight"].reshape(rows * 16, 1, 4, 4)
    h = F.relu(F.max_pool2d(F.conv2d(x, w1, ps["0.bias"].reshape(-1)), 2))  # [B, P*16, 12, 12]
    h = h.view(batch, rows, 16, 12, 12).transpose(0, 1).reshape(rows * batch, 16, 12, 12)

    def conv(h, w, b, k):
        n, cin, height, width = h.shape
        ho, wo, cout = height - k + 1, width - k + 1, w.shape[1]
        cols = F.unfold(h, k)  # [P*B, cin*k*k, ho*wo]
        cols = cols.view(rows, batch, cin * k * k, ho * wo).transpose(2, 3)
        cols = cols.reshape(rows, batch * ho * wo, cin * k * k)
        out = torch.baddbmm(b.unsqueeze(1), cols, w.reshape(rows, cout, -1).transpose(1, 2))
        out = out.view(rows, batch, ho, wo, cout).permute(0, 1, 4, 2, 3)
        return F.relu(F.max_pool2d(out.reshape(rows * batch, cout, ho, wo), 2))

    h = conv(h, ps["3.weight"], ps["3.bias"], 3)  # [P*B, 32, 5, 5]
    h = conv(h, ps["6.weight"], ps["6.bias"], 2)  # [P*B, 64, 2, 2]
    h = h.reshape(rows, batch, 256)
    logits = torch.baddbmm(ps["10.bias"].unsqueeze(1), h, ps["10.weight"].transpose(1, 2))
    return logits, losses(logits, y)


def make_vmap():
    try:
        from functorch import vmap
    except ImportError:  # torch >= 2.0
        from torch.func import vmap
    batched = vmap(forward_one, in_dims=(0, None))

    def run(ps, x, y):
        logits = batched(ps, x)
        return logits, losses(logits, y)

    return run


def time_calls(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=DEFAULT_CASES)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ms", type=float, default=600)
    ap.add_argument("--methods", default="grouped,vmap,unfold,loop")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    methods = {"grouped": grouped, "vmap": make_vmap(), "unfold": unfold, "loop": loop}
    chosen = {m: methods[m] for m in args.methods.split(",")}

    live, errors = [], {}
    with torch.no_grad():
        for case in args.cases.split(","):
            rows, batch = (int(v) for v in case.split("x"))
            g = torch.Generator().manual_seed(1)
            x = torch.rand((batch, 1, 28, 28), generator=g) * 4 - 2
            y = torch.arange(batch) * 7 % 10
            ps = population(rows)
            try:
                ref_logits, ref_losses = loop(ps, x, y)
            except RuntimeError as e:  # out of memory
                errors[case] = str(e)
                continue
            for name, fn in chosen.items():
                try:
                    logits, loss = fn(ps, x, y)
                    diff = max(
                        (logits - ref_logits).abs().max().item(),
                        (loss - ref_losses).abs().max().item(),
                    )
                    print(f"{case} {name}: max |difference| to the per-row loop {diff:.2e}",
                          file=__import__("sys").stderr)
                    if not diff < 1e-4:
                        raise AssertionError(f"{name} differs from the loop by {diff}")
                    once = time_calls(lambda: fn(ps, x, y), 1)
                    if once < 2 * args.ms:
                        once = min(once, time_calls(lambda: fn(ps, x, y), 1))
                    n = max(1, round(args.ms / max(once, 0.01)))
                    call = (lambda fn=fn, ps=ps, x=x, y=y: fn(ps, x, y))
                    live.append({"case": case, "method": name, "n": n, "call": call,
                                 "images": rows * batch, "times": []})
                except RuntimeError as e:
                    errors[f"{case} {name}"] = str(e)
            del ref_logits, ref_losses
        for _ in range(args.rounds):
            for item in live:
                item["times"].append(time_calls(item["call"], item["n"]) / item["n"])

    per_method = {}
    for item in live:
        ms = statistics.median(item["times"])
        per_method.setdefault(item["method"], {})[item["case"]] = {
            "image_forwards_per_s": item["images"] / (ms / 1000),
            "ms_per_forward": ms,
        }
    best_rate, best_ms, best_method = {}, {}, {}
    for case in args.cases.split(","):
        options = [(m, r[case]) for m, r in per_method.items() if case in r and m != "loop"]
        if not options:
            best_rate[case] = best_ms[case] = best_method[case] = None
            continue
        m, r = max(options, key=lambda o: o[1]["image_forwards_per_s"])
        best_rate[case], best_ms[case], best_method[case] = (
            r["image_forwards_per_s"], r["ms_per_forward"], m)
    print(json.dumps({
        "adapter": f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads",
        "image_forwards_per_s": best_rate,
        "ms_per_forward": best_ms,
        "method": best_method,
        "methods": per_method,
        "errors": errors,
    }))


if __name__ == "__main__":
    main()
