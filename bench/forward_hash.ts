/**
 * Bit-identity check of the CNN forward: hashes the logits (and per-row cross-entropy) of the
 * MNIST CNN for P distinct parameter rows on a fixed batch, so that a kernel change can be
 * checked for "not a single bit changed" by comparing the printed hashes before and after.
 *
 *     deno run --allow-env=LP_NUM_THREADS bench/forward_hash.ts [--cases 1x32,20x32,64x32,16x256]
 *       [--max-binding BYTES]
 *
 * `--max-binding` lowers `Gpu.maxBindingSize`, so that the ops split their dispatches over
 * ranges of rows or images: the hashes must not change.
 * Each case is `PxB`. Rows get deterministic, distinct values (row 0 the seeded init, row r the
 * init plus a row-dependent perturbation); the images are a deterministic pattern. Prints one
 * line per case: `P B sha256(logits) sha256(losses)`, and a JSON line with all of them.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { crossEntropy, initGpu, manualSeed, mnistCnn, tensor, tidy } from "../mod.ts";

async function sha256(data: Float32Array): Promise<string> {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const digest = await crypto.subtle.digest("SHA-256", bytes.slice());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Logits and per-row losses of the CNN for `rows` rows on a batch of `batch` images; with
 * `window`, also those of the same rows evaluated `window` rows at a time (`setActive`).
 */
export async function forwardOutputs(
  rows: number,
  batch: number,
  window?: number,
): Promise<{ logits: Float32Array; losses: Float32Array; windowed?: Float32Array }> {
  manualSeed(1234);
  const model = mnistCnn();
  const flat = model.flat;
  const size = flat.size;
  const base = await flat.readRow(0);
  flat.setRows(rows);
  for (let r = 1; r < rows; r++) {
    const row = new Float32Array(size);
    for (let i = 0; i < size; i++) row[i] = base[i] * (1 + 0.01 * Math.sin(r * 7.1 + i * 0.37));
    flat.loadRow(r, row);
  }
  flat.setActive(rows);
  const x = tensor(
    Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i * 0.013) * 1.7),
    [batch, 1, 28, 28],
  );
  const y = tensor(Array.from({ length: batch }, (_, i) => (i * 7) % 10), [batch]);
  const [logits, losses] = tidy(() => {
    const out = model.forward(x);
    return [out, crossEntropy(out, y, { reduction: "mean" })];
  });
  const result = {
    logits: await logits.read(),
    losses: await losses.read(),
    windowed: undefined as Float32Array | undefined,
  };
  logits.dispose();
  losses.dispose();
  if (window !== undefined) {
    const all = new Float32Array(result.logits.length);
    const perRow = batch * 10;
    for (let start = 0; start < rows; start += window) {
      const count = Math.min(window, rows - start);
      flat.setActive(count, start);
      const out = model.forward(x);
      all.set(await out.read(), start * perRow);
      out.dispose();
    }
    result.windowed = all;
  }
  x.dispose();
  y.dispose();
  flat.dispose();
  return result;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      cases: { type: "string", default: "1x32,20x32,64x32,16x256" },
      "max-binding": { type: "string" },
      window: { type: "string" },
    },
  });
  const gpu = await initGpu();
  if (values["max-binding"] !== undefined) gpu.maxBindingSize = Number(values["max-binding"]);
  console.error(`adapter: ${gpu.adapterName}`);
  const out: Record<string, [string, string]> = {};
  for (const c of values.cases.split(",")) {
    const [p, b] = c.split("x").map(Number);
    const window = values.window === undefined ? undefined : Number(values.window);
    const { logits, losses, windowed } = await forwardOutputs(p, b, window);
    out[c] = [await sha256(logits), await sha256(losses)];
    const same = windowed === undefined
      ? ""
      : ` windows of ${window} rows: ${
        (await sha256(windowed)) === out[c][0] ? "bit-identical" : "DIFFERENT"
      }`;
    console.error(
      `P=${p} B=${b} logits ${out[c][0].slice(0, 16)} losses ${out[c][1].slice(0, 16)}${same}`,
    );
  }
  console.log(JSON.stringify(out));
  gpu.destroy();
}
