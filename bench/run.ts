/**
 * `deno task bench`: forward passes per second of the 15,738-parameter MNIST CNN at batch 32
 * for P = 1, 2 and 20 parameter rows, and matmul GFLOP/s at 256/512/1024, on this adapter.
 *
 * Method: a warm-up forward (pipeline compile, pool fill), then R forwards recorded back to
 * back and flushed every 16, followed by one readback; the best of three timed batches is
 * reported (the machine may be shared). "Row-forwards" count one parameter vector over the
 * 32 images: P rows in one call count P.
 *
 * @module
 */

import { type Gpu, initGpu, mnistCnn, tensor, tidy } from "../mod.ts";
import { benchMatmul } from "./matmul.ts";

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
  rows: number[] = [1, 2, 20],
  batch = 32,
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
    for (let trial = 0; trial < 3; trial++) {
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

if (import.meta.main) {
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
  console.log(JSON.stringify({ adapter: gpu.adapterName, forward: forwards, matmul }));
}
