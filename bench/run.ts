/**
 * `deno task bench`: forward passes per second of the 15,738-parameter MNIST CNN at batch 32
 * for P = 1, 2 and 20 parameter rows, and matmul GFLOP/s at 256/512/1024, on this adapter;
 * then the target check, the forward's GFLOP/s as a share of the best matmul's.
 *
 * Method: a warm-up forward (pipeline compile, pool fill), then R forwards recorded back to
 * back and flushed every 16, followed by one readback; the best of three timed batches is
 * reported (the machine may be shared). "Row-forwards" count one parameter vector over the
 * 32 images: P rows in one call count P. The target check runs `--rounds` rounds (default 5),
 * each timing every forward and the fallback matmul at 1024 back to back, and reports the
 * median of the per-round shares: a shared machine's speed drifts by tens of percent within a
 * minute, and a share taken within one round cancels most of that drift.
 *
 *     deno task bench [--rounds 5]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Gpu, initGpu, mnistCnn, tensor, tidy } from "../mod.ts";
import { benchMatmul } from "./matmul.ts";
import { median } from "./_timing.ts";

/** Floating-point operations of one CNN forward of one image (convolutions and the linear layer). */
export const CNN_FLOP_PER_IMAGE = 2 *
  (16 * 25 * 25 * 16 + 32 * 10 * 10 * 144 + 64 * 4 * 4 * 128 + 10 * 256);

/** Forward-pass throughput of one population size. */
export interface ForwardResult {
  rows: number;
  /** Closure-style forward calls per second (each evaluates `rows` parameter vectors). */
  callsPerSecond: number;
  /** Parameter-row forwards per second. */
  rowForwardsPerSecond: number;
  /** Convolution and matmul GFLOP/s. */
  gflops: number;
}

/** Times CNN forwards at batch `batch` for each population size in `rows`. */
export async function benchForward(
  gpu: Gpu,
  rows: readonly number[] = [1, 2, 20],
  { batch = 32, trials = 3 }: { batch?: number; trials?: number } = {},
): Promise<ForwardResult[]> {
  const model = mnistCnn();
  const x = tensor(new Float32Array(batch * 784).map((_, i) => Math.sin(i)), [batch, 1, 28, 28], {
    gpu,
  });
  const out: ForwardResult[] = [];
  for (const p of rows) {
    model.flat.setRows(p);
    model.flat.setActive(p);
    const forward = () => tidy(() => void model.forward(x));
    forward();
    await gpu.readBuffer(model.flat.buffer, 0, 4);
    const repeats = Math.max(8, Math.round(160 / p));
    let best = Infinity;
    for (let trial = 0; trial < trials; trial++) {
      const t0 = performance.now();
      for (let i = 0; i < repeats; i++) {
        forward();
        if (i % 16 === 15) gpu.flush();
      }
      await gpu.readBuffer(model.flat.buffer, 0, 4);
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    const calls = repeats / best;
    out.push({
      rows: p,
      callsPerSecond: calls,
      rowForwardsPerSecond: calls * p,
      gflops: (calls * p * batch * CNN_FLOP_PER_IMAGE) / 1e9,
    });
  }
  x.dispose();
  model.flat.dispose();
  return out;
}

/** The forward's share of the best matmul's GFLOP/s, over rounds (see the module doc). */
export interface ForwardShare {
  rows: number;
  /** Median over rounds of forward GFLOP/s ÷ best fallback matmul GFLOP/s of the same round. */
  median: number;
  min: number;
  max: number;
  /** Median forward GFLOP/s. */
  forwardGflops: number;
  /** Median best matmul GFLOP/s. */
  matmulGflops: number;
}

/**
 * The target check: per round, every forward of `rows` and the fallback matmul at 1024
 * (plain and transB, the better kept) timed back to back; the per-round shares summarised.
 */
export async function forwardShares(
  gpu: Gpu,
  rounds: number,
  rows: readonly number[] = [1, 2, 20],
): Promise<ForwardShare[]> {
  const forward: number[][] = rows.map(() => []);
  const matmul: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const f = await benchForward(gpu, rows, { trials: 1 });
    const m = await benchMatmul(gpu, [1024], { variants: ["fallback"], trials: 1 });
    f.forEach((r, i) => forward[i].push(r.gflops));
    matmul.push(Math.max(...Object.values(m)));
  }
  return rows.map((p, i) => {
    const shares = forward[i].map((g, round) => g / matmul[round]);
    return {
      rows: p,
      median: median(shares),
      min: Math.min(...shares),
      max: Math.max(...shares),
      forwardGflops: median(forward[i]),
      matmulGflops: median(matmul),
    };
  });
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { rounds: { type: "string" } } });
  const rounds = Number(values.rounds ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError("--rounds must be ≥ 1");
  const gpu = await initGpu();
  console.log(`adapter: ${gpu.adapterName}`);
  const forwards = await benchForward(gpu);
  for (const f of forwards) {
    console.log(
      `CNN forward, batch 32, P=${String(f.rows).padStart(2)}: ${
        f.callsPerSecond.toFixed(1).padStart(7)
      } calls/s · ` +
        `${f.rowForwardsPerSecond.toFixed(1).padStart(7)} row-forwards/s · ${
          f.gflops.toFixed(2)
        } GFLOP/s`,
    );
  }
  const matmul = await benchMatmul(gpu, [256, 512, 1024]);
  for (const [name, gflops] of Object.entries(matmul)) {
    console.log(`matmul ${name}: ${gflops.toFixed(2)} GFLOP/s`);
  }
  const shares = await forwardShares(gpu, rounds);
  console.log(`forward GFLOP/s as a share of the best matmul's, ${rounds} rounds (target ≥ 60%):`);
  for (const s of shares) {
    console.log(
      `  P=${String(s.rows).padStart(2)}: median ${(100 * s.median).toFixed(0)}% ` +
        `(min ${(100 * s.min).toFixed(0)}%, max ${(100 * s.max).toFixed(0)}%) · forward ` +
        `${s.forwardGflops.toFixed(2)} vs matmul ${s.matmulGflops.toFixed(2)} GFLOP/s`,
    );
  }
  console.log(JSON.stringify({ adapter: gpu.adapterName, forward: forwards, matmul, shares }));
}
