// Test problems whose gradients are computed on the GPU by a test-only kernel, so an
// optimizer can run thousands of steps with no readback: a diagonal quadratic and the
// chained Rosenbrock function.

import type { KernelSpec } from "../../src/gpu/kernel.ts";
import { ceilDiv, fold } from "../../src/ops/_util.ts";
import { type FlatParameters, Parameter } from "../../src/params/flat.ts";

const GRAD_WGSL = `
struct Params { pOff: u32, n: u32, kind: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.n) { return; }
  let xi = x[p.pOff + i];
  if (p.kind == 0u) {
    // 0.5 * a_i * (x_i - c_i)^2 with a_i = 1 + i % 5, c_i = sin(i)
    g[p.pOff + i] = f32(1u + i % 5u) * (xi - sin(f32(i)));
    return;
  }
  var d = 0.0;
  if (i + 1u < p.n) {
    let next = x[p.pOff + i + 1u];
    d = -400.0 * xi * (next - xi * xi) - 2.0 * (1.0 - xi);
  }
  if (i > 0u) {
    let prev = x[p.pOff + i - 1u];
    d = d + 200.0 * (xi - prev * prev);
  }
  g[p.pOff + i] = d;
}`;

const SPEC: KernelSpec = {
  file: "tests/optim/_problems.ts",
  code: GRAD_WGSL,
  entryPoint: "grad",
  storage: ["read", "write"],
  params: { pOff: "u32", n: "u32", kind: "u32" },
};

/** A problem: its starting point, CPU loss and GPU gradient kind. */
export interface Problem {
  name: string;
  start: number[];
  loss(x: ArrayLike<number>): number;
  kind: 0 | 1;
}

export const QUADRATIC: Problem = {
  name: "quadratic",
  start: new Array(10).fill(0),
  loss: (x) => {
    let f = 0;
    for (let i = 0; i < x.length; i++) f += 0.5 * (1 + (i % 5)) * (x[i] - Math.sin(i)) ** 2;
    return f;
  },
  kind: 0,
};

export const ROSENBROCK: Problem = {
  name: "Rosenbrock",
  start: [-1.5, 2],
  loss: (x) => {
    let f = 0;
    for (let i = 0; i + 1 < x.length; i++) f += 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2;
    return f;
  },
  kind: 1,
};

/** A one-parameter "model" holding the problem's variables. */
export function variables(problem: Problem): Parameter {
  return new Parameter(problem.start);
}

/** Writes ∇f(x) of `row` into the gradient buffer and marks it present (no readback). */
export function computeGrad(problem: Problem, x: Parameter, row = 0): void {
  const flat: FlatParameters = x.flat!;
  const gpu = flat.gpu;
  gpu.dispatch(gpu.kernel(SPEC), [flat.buffer, flat.gradBuffer], {
    pOff: row * flat.stride + x.offset,
    n: x.numel,
    kind: problem.kind,
  }, fold(ceilDiv(x.numel, 64)));
  flat.setHasGrad(x, row, true);
}
