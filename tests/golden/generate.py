#!/usr/bin/env python3
"""Golden trajectories of torch.optim, written once as JSON fixtures for the Deno tests.

Run with Debian's torch (apt-get install python3-torch):

    /usr/bin/python3 tests/golden/generate.py

For every optimizer configuration it runs 20 steps of real PyTorch on a small fixed problem
and records, per step, the gradient torch computed for each parameter (null when the
parameter got none) and every parameter after the step. The Deno tests replay the recorded
gradients through our fused WGSL updates and compare the parameters. For every scheduler
configuration it records the learning rate (and momentum, when the scheduler cycles it) after
each scheduler step. Lion is not in torch 1.13; its reference is the published update
(Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2), written below
as a torch.optim.Optimizer.
"""

import json
import math
import os

import torch

STEPS = 20
HERE = os.path.dirname(os.path.abspath(__file__))


class Lion(torch.optim.Optimizer):
    """Lion as published: c = β1·m + (1−β1)·g; p ← p·(1 − lr·wd) − lr·sign(c); m ← β2·m + (1−β2)·g."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "exp_avg" not in state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                c = m * beta1 + p.grad * (1 - beta1)
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(torch.sign(c), alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)


def make_params():
    """Three parameters: a 2x3 matrix, a 3-vector, and an unused 2-vector (never gets a grad)."""
    g = torch.Generator().manual_seed(1234)
    w = torch.randn(2, 3, generator=g, dtype=torch.float32).requires_grad_()
    b = torch.randn(3, generator=g, dtype=torch.float32).requires_grad_()
    unused = torch.randn(2, generator=g, dtype=torch.float32).requires_grad_()
    return {"w": w, "b": b, "unused": unused}


def loss_fn(params, step):
    """A smooth non-quadratic problem whose target moves with the step (so grads keep changing)."""
    w, b = params["w"], params["b"]
    x = torch.tensor([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]], dtype=torch.float32)
    target = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float32) * (1 + 0.1 * step)
    pred = (x @ w).sum(dim=1) + b
    return ((pred - target) ** 2).mean() + 0.1 * (w ** 4).sum() + 0.05 * torch.sin(3 * b).sum()


def values(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def run(name, cls, groups, defaults):
    params = make_params()
    init = {k: values(v) for k, v in params.items()}
    torch_groups = [
        dict({k: v for k, v in g.items() if k != "params"}, params=[params[p] for p in g["params"]])
        for g in groups
    ]
    opt = cls(torch_groups, **defaults)
    steps = []
    for step in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss_fn(params, step).backward()
        grads = {k: (None if v.grad is None else values(v.grad)) for k, v in params.items()}
        opt.step()
        steps.append({"grads": grads, "params": {k: values(v) for k, v in params.items()}})
    return {
        "name": name,
        "optimizer": cls.__name__,
        "defaults": defaults,
        "groups": groups,
        "shapes": {k: list(v.shape) for k, v in params.items()},
        "init": init,
        "steps": steps,
    }


ALL = ["w", "b", "unused"]
TWO_GROUPS = [{"params": ["w"]}, {"params": ["b", "unused"], "lr": 0.003}]


def optimizer_cases():
    S, A, W = torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW
    return [
        ("sgd plain", S, [{"params": ALL}], dict(lr=0.05)),
        ("sgd momentum", S, [{"params": ALL}], dict(lr=0.05, momentum=0.9)),
        ("sgd momentum dampening", S, [{"params": ALL}], dict(lr=0.05, momentum=0.9, dampening=0.3)),
        ("sgd nesterov", S, [{"params": ALL}], dict(lr=0.05, momentum=0.9, nesterov=True)),
        ("sgd weight decay", S, [{"params": ALL}], dict(lr=0.05, momentum=0.5, weight_decay=0.1)),
        ("sgd maximize", S, [{"params": ALL}], dict(lr=0.01, momentum=0.9, maximize=True)),
        ("sgd two groups", S, [{"params": ["w"]}, {"params": ["b", "unused"], "lr": 0.2, "momentum": 0.5}],
         dict(lr=0.05, momentum=0.9, nesterov=True)),
        ("adam", A, [{"params": ALL}], dict(lr=0.01)),
        ("adam weight decay", A, [{"params": ALL}], dict(lr=0.01, weight_decay=0.1)),
        ("adam amsgrad", A, [{"params": ALL}], dict(lr=0.01, amsgrad=True, betas=(0.8, 0.99))),
        ("adam maximize", A, [{"params": ALL}], dict(lr=0.01, maximize=True)),
        ("adam two groups", A, TWO_GROUPS, dict(lr=0.02, eps=1e-6)),
        ("adamw", W, [{"params": ALL}], dict(lr=0.01)),
        ("adamw weight decay", W, [{"params": ALL}], dict(lr=0.01, weight_decay=0.5)),
        ("adamw amsgrad", W, [{"params": ALL}], dict(lr=0.01, amsgrad=True)),
        ("adamw two groups", W, [{"params": ["w"], "weight_decay": 0.0}, {"params": ["b", "unused"], "lr": 0.003}],
         dict(lr=0.02)),
        ("lion", Lion, [{"params": ALL}], dict(lr=0.003)),
        ("lion weight decay", Lion, [{"params": ALL}], dict(lr=0.003, weight_decay=0.5, betas=(0.95, 0.98))),
        ("lion two groups", Lion, TWO_GROUPS, dict(lr=0.001)),
    ]


def scheduler_cases():
    L = torch.optim.lr_scheduler
    return [
        ("step", L.StepLR, dict(step_size=3, gamma=0.5), {}),
        ("exponential", L.ExponentialLR, dict(gamma=0.9), {}),
        ("cosine", L.CosineAnnealingLR, dict(T_max=10), {}),
        ("cosine eta_min past T_max", L.CosineAnnealingLR, dict(T_max=7, eta_min=0.01), {}),
        ("lambda", L.LambdaLR, "lambda", {}),
        ("linear", L.LinearLR, dict(start_factor=0.25, end_factor=1.0, total_iters=8), {}),
        ("linear decay", L.LinearLR, dict(start_factor=1.0, end_factor=0.1, total_iters=5), {}),
        ("one cycle cos", L.OneCycleLR, dict(max_lr=1.0, total_steps=25), {"momentum": 0.9}),
        ("one cycle linear three phase", L.OneCycleLR,
         dict(max_lr=0.5, total_steps=25, anneal_strategy="linear", three_phase=True, pct_start=0.4,
              div_factor=10.0, final_div_factor=100.0), {"momentum": 0.9}),
        ("one cycle adam", L.OneCycleLR, dict(max_lr=0.01, total_steps=24, base_momentum=0.8, max_momentum=0.9),
         {"adam": True}),
    ]


def run_scheduler(name, cls, kwargs, extra):
    p = torch.zeros(1, requires_grad=True)
    if extra.get("adam"):
        opt = torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.999))
    else:
        opt = torch.optim.SGD([p], lr=0.1, momentum=extra.get("momentum", 0.0))
    if kwargs == "lambda":
        # The Deno test uses the same function: 0.95^epoch / (1 + epoch // 4).
        sched = cls(opt, lr_lambda=lambda e: 0.95 ** e / (1 + e // 4))
        kwargs = {"lr_lambda": "0.95 ** epoch / (1 + floor(epoch / 4))"}
    else:
        sched = cls(opt, **kwargs)
    n = kwargs.get("total_steps", STEPS) if isinstance(kwargs, dict) else STEPS
    lrs, momenta = [opt.param_groups[0]["lr"]], []
    key = "betas" if extra.get("adam") else "momentum"
    momenta.append(opt.param_groups[0][key][0] if key == "betas" else opt.param_groups[0][key])
    for _ in range(n - 1):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        group = opt.param_groups[0]
        momenta.append(group[key][0] if key == "betas" else group[key])
    return {
        "name": name,
        "scheduler": cls.__name__,
        "kwargs": kwargs,
        "optimizer": "Adam" if extra.get("adam") else "SGD",
        "lr": 0.1,
        "momentum": extra.get("momentum", 0.0),
        "lrs": lrs,
        "momenta": momenta,
    }


def main():
    torch.set_default_dtype(torch.float32)
    optimizers = [run(*case) for case in optimizer_cases()]
    schedulers = [run_scheduler(*case) for case in scheduler_cases()]
    meta = {"torch": torch.__version__, "steps": STEPS, "script": "tests/golden/generate.py"}
    with open(os.path.join(HERE, "optimizers.json"), "w") as f:
        json.dump({"meta": meta, "cases": optimizers}, f, indent=None, separators=(",", ":"))
    with open(os.path.join(HERE, "schedulers.json"), "w") as f:
        json.dump({"meta": meta, "cases": schedulers}, f, indent=1)
    print(f"wrote {len(optimizers)} optimizer and {len(schedulers)} scheduler trajectories")


if __name__ == "__main__":
    main()
