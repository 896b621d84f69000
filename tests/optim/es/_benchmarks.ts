// The benchmark functions of the pycma comparison (sphere, ellipsoid, Rosenbrock), on the host
// and as a GPU objective over population rows, and the count of evaluations until a target.

import type { KernelSpec } from "../../../src/gpu/kernel.ts";
import type { Parameter } from "../../../src/params/flat.ts";
import type { PopulationOptimizer } from "../../../src/optim/population/population_optimizer.ts";
import { Tensor } from "../../../src/tensor.ts";
import { gpu } from "../../_util.ts";

/** The functions and where pycma starts them (tests/golden/pycma_reference.json). */
export const FUNCTIONS = {
  sphere: { kind: 0, x0: 1, sigma: 1 },
  elli: { kind: 1, x0: 1, sigma: 1 },
  rosen: { kind: 2, x0: 0, sigma: 0.5 },
} as const;

export type FunctionName = keyof typeof FUNCTIONS;

/** The function on the host, in float64. */
export function hostFunction(name: FunctionName): (x: Float32Array) => number {
  switch (name) {
    case "sphere":
      return (x) => x.reduce((a, v) => a + v * v, 0);
    case "elli":
      return (x) => x.reduce((a, v, i) => a + 10 ** (6 * i / (x.length - 1)) * v * v, 0);
    case "rosen":
      return (x) => {
        let f = 0;
        for (let i = 0; i + 1 < x.length; i++) {
          f += 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2;
        }
        return f;
      };
  }
}

const CODE = `
struct Params { off: u32, stride: u32, n: u32, rows: u32, kind: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn evaluate(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  let base = p.off + r * p.stride;
  var f = 0.0;
  for (var i = 0u; i < p.n; i++) {
    let v = x[base + i];
    if (p.kind == 0u) {
      f += v * v;
    } else if (p.kind == 1u) {
      f += pow(10.0, 6.0 * f32(i) / f32(p.n - 1u)) * v * v;
    } else if (i + 1u < p.n) {
      let a = x[base + i + 1u] - v * v;
      f += 100.0 * a * a + (1.0 - v) * (1.0 - v);
    }
  }
  out[r] = f;
}`;

const SPEC: KernelSpec = {
  file: "tests/optim/es/_benchmarks.ts",
  code: CODE,
  entryPoint: "evaluate",
  storage: ["read", "write"],
};

/** The function as a GPU closure: one loss per evaluated row of `x`. */
export function gpuClosure(name: FunctionName, x: Parameter): () => Tensor {
  return () => {
    const view = x.view();
    const rows = view.rows;
    const out = Tensor.empty([rows], { gpu });
    gpu.dispatch(gpu.kernel(SPEC), [view.buffer, out.buffer], {
      off: view.offset,
      stride: view.rowStride,
      n: x.numel,
      rows,
      kind: FUNCTIONS[name].kind,
    }, [Math.ceil(rows / 64)]);
    view.dispose();
    return out;
  };
}

/**
 * Evaluations until the best loss is ≤ `target`, for an optimizer that ranks on the GPU: its
 * losses are copied into a history buffer on the GPU and read back every `chunk` generations,
 * so the run itself reads nothing back. Null when `maxEvals` is reached first.
 */
export async function evaluationsToTarget(
  opt: PopulationOptimizer<object>,
  closure: () => Tensor,
  o: { target: number; maxEvals: number; chunk?: number },
): Promise<number | null> {
  const chunk = o.chunk ?? 200;
  let evals = 0;
  for (;;) {
    const population = opt.ask();
    const p = population.size;
    const history = gpu.pool.acquire(chunk * p * 4, "history");
    for (let g = 0; g < chunk; g++) {
      if (g > 0) opt.ask();
      const loss = closure();
      gpu.copy(loss.buffer, loss.offset * 4, history, g * p * 4, p * 4);
      opt.tell(loss).dispose();
      loss.dispose();
    }
    const values = new Float32Array(await gpu.readBuffer(history, 0, chunk * p * 4));
    gpu.pool.release(history);
    for (let g = 0; g < chunk; g++) {
      evals += p;
      if (values.subarray(g * p, (g + 1) * p).some((v) => v <= o.target)) return evals;
    }
    if (evals >= o.maxEvals) return null;
  }
}

/**
 * The median of the counts that are not null (the mean of the middle two when their number is
 * even, as Python's `statistics.median` takes pycma's), or null if fewer than half succeeded.
 */
export function median(counts: (number | null)[]): number | null {
  const ok = counts.filter((c): c is number => c !== null).sort((a, b) => a - b);
  if (ok.length * 2 < counts.length) return null;
  const mid = ok.length >> 1;
  return ok.length % 2 === 1 ? ok[mid] : (ok[mid - 1] + ok[mid]) / 2;
}

/** How many runs reached the target. */
export function successes(counts: (number | null)[]): number {
  return counts.filter((c) => c !== null).length;
}
