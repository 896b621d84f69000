/**
 * Prints Markdown tables from the `--json` files of examples/mnist.ts runs (docs/results/):
 * per run the test accuracy after every epoch, the final and best accuracy, wall time and
 * steps/s; then the mean over seeds per configuration.
 *
 *     deno run --allow-read bench/results.ts docs/results/*.json
 *
 * @module
 */

import type { TrainResult } from "../examples/_train.ts";

const files = Deno.args;
const runs: { name: string; r: TrainResult }[] = [];
for (const file of files) {
  runs.push({
    name: file.split("/").at(-1)!.replace(/\.json$/, ""),
    r: JSON.parse(await Deno.readTextFile(file)),
  });
}

const pct = (v: number) => (100 * v).toFixed(1);
const epochs = Math.max(...runs.map((x) => x.r.epochs.length));
const header = [
  "run",
  ...Array.from({ length: epochs }, (_, e) => `e${e}`),
  "final",
  "best",
  "test loss",
  "wall s",
  "steps/s",
];
console.log(`| ${header.join(" | ")} |`);
console.log(`|${header.map(() => "---").join("|")}|`);
for (const { name, r } of runs) {
  const acc = r.epochs.map((e) => e.testAccuracy);
  const last = r.epochs.at(-1)!;
  console.log(
    `| ${name} | ${acc.map(pct).join(" | ")} | **${pct(last.testAccuracy)}** | ${
      pct(Math.max(...acc.slice(1)))
    } | ${last.testLoss.toFixed(4)} | ${r.wallSeconds.toFixed(0)} | ${
      r.stepsPerSecond.toFixed(1)
    } |`,
  );
}

const groups = new Map<string, TrainResult[]>();
for (const { name, r } of runs) {
  const key = name.replace(/_s\d+$/, "");
  groups.set(key, [...(groups.get(key) ?? []), r]);
}
console.log(
  "\n| configuration | seeds | final accuracy mean (min–max) | wall s mean | steps/s mean |",
);
console.log("|---|---|---|---|---|");
for (const [key, rs] of groups) {
  const finals = rs.map((r) => r.epochs.at(-1)!.testAccuracy);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  console.log(
    `| ${key} | ${rs.length} | ${pct(mean(finals))} (${pct(Math.min(...finals))}–${
      pct(Math.max(...finals))
    }) | ${mean(rs.map((r) => r.wallSeconds)).toFixed(0)} | ${
      mean(rs.map((r) => r.stepsPerSecond)).toFixed(1)
    } |`,
  );
}
