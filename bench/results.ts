/**
 * Prints Markdown tables from the `--json` files of examples/mnist.ts runs (docs/results/):
 * per run the test accuracy after every epoch, the final and best accuracy, wall time and
 * steps/s; then the mean over seeds per configuration. With `--plot DIR`, also draws the
 * learning curves as SVG: `DIR/<configuration>.svg` (the seeds of one configuration: train and
 * test loss, test accuracy, against steps with evaluations on top) and `DIR/comparison.svg`
 * (every configuration's mean test accuracy against steps and against evaluations), and prints
 * the Markdown that embeds them. Results recorded before the per-step loss curve existed are
 * drawn from their per-epoch points (their train loss is each epoch's last step), and the plot
 * says so.
 *
 *     deno run --allow-read bench/results.ts docs/results/*.json
 *     deno run --allow-read --allow-write bench/results.ts --plot docs/plots docs/results/*.json
 *
 * @module
 */

import { parseArgs } from "node:util";
import { writeFileAtomic } from "../mod.ts";
import { plotComparison, plotSeeds } from "../examples/_plot.ts";
import type { TrainResult } from "../examples/_train.ts";

const { values, positionals: files } = parseArgs({
  args: Deno.args,
  options: { plot: { type: "string" } },
  allowPositionals: true,
});
const runs: { name: string; r: TrainResult }[] = [];
for (const file of files) {
  runs.push({
    name: file.split("/").at(-1)!.replace(/\.json$/, ""),
    r: JSON.parse(await Deno.readTextFile(file)),
  });
}

const pct = (v: number) => (100 * v).toFixed(1);
const millions = (v: number) => `${(v / 1e6).toFixed(2)}M`;
const thousands = (v: number) => `${(v / 1e3).toFixed(1)}k`;
/** Population × batch × steps; results recorded before the field existed have forward passes. */
const imageForwards = (r: TrainResult) => r.imageForwards ?? r.forwardPasses * r.config.batchSize;
const epochs = Math.max(...runs.map((x) => x.r.epochs.length));
const header = [
  "run",
  ...Array.from({ length: epochs }, (_, e) => `e${e}`),
  "final",
  "best",
  "test loss",
  "image-forwards",
  "wall s",
  "steps/s",
  "image-forwards/s",
];
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
for (const { name, r } of runs) {
  const acc = r.epochs.map((e) => e.testAccuracy);
  const last = r.epochs.at(-1)!;
  // Shorter runs (the evolution strategies, the backprop presets) leave later epochs blank.
  const cells = Array.from({ length: epochs }, (_, e) => e < acc.length ? pct(acc[e]) : "–");
  console.log(
    `| ${name} | ${cells.join(" | ")} | **${pct(last.testAccuracy)}** | ${
      pct(Math.max(...acc.slice(1)))
    } | ${last.testLoss.toFixed(4)} | ${millions(imageForwards(r))} | ${
      r.wallSeconds.toFixed(0)
    } | ${r.stepsPerSecond.toFixed(1)} | ${thousands(imageForwards(r) / r.trainSeconds)} |`,
  );
}

const groups = new Map<string, TrainResult[]>();
for (const { name, r } of runs) {
  const key = name.replace(/_s\d+$/, "");
  groups.set(key, [...(groups.get(key) ?? []), r]);
}
console.log(
  "\n| configuration | seeds | final accuracy mean (min–max) | image-forwards | wall s mean | steps/s mean |",
);
console.log("|---|---|---|---|---|---|");
for (const [key, rs] of groups) {
  const finals = rs.map((r) => r.epochs.at(-1)!.testAccuracy);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  console.log(
    `| ${key} | ${rs.length} | ${pct(mean(finals))} (${pct(Math.min(...finals))}–${
      pct(Math.max(...finals))
    }) | ${millions(mean(rs.map(imageForwards)))} | ${
      mean(rs.map((r) => r.wallSeconds)).toFixed(0)
    } | ${mean(rs.map((r) => r.stepsPerSecond)).toFixed(1)} |`,
  );
}

if (values.plot !== undefined) {
  const dir = values.plot.replace(/\/$/, "");
  await Deno.mkdir(dir, { recursive: true });
  const byName = new Map<string, { name: string; r: TrainResult }[]>();
  for (const run of runs) {
    const key = run.name.replace(/_s\d+$/, "");
    byName.set(key, [...(byName.get(key) ?? []), run]);
  }
  const encoder = new TextEncoder();
  console.log("");
  for (const [key, group] of byName) {
    await writeFileAtomic(`${dir}/${key}.svg`, encoder.encode(plotSeeds(key, group)));
    console.log(`![${key}](${dir.split("/").at(-1)}/${key}.svg)`);
  }
  await writeFileAtomic(`${dir}/comparison.svg`, encoder.encode(plotComparison(groups)));
  console.log(`![configurations compared](${dir.split("/").at(-1)}/comparison.svg)`);
}
