// Learning curves of examples/mnist.ts runs as SVG (the library's svgPlot): one run (--plot),
// the seeds of one configuration, and configurations side by side (bench/results.ts --plot).
// Results written before the per-step curve existed have per-epoch points only: their train
// loss is the loss of each epoch's last step, and the plots say so.

import { type PlotPanel, type PlotSeries, svgPlot } from "../mod.ts";
import type { TrainResult } from "./_train.ts";

/** A run and its name (the JSON file's name without `.json`). */
export interface NamedRun {
  name: string;
  r: TrainResult;
}

interface Points {
  step: number[];
  testLoss: number[];
  testAccuracy: number[];
  /** Per-epoch train loss: the epoch mean when recorded, else the last step's. */
  trainLoss: number[];
  trainMean: boolean;
  /** The per-step curve, when recorded. */
  curve: [number, number][] | null;
}

function points(r: TrainResult): Points {
  let step = 0;
  const out: Points = {
    step: [],
    testLoss: [],
    testAccuracy: [],
    trainLoss: [],
    trainMean: r.epochs.slice(1).every((e) => e.trainLossMean !== undefined),
    curve: r.curve ? r.curve.step.map((s, i) => [s, r.curve!.loss[i]]) : null,
  };
  for (const e of r.epochs) {
    step = e.step ?? step + e.steps;
    out.step.push(step);
    out.testLoss.push(e.testLoss);
    out.testAccuracy.push(e.testAccuracy);
    out.trainLoss.push(
      e.epoch === 0 ? NaN : out.trainMean ? e.trainLossMean! : (e.trainLoss ?? NaN),
    );
  }
  return out;
}

const zip = (x: number[], y: number[]): [number, number][] => x.map((v, i) => [v, y[i]]);

function label(r: TrainResult): string {
  const c = r.config;
  return `${c.preset}${c.faithful ? " --faithful" : ""}`;
}

function panels(series: { loss: PlotSeries[]; accuracy: PlotSeries[] }, rows: number): PlotPanel[] {
  const top = { label: "evaluations (parameter-row forwards)", scale: rows };
  return [
    {
      title: "loss",
      x: { label: "optimizer step" },
      y: { label: "cross-entropy" },
      series: series.loss,
      top,
    },
    {
      title: "test accuracy",
      x: { label: "optimizer step" },
      y: { label: "test accuracy", percent: true },
      series: series.accuracy,
      top,
    },
  ];
}

/**
 * One run: train loss (every step's window mean, or per-epoch points for older results), test
 * loss and test accuracy against steps, evaluations on the top axis.
 */
export function plotRun(r: TrainResult, name = label(r)): string {
  const p = points(r);
  const loss: PlotSeries[] = [];
  if (p.curve !== null) {
    const every = r.curve!.every;
    loss.push({
      name: every === 1 ? "train, every step" : `train, mean of ${every} steps`,
      points: p.curve,
      width: 1,
      opacity: 0.45,
    });
    if (p.trainMean) {
      loss.push({
        name: "train, epoch mean",
        points: zip(p.step, p.trainLoss),
        markers: true,
        color: "#0072B2",
        width: 2,
      });
    }
  } else {
    loss.push({
      name: p.trainMean ? "train, epoch mean" : "train, last step of epoch",
      points: zip(p.step, p.trainLoss),
      markers: true,
    });
  }
  loss.push({ name: "test", points: zip(p.step, p.testLoss), markers: true, color: "#D55E00" });
  const accuracy: PlotSeries[] = [{
    name: "test accuracy",
    points: zip(p.step, p.testAccuracy),
    markers: true,
    color: "#009E73",
  }];
  const last = r.epochs.at(-1)!;
  return svgPlot(panels({ loss, accuracy }, r.rowsPerStep), {
    title: `${name} · seed ${r.config.seed}`,
    subtitle:
      `${r.parameters} parameters · batch ${r.config.batchSize} · ${r.rowsPerStep} rows/step · ` +
      `${(100 * last.testAccuracy).toFixed(1)}% test accuracy · ${r.adapter}`,
  });
}

/** The seeds of one configuration: a color per seed, test loss dashed. */
export function plotSeeds(title: string, runs: NamedRun[]): string {
  const loss: PlotSeries[] = [];
  const accuracy: PlotSeries[] = [];
  let epochPoints = false;
  runs.forEach(({ r }, i) => {
    const p = points(r);
    const color = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"][i % 5];
    const seed = `seed ${r.config.seed}`;
    if (p.curve !== null) {
      loss.push({ name: `${seed} train`, points: p.curve, color, width: 1, opacity: 0.7 });
    } else {
      epochPoints = true;
      loss.push({ name: `${seed} train`, points: zip(p.step, p.trainLoss), color, markers: true });
    }
    loss.push({ name: `${seed} test`, points: zip(p.step, p.testLoss), color, dash: true });
    accuracy.push({ name: seed, points: zip(p.step, p.testAccuracy), color, markers: true });
  });
  const r = runs[0].r;
  return svgPlot(panels({ loss, accuracy }, r.rowsPerStep), {
    title,
    subtitle: `${runs.length} seed${runs.length > 1 ? "s" : ""} · batch ${r.config.batchSize} · ` +
      `${r.rowsPerStep} rows/step` +
      (epochPoints ? " · train loss: last step of each epoch (recorded per epoch only)" : ""),
  });
}

/**
 * Configurations side by side: mean test accuracy over seeds against training time and against
 * image-forwards (log scale; rows × batch × steps, the budget that compares methods with different
 * populations and batches), one line per configuration.
 */
export function plotComparison(groups: Map<string, TrainResult[]>): string {
  const byTime: PlotSeries[] = [];
  const byImages: PlotSeries[] = [];
  for (const [name, rs] of groups) {
    const ps = rs.map(points);
    const n = Math.min(...ps.map((p) => p.step.length));
    const mean = (values: (p: Points, r: TrainResult) => number[]) =>
      Array.from(
        { length: n },
        (_, k) => ps.reduce((s, p, i) => s + values(p, rs[i])[k], 0) / ps.length,
      );
    const accuracy = mean((p) => p.testAccuracy);
    // Training time (test passes excluded), cumulated over epochs, mean over seeds.
    const minutes = mean((_, r) => {
      let t = 0;
      return r.epochs.map((e) => (t += e.seconds) / 60);
    });
    const steps = ps[0].step.slice(0, n);
    const images = rs[0].rowsPerStep * rs[0].config.batchSize;
    const label = `${name}${rs.length > 1 ? ` (${rs.length} seeds)` : ""}`;
    byTime.push({ name: label, points: zip(minutes, accuracy), markers: true });
    byImages.push({
      name: label,
      points: zip(steps.map((s) => s * images), accuracy),
      markers: true,
    });
  }
  return svgPlot([
    {
      title: "test accuracy against training time",
      x: { label: "minutes (2-core CPU, llvmpipe)" },
      y: { label: "test accuracy (mean over seeds)", percent: true },
      series: byTime,
      legend: "none",
    },
    {
      title: "test accuracy against image-forwards",
      x: { label: "image-forwards (parameter rows × images)", log: true },
      y: { label: "test accuracy (mean over seeds)", percent: true },
      series: byImages,
      legend: "right",
    },
  ], { title: "MNIST: configurations compared", width: 600, height: 380 });
}
