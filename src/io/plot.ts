/**
 * Line charts as standalone SVG text, for learning curves: panels side by side, each with its
 * own axes (linear or logarithmic), grid, legend and an optional second x scale on top (steps
 * below, evaluations above). No dependency and no DOM: the result is a string to write to a
 * `.svg` file, which browsers, GitHub's Markdown and image viewers show as it is.
 *
 * @module
 */

/** One line of a panel. */
export interface PlotSeries {
  /** Legend text. */
  name: string;
  /** `[x, y]` points in order; a non-finite `y` breaks the line. */
  points: readonly (readonly [number, number])[];
  /** CSS color; default: the next color of a colorblind-safe palette. */
  color?: string;
  /** Dashed line. */
  dash?: boolean;
  /** A dot at every point (for sparse series such as per-epoch values). */
  markers?: boolean;
  /** Stroke width in pixels (default 1.5). */
  width?: number;
  /** Opacity of the line (default 1). */
  opacity?: number;
}

/** One axis. */
export interface PlotAxis {
  /** Axis title. */
  label: string;
  /** Logarithmic scale (non-positive values are left out). */
  log?: boolean;
  /** Lower end; default: from the data (0 for linear axes whose data are all ≥ 0). */
  min?: number;
  /** Upper end; default: from the data. */
  max?: number;
  /** Tick labels as percentages of 1 (0.5 → "50%"). */
  percent?: boolean;
}

/** One chart: axes and the lines drawn on them. */
export interface PlotPanel {
  /** Title above the panel. */
  title?: string;
  /** The horizontal axis. */
  x: PlotAxis;
  /** The vertical axis. */
  y: PlotAxis;
  /** The lines. */
  series: PlotSeries[];
  /** A second horizontal scale on top: value = x × `scale` (e.g. evaluations per step). */
  top?: { label: string; scale: number };
  /**
   * Where the legend goes: `"auto"` (default: the corner of the plot covering the fewest
   * points), `"right"` (beside the plot, for many series) or `"none"`.
   */
  legend?: "auto" | "right" | "none";
}

/** Layout of a figure. */
export interface PlotOptions {
  /** Title of the whole figure. */
  title?: string;
  /** A smaller line under the title. */
  subtitle?: string;
  /** Panels per row (default: all in one row, at most 3). */
  columns?: number;
  /** Size of one panel in pixels (default 420 × 300). */
  width?: number;
  /** Height of one panel in pixels. */
  height?: number;
}

/** Okabe–Ito's colors (yellow left out: too pale on white), then three of Paul Tol's. */
export const PLOT_COLORS: readonly string[] = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
  "#882255",
  "#999933",
  "#44AA99",
];

const MARGIN = { left: 60, right: 14, top: 30, bottom: 44 };

/**
 * Draws panels of line charts as one SVG document.
 *
 * @param panels the charts, in reading order.
 * @param options title and layout.
 * @returns the SVG text.
 * @throws {RangeError} for no panels or a non-positive size.
 * @example
 * ```ts ignore
 * const svg = svgPlot([{
 *   x: { label: "step" },
 *   y: { label: "loss" },
 *   series: [{ name: "train", points: losses.map((l, i) => [i + 1, l]) }],
 * }], { title: "RandomGrad on MNIST" });
 * await Deno.writeTextFile("loss.svg", svg);
 * ```
 */
