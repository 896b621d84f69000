#!/usr/bin/env python3
"""Reference numbers from real pycma for the CMA-ES and sep-CMA-ES ports: evaluations to reach
f <= 1e-8 on sphere, ellipsoid and Rosenbrock, and the strategy constants pycma computes.

Run in a virtual environment with pycma (nothing else from the repo is needed):

    python3 -m venv /work/venv-cma && /work/venv-cma/bin/pip install cma numpy
    /work/venv-cma/bin/python bench/pycma_reference.py [--out tests/golden/pycma_reference.json]

The committed fixture came from cma 4.5.0 and numpy 2.4.6 (`pip install cma==4.5.0` to get the
same numbers; other versions may differ by a few percent).

What it does, with pycma's default options except seed, verbose=-9, ftarget=1e-8 and maxfevals
(TARGET, SEEDS, MAXFEVALS below):
  * for method in (full CMA, separable CMA = option CMA_diagonal=True), function in (sphere,
    elli, rosen), N in (10, 20) and seeds 1..5, an explicit ask/tell loop counts the points
    told until the first generation whose best f is <= 1e-8 (the whole generation counts).
    A run that stops first (pycma's own termination criteria or maxfevals) is a failure,
    recorded as null with its stop reason and best f;
  * reads the constants of freshly built strategies (N=20 with popsize 12, N=10 with the
    default popsize), full and separable, and names the attribute each came from.

Writes the JSON fixture (default tests/golden/pycma_reference.json) and prints a Markdown
table of the median evaluations over successful seeds. Deterministic: pycma seeds numpy's
global generator from the `seed` option. Takes about one minute on one core.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import warnings

warnings.filterwarnings("ignore", message="Could not import matplotlib")

import cma  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "tests", "golden", "pycma_reference.json")

TARGET = 1e-8
SEEDS = [1, 2, 3, 4, 5]
DIMENSIONS = [10, 20]
MAXFEVALS = {10: 200_000, 20: 400_000}
METHODS = {"full": {}, "sep": {"CMA_diagonal": True}}


def sphere(x):
    return float(np.sum(x**2))


def elli(x):
    n = len(x)
    return float(np.sum(10.0 ** (6.0 * np.arange(n) / (n - 1)) * x**2))


def rosen(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


# name -> (function, x0 value in every coordinate, sigma0)
FUNCTIONS = {"sphere": (sphere, 1.0, 1.0), "elli": (elli, 1.0, 1.0), "rosen": (rosen, 0.0, 0.5)}


def run_once(method, fname, n, seed):
    """One ask/tell run; returns its record (evaluations is None when 1e-8 was not reached)."""
    f, x0, sigma0 = FUNCTIONS[fname]
    opts = {"seed": seed, "verbose": -9, "ftarget": TARGET, "maxfevals": MAXFEVALS[n]}
    opts.update(METHODS[method])
    es = cma.CMAEvolutionStrategy(n * [x0], sigma0, opts)
    evaluations, best = 0, float("inf")
    while True:
        xs = es.ask()
        fs = [f(np.asarray(x)) for x in xs]
        es.tell(xs, fs)
        evaluations += len(xs)
        best = min(best, min(fs))
        if best <= TARGET:
            return {"evaluations": evaluations, "iterations": es.countiter, "stop": "reached 1e-8",
                    "best_f": best}
        stop = es.stop()
        if stop:
            reason = ", ".join(f"{k}={v}" for k, v in stop.items())
            return {"evaluations": None, "iterations": es.countiter, "stop": reason,
                    "told": evaluations, "best_f": best}


def measure():
    """results[method][function][str(N)] with the five runs and their summary."""
    results = {}
    for method in METHODS:
        for fname in FUNCTIONS:
            for n in DIMENSIONS:
                runs = [run_once(method, fname, n, seed) for seed in SEEDS]
                counts = [r["evaluations"] for r in runs]
                ok = [c for c in counts if c is not None]
                results.setdefault(method, {}).setdefault(fname, {})[str(n)] = {
                    "evaluations": counts,
                    "successes": len(ok),
                    "median": statistics.median(ok) if ok else None,
                    "runs": [dict(seed=s, **r) for s, r in zip(SEEDS, runs)],
                }
                print(f"{method:4} {fname:6} N={n}: {counts}", file=sys.stderr, flush=True)
    return results


CONSTANT_SOURCES = {
    "popsize": "es.sp.popsize (lambda)",
    "mu": "es.sp.weights.mu",
    "mueff": "es.sp.weights.mueff (of the positive weights)",
    "weights_mu": "es.sp.weights.positive_weights (the mu positive recombination weights, sum 1)",
    "weights_all": "list(es.sp.weights): all lambda weights after finalize_negative_weights; the negative "
                   "(active CMA) ones differ between full (finalized with c1, cmu) and sep "
                   "(finalized with c1_sep, cmu_sep, pos_def=False)",
    "c1": "es.sp.c1 = min(1, lambda/6) * 2 / ((N + 1.3)^2 + mueff)",
    "cc": "es.sp.cc = (4 + mueff/N) / (N + 4 + 2*mueff/N)",
    "cmu": "es.sp.cmu = min(1 - c1, 2 * (0.25 + mueff - 2 + 1/mueff) / ((N + 2)^2 + mueff))",
    "c1_sep": "es.sp.c1_sep = 1 / (N + 2*sqrt(N) + mueff/N)",
    "cc_sep": "es.sp.cc_sep = (1 + 1/N + mueff/N) / (sqrt(N) + 1/N + 2*mueff/N)",
    "cmu_sep": "es.sp.cmu_sep = min(1 - c1_sep, (0.25 + mueff + 1/mueff - 2) / (N + 4*sqrt(N) + mueff/2))",
    "sampler_c1": "es.sm.parameters(mueff, lambda)['c1']: the c1 the full update uses (same formula as sp.c1)",
    "sampler_cmu": "es.sm.parameters()['cmu']: the cmu the full update uses (same formula as sp.cmu)",
    "cs": "es.adapt_sigma.cs = min(1/2, (mueff + 2) / (N + mueff + 3))",
    "damps": "es.adapt_sigma.damps = 0.5 + min(1, (lam_mirr/(0.159*lambda) - 1)^2)/2 + 2*max(0, "
             "d*sqrt((mueff-1)/(N+1)) - 1) + cs with d = max(1, 3*(1 - 0.5^(N/9))); = 1 + cs here "
             "(no mirrors, small mueff)",
    "chiN": "es.const.chiN = E||N(0, I)|| ~ sqrt(N) * (1 - 1/(4N) + 1/(21N^2))",
    "cmean": "es.sp.cmean (learning rate of the mean)",
}


def constants(n, popsize):
    """Constants of freshly built full and separable strategies in dimension n."""
    out = {}
    for method, extra in METHODS.items():
        opts = {"seed": 1, "verbose": -9}
        if popsize is not None:
            opts["popsize"] = popsize
        opts.update(extra)
        es = cma.CMAEvolutionStrategy(n * [1], 1, opts)
        sp, w = es.sp, es.sp.weights
        sampler = es.sm.parameters(w.mueff, w.lambda_)
        out[method] = {
            "popsize": sp.popsize, "mu": w.mu, "mueff": w.mueff,
            "weights_mu": [float(v) for v in w.positive_weights],
            "weights_all": [float(v) for v in w],
            "c1": sp.c1, "cc": sp.cc, "cmu": sp.cmu,
            "c1_sep": sp.c1_sep, "cc_sep": sp.cc_sep, "cmu_sep": sp.cmu_sep,
            "sampler_c1": sampler["c1"], "sampler_cmu": sampler["cmu"],
            "cs": es.adapt_sigma.cs, "damps": es.adapt_sigma.damps,
            "chiN": es.const.chiN, "cmean": sp.cmean,
        }
    return out


def table(results):
    cols = [(m, n) for n in DIMENSIONS for m in METHODS]
    lines = ["| function | " + " | ".join(f"{m} {n}-D" for m, n in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for fname in FUNCTIONS:
        cells = []
        for m, n in cols:
            r = results[m][fname][str(n)]
            med = "—" if r["median"] is None else f"{r['median']:g}"
            cells.append(f"{med} ({r['successes']}/{len(SEEDS)})")
        lines.append(f"| {fname} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="JSON file to write")
    args = parser.parse_args()

    results = measure()
    default_popsize = {str(n): cma.CMAEvolutionStrategy(n * [1], 1, {"verbose": -9}).sp.popsize
                       for n in DIMENSIONS}
    doc = {
        "meta": {
            "script": "bench/pycma_reference.py",
            "command": "/work/venv-cma/bin/python bench/pycma_reference.py",
            "cma": cma.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "date": datetime.date.today().isoformat(),
        },
        "settings": {
            "target": TARGET,
            "seeds": SEEDS,
            "options": {"seed": "1..5", "verbose": -9, "ftarget": TARGET,
                        "maxfevals": {str(n): v for n, v in MAXFEVALS.items()}},
            "methods": {"full": "cma.CMAEvolutionStrategy(x0, sigma0, options)",
                        "sep": "the same with option CMA_diagonal=True"},
            "functions": {
                "sphere": "sum x_i^2",
                "elli": "sum 10^(6 i/(N-1)) x_i^2, i = 0..N-1",
                "rosen": "sum_{i<N-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2",
            },
            "starts": {name: {"x0": x0, "sigma0": s0} for name, (_, x0, s0) in FUNCTIONS.items()},
            "counting": "points told (ask/tell) up to and including the first generation whose best f "
                        "<= target; null when the run stopped first (stop reason and best f in runs)",
            "median": "statistics.median over the successful seeds (mean of the middle two when even)",
            "default_popsize": default_popsize,
        },
        "results": results,
        "constants": {
            "sources": CONSTANT_SOURCES,
            "notes": [
                "Built as cma.CMAEvolutionStrategy(N*[1], 1, {'seed': 1, 'verbose': -9[, 'popsize': P]"
                "[, 'CMA_diagonal': True]}).",
                "full: tell uses cc = sp.cc and c1, cmu = sm.parameters() (sampler_c1, sampler_cmu), "
                "weights_all of 'full' (active CMA, negative weights on the worst lambda - mu).",
                "sep (CMA_diagonal=True): tell uses cc_sep, c1_sep, cmu_sep and weights_all of 'sep'. "
                "pycma 4.x does not use the additive sep-CMA update of Ros & Hansen (2008): the "
                "sampler stays the identity and the diagonal lives in es.sigma_vec "
                "(transformations.DiagonalDecoding), updated multiplicatively: "
                "d_i *= exp((sum_k v_k z_{k,i}^2 - sum_k v_k) / 2) with v = ln(2) * [c1a, cmu_sep*w_1, "
                "..., cmu_sep*w_lambda], z = [pc, (x_k - m_old) / (sigma d)] (pc is already divided by d) "
                "and the weights w of 'sep' below; each factor > 1 is "
                "clipped to max_k |z_{k,i}^2 - 1| / 2 + 1; c1a = c1_sep * (1 - (1 - hsig) cc_sep (2 - cc_sep)).",
            ],
            "N20_popsize12": constants(20, 12),
            "N10_default_popsize": constants(10, None),
        },
    }
    out = os.path.normpath(args.out)
    with open(out, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    print(f"pycma {cma.__version__}, numpy {np.__version__}: median evaluations to f <= 1e-8 "
          f"(successes/{len(SEEDS)}); default popsize {default_popsize}\n")
    print(table(results))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
