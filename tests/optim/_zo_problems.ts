// Problems for the derivative-free optimizers: closures that evaluate every active parameter
// row at once on the GPU (the population protocol), with CPU twins of the losses.
//
//   quadratic:    f(x) = Σ 0.5·(1 + i mod 5)·(x_i − sin i)²,  n = 10, start 0
//   Rosenbrock:   f(x) = Σ 100·(x_{i+1} − x_i²)² + (1 − x_i)²,  n = 2, start (−1.5, 2)
//   restoration:  f(x) = mean (x_i − i/10)²,  n = 10, start ~ N(0, 1) (spec §1.15)

import type { KernelSpec } from "../../src/gpu/kernel.ts";
import { Parameter } from "../../src/params/flat.ts";
import { mseLoss } from "../../src/ops/loss.ts";
import { Generator } from "../../src/rng.ts";
import { Tensor, tensor } from "../../src/tensor.ts";
import { gpu } from "../_util.ts";

const LOSS_WGSL = `
struct Params { off: u32, stride: u32, n: u32, rows: u32, kind: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn row_loss(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  let base = p.off + r * p.stride;
  var f = 0.0;
  for (var i = 0u; i < p.n; i++) {
    let xi = x[base + i];
    if (p.kind == 0u) {
      let d = xi - sin(f32(i));
      f += 0.5 * f32(1u + i % 5u) * d * d;
    } else if (i + 1u < p.n) {
      let a = x[base + i + 1u] - xi * xi;
      f += 100.0 * a * a + (1.0 - xi) * (1.0 - xi);
    }
  }
  out[r] = f;
}`;

const SPEC: KernelSpec = {
  file: "tests/optim/_zo_problems.ts",
  code: LOSS_WGSL,
  entryPoint: "row_loss",
  storage: ["read", "write"],
  params: { off: "u32", stride: "u32", n: "u32", rows: "u32", kind: "u32" },
};

/** A test problem for derivative-free optimizers. */
export interface ZoProblem {
  name: string;
  /** A fresh parameter at the starting point (its own one-row model). */
  init(seed?: number): Parameter;
  /** The closure: one loss per active row ([P], or a scalar for one row). */
  closure(x: Parameter): () => Tensor;
  /** CPU twin of the loss. */
  loss(x: ArrayLike<number>): number;
  /** Releases what the problem allocated. */
  dispose(): void;
}

function kernelProblem(
  name: string,
  kind: 0 | 1,
  start: number[],
  loss: (x: ArrayLike<number>) => number,
): ZoProblem {
  return {
    name,
    init: () => new Parameter(start),
    closure: (x) => () => {
      const view = x.view();
      const rows = view.rows;
      const out = Tensor.empty(view.population ? [rows] : [], { gpu });
      gpu.dispatch(gpu.kernel(SPEC), [view.buffer, out.buffer], {
        off: view.offset,
        stride: view.rowStride,
        n: x.numel,
        rows,
        kind,
      }, [Math.ceil(rows / 64)]);
      return out;
    },
    loss,
    dispose: () => {},
  };
}

export const QUADRATIC: ZoProblem = kernelProblem("quadratic", 0, new Array(10).fill(0), (x) => {
  let f = 0;
  for (let i = 0; i < x.length; i++) f += 0.5 * (1 + (i % 5)) * (x[i] - Math.sin(i)) ** 2;
  return f;
});

export const ROSENBROCK: ZoProblem = kernelProblem("Rosenbrock", 1, [-1.5, 2], (x) => {
  let f = 0;
  for (let i = 0; i + 1 < x.length; i++) f += 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2;
  return f;
});

const TARGET = Array.from({ length: 10 }, (_, i) => i / 10);
let target: Tensor | null = null;

/** Restoration benchmark of the spec (§1.15): randn(10) fitted by MSE to 0, 0.1, …, 0.9. */
export const RESTORATION: ZoProblem = {
  name: "restoration",
  init: (seed = 0) => new Parameter(new Generator(seed, 15).normals(10)),
  closure: (x) => {
    target ??= tensor(TARGET).keep();
    return () => mseLoss(x.view(), target!);
  },
  loss: (x) => {
    let f = 0;
    for (let i = 0; i < 10; i++) f += (x[i] - TARGET[i]) ** 2;
    return f / 10;
  },
  dispose: () => {
    target?.dispose();
    target = null;
  },
};

export const ZO_PROBLEMS: ZoProblem[] = [QUADRATIC, ROSENBROCK, RESTORATION];

/** Counts closure calls: wraps a closure. */
export function counted(closure: () => Tensor): { closure: () => Tensor; calls: () => number } {
  let n = 0;
  return {
    closure: () => {
      n++;
      return closure();
    },
    calls: () => n,
  };
}