export function svgPlot(panels: readonly PlotPanel[], options: PlotOptions = {}): string {
  if (panels.length === 0) throw new RangeError("svgPlot: needs at least one panel");
  const w = options.width ?? 420;
  const h = options.height ?? 300;
  if (!(w > 0 && h > 0)) throw new RangeError(`svgPlot: size must be > 0, received ${w} × ${h}`);
  const columns = Math.max(
    1,
    Math.min(options.columns ?? Math.min(panels.length, 3), panels.length),
  );
  const rows = Math.ceil(panels.length / columns);
  const head = (options.title ? 26 : 0) + (options.subtitle ? 18 : 0) + (options.title ? 6 : 0);
  const width = columns * w;
  const height = head + rows * h;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  if (options.title) {
    out.push(text(width / 2, 20, options.title, { size: 15, anchor: "middle", weight: "bold" }));
  }
  if (options.subtitle) {
    out.push(text(width / 2, options.title ? 40 : 16, options.subtitle, {
      anchor: "middle",
      fill: "#555",
    }));
  }
  panels.forEach((panel, i) => {
    const x0 = (i % columns) * w;
    const y0 = head + Math.floor(i / columns) * h;
    out.push(`<g transform="translate(${x0},${y0})">`, ...drawPanel(panel, w, h, i), "</g>");
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

interface Scale {
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
  at(v: number): number;
}

function drawPanel(panel: PlotPanel, w: number, h: number, index: number): string[] {
  const top = MARGIN.top + (panel.top ? 30 : 0);
  const beside = panel.legend === "right" ? legendWidth(panel.series) + 10 : 0;
  const left = MARGIN.left, right = w - MARGIN.right - beside, bottom = h - MARGIN.bottom;
  const xs = panel.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = panel.series.flatMap((s) => s.points.map((p) => p[1]));
  const sx = scale(panel.x, xs, left, right);
  const sy = scale(panel.y, ys, bottom, top);
  const clip = `clip${index}`;
  const out: string[] = [
    `<clipPath id="${clip}"><rect x="${left}" y="${top}" width="${right - left}" height="${
      bottom - top
    }"/></clipPath>`,
  ];
  if (panel.title) {
    out.push(text((left + right) / 2, 16, panel.title, { anchor: "middle", weight: "bold" }));
  }
  for (const t of sy.ticks) {
    const y = r(sy.at(t));
    out.push(line(left, y, right, y, "#e4e4e4"));
    out.push(text(left - 6, y + 4, tick(t, sy, panel.y.percent), { anchor: "end", fill: "#333" }));
  }
  for (const t of sx.ticks) {
    const x = r(sx.at(t));
    out.push(line(x, top, x, bottom, "#e4e4e4"));
    out.push(
      text(x, bottom + 16, tick(t, sx, panel.x.percent), { anchor: "middle", fill: "#333" }),
    );
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" ` +
      `fill="none" stroke="#888"/>`,
  );
  out.push(text((left + right) / 2, h - 8, panel.x.label, { anchor: "middle" }));
  out.push(
    text(14, (top + bottom) / 2, panel.y.label, {
      anchor: "middle",
      transform: `rotate(-90 14 ${r((top + bottom) / 2)})`,
    }),
  );
  if (panel.top) out.push(...topAxis(panel.top, sx, left, right, top));
  panel.series.forEach((s, i) => {
    const color = s.color ?? PLOT_COLORS[i % PLOT_COLORS.length];
    out.push(...drawSeries(s, color, sx, sy, clip));
  });
  if (panel.legend === "right") out.push(...legend(panel.series, right + 10, top));
  else if (panel.legend !== "none") {
    const [x, y] = legendCorner(panel.series, sx, sy, { left, right, top, bottom });
    out.push(...legend(panel.series, x, y));
  }
  return out;
}

function legendWidth(series: readonly PlotSeries[]): number {
  return 26 + 6.5 * Math.max(0, ...series.map((s) => s.name.length));
}

function legendHeight(series: readonly PlotSeries[]): number {
  return series.length * 16 + 6;
}

/** The top-left point of the legend in the corner of the plot that covers the fewest points. */
function legendCorner(
  series: readonly PlotSeries[],
  sx: Scale,
  sy: Scale,
  box: { left: number; right: number; top: number; bottom: number },
): [number, number] {
  const w = legendWidth(series), h = legendHeight(series);
  const corners: [number, number][] = [
    [box.right - w - 6, box.top + 6],
    [box.right - w - 6, box.bottom - h - 6],
    [box.left + 6, box.top + 6],
    [box.left + 6, box.bottom - h - 6],
  ];
  const pixels: [number, number][] = [];
  for (const s of series) {
    for (let i = 0; i < s.points.length; i++) {
      const [x, y] = s.points[i];
      if (Number.isFinite(x) && Number.isFinite(y)) pixels.push([sx.at(x), sy.at(y)]);
      // Points along the segment to the next point, so that lines count as well as dots.
      const next = s.points[i + 1];
      if (next !== undefined && Number.isFinite(next[1]) && Number.isFinite(y)) {
        for (const t of [0.25, 0.5, 0.75]) {
          pixels.push([sx.at(x + t * (next[0] - x)), sy.at(y + t * (next[1] - y))]);
        }
      }
    }
  }
  let best = corners[0], fewest = Infinity;
  for (const [x, y] of corners) {
    const covered = pixels.filter(([px, py]) =>
      px >= x - 4 && px <= x + w + 4 && py >= y - 4 && py <= y + h + 4
    ).length;
    if (covered < fewest) [best, fewest] = [[x, y], covered];
  }
  return best;
}

function topAxis(
  axis: { label: string; scale: number },
  sx: Scale,
  left: number,
  right: number,
  top: number,
): string[] {
  const lo = sx.lo * axis.scale, hi = sx.hi * axis.scale;
  const ticks = sx.log ? logTicks(lo, hi) : linearTicks(lo, hi);
  const at = (v: number) => sx.at(v / axis.scale);
  const out = [line(left, top, right, top, "#888")];
  const fake: Scale = { lo, hi, log: sx.log, ticks, at };
  for (const t of ticks) {
    const x = r(at(t));
    if (x < left - 0.5 || x > right + 0.5) continue;
    out.push(line(x, top, x, top - 4, "#888"));
    out.push(text(x, top - 7, tick(t, fake), { anchor: "middle", fill: "#333" }));
  }
  out.push(text((left + right) / 2, top - 22, axis.label, { anchor: "middle", fill: "#333" }));
  return out;
}

function drawSeries(s: PlotSeries, color: string, sx: Scale, sy: Scale, clip: string): string[] {
  const out: string[] = [];
  const runs: string[][] = [[]];
  for (const [x, y] of s.points) {
    const ok = Number.isFinite(x) && Number.isFinite(y) && (!sy.log || y > 0) && (!sx.log || x > 0);
    if (!ok) {
      if (runs.at(-1)!.length > 0) runs.push([]);
      continue;
    }
    runs.at(-1)!.push(`${r(sx.at(x))},${r(sy.at(y))}`);
  }
  const style = `fill="none" stroke="${color}" stroke-width="${s.width ?? 1.5}"` +
    (s.dash ? ` stroke-dasharray="5 3"` : "") +
    (s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : "") +
    ` stroke-linejoin="round" clip-path="url(#${clip})"`;
  for (const run of runs) {
    if (run.length > 1) out.push(`<polyline points="${run.join(" ")}" ${style}/>`);
    if (s.markers || run.length === 1) {
      for (const p of run) {
        const [x, y] = p.split(",");
        out.push(`<circle cx="${x}" cy="${y}" r="2.5" fill="${color}" clip-path="url(#${clip})"/>`);
      }
    }
  }
  return out;
}

function legend(series: readonly PlotSeries[], x: number, y: number): string[] {
  if (series.length === 0) return [];
  const width = legendWidth(series);
  const out = [
    `<rect x="${r(x)}" y="${r(y)}" width="${r(width)}" height="${legendHeight(series)}" ` +
    `fill="#ffffff" fill-opacity="0.85" stroke="#ccc"/>`,
  ];
  series.forEach((s, i) => {
    const color = s.color ?? PLOT_COLORS[i % PLOT_COLORS.length];
    const ly = y + 12 + 16 * i;
    out.push(
      `<line x1="${r(x + 5)}" y1="${ly - 4}" x2="${r(x + 21)}" y2="${ly - 4}" stroke="${color}" ` +
        `stroke-width="2"${s.dash ? ` stroke-dasharray="5 3"` : ""}/>`,
      text(x + 25, ly, s.name, { size: 11 }),
    );
  });
  return out;
}

function scale(axis: PlotAxis, values: number[], from: number, to: number): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  let lo = axis.min ?? (finite.length ? Math.min(...finite) : 0);
  let hi = axis.max ?? (finite.length ? Math.max(...finite) : 1);
  if (!axis.log && axis.min === undefined && lo >= 0 && lo < 0.25 * hi) lo = 0;
  if (axis.log) {
    lo = Math.max(lo, Number.MIN_VALUE);
    if (hi <= lo) hi = lo * 10;
    if (axis.min === undefined) lo = logBound(lo, "down");
    if (axis.max === undefined) hi = logBound(hi, "up");
    if (hi <= lo) hi = lo * 10;
  } else {
    if (hi <= lo) {
      const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
      lo -= axis.min === undefined ? pad : 0;
      hi += pad;
    }
    const step = niceStep((hi - lo) / 5);
    if (axis.min === undefined) lo = Math.floor(lo / step + 1e-9) * step;
    if (axis.max === undefined) hi = Math.ceil(hi / step - 1e-9) * step;
  }
  const f = axis.log ? Math.log10 : (v: number) => v;
  const a = f(lo), b = f(hi);
  return {
    lo,
    hi,
    log: axis.log === true,
    ticks: axis.log ? logTicks(lo, hi) : linearTicks(lo, hi),
    at: (v) => from + ((f(v) - a) / (b - a)) * (to - from),
  };
}

/** The nearest 1, 2 or 5 × 10^k below (`down`) or above (`up`) `v`. */
function logBound(v: number, direction: "down" | "up"): number {
  const e = Math.floor(Math.log10(v) + 1e-9);
  const candidates = [-1, 0, 1].flatMap((d) => [1, 2, 5].map((m) => m * 10 ** (e + d)));
  return direction === "down"
    ? Math.max(...candidates.filter((c) => c <= v * (1 + 1e-9)))
    : Math.min(...candidates.filter((c) => c >= v * (1 - 1e-9)));
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

function linearTicks(lo: number, hi: number): number[] {
  if (!(hi > lo)) return [lo];
  const step = niceStep((hi - lo) / 5);
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const first = Math.floor(Math.log10(lo) + 1e-9), last = Math.ceil(Math.log10(hi) - 1e-9);
  const mantissas = last - first <= 3 ? [1, 2, 5] : [1];
  for (let e = first; e <= last; e++) {
    for (const m of mantissas) {
      const v = m * 10 ** e;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

function tick(v: number, s: Scale, percent = false): string {
  if (percent) return `${trim((v * 100).toFixed(s.hi - s.lo < 0.05 ? 1 : 0))}%`;
  const a = Math.abs(v);
  if (a >= 1e9) return `${trim((v / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${trim((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${trim((v / 1e3).toPrecision(3))}k`;
  if (a === 0) return "0";
  if (a < 1e-3) return v.toExponential(0);
  return trim(v.toPrecision(3));
}

function trim(s: string): string {
  return s.includes(".") && !s.includes("e") ? s.replace(/\.?0+$/, "") : s;
}

function r(v: number): number {
  return Math.round(v * 10) / 10;
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string): string {
  return `<line x1="${r(x1)}" y1="${r(y1)}" x2="${r(x2)}" y2="${r(y2)}" stroke="${stroke}"/>`;
}

function text(
  x: number,
  y: number,
  content: string,
  o: { size?: number; anchor?: string; weight?: string; fill?: string; transform?: string } = {},
): string {
  const attrs = [`x="${r(x)}"`, `y="${r(y)}"`];
  if (o.size) attrs.push(`font-size="${o.size}"`);
  if (o.anchor) attrs.push(`text-anchor="${o.anchor}"`);
  if (o.weight) attrs.push(`font-weight="${o.weight}"`);
  if (o.fill) attrs.push(`fill="${o.fill}"`);
  if (o.transform) attrs.push(`transform="${o.transform}"`);
  return `<text ${attrs.join(" ")}>${escapeXml(content)}</text>`;
}

/** Escapes text for SVG content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}
