// src/io/plot.ts: SVG line charts: well-formed, lines broken at NaN, escaped text, log and
// percent axes, a second x scale on top.

import assert from "node:assert/strict";
import { svgPlot } from "../../src/io/plot.ts";

/** Checks that every tag is closed in order (enough for the writer's flat SVG). */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the wrong tag`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], "unclosed tags");
  assert.ok(!/[&](?!amp;|lt;|gt;|quot;|#39;)/.test(svg), "unescaped &");
}

Deno.test("svgPlot draws panels of lines with titles, legends and axes", () => {
  const svg = svgPlot([
    {
      title: "loss",
      x: { label: "step" },
      y: { label: "cross-entropy" },
      series: [
        { name: "train <mean> & co", points: [[1, 2.3], [2, NaN], [3, 2.0], [4, 1.8]] },
        { name: "test", points: [[0, 2.3], [4, 1.9]], markers: true, dash: true },
      ],
      top: { label: "evaluations", scale: 20 },
    },
    {
      x: { label: "evaluations", log: true },
      y: { label: "accuracy", percent: true },
      series: [{ name: "acc", points: [[0, 0.1], [20, 0.5], [200, 0.8], [2000, 0.9]] }],
    },
  ], { title: "run", subtitle: "seed 0" });
  assertWellFormed(svg);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="840"/);
  assert.ok(svg.includes("train &lt;mean&gt; &amp; co"));
  // The NaN breaks the train line: one polyline of points 3 and 4, point 1 alone as a dot.
  assert.equal((svg.match(/<polyline/g) ?? []).length, 3);
  assert.ok(svg.includes(">evaluations</text>"));
  for (const label of ["20", "100", "1k", "2k", "0%", "80%"]) {
    assert.ok(svg.includes(`>${label}</text>`), `tick ${label}`);
  }
  assert.ok(svg.includes(">80</text>"), "top axis: steps × 20");
});

Deno.test("svgPlot handles flat, empty and single-point series", () => {
  for (
    const points of [[], [[1, 5]], [[0, 1], [1, 1], [2, 1]]] as [number, number][][]
  ) {
    assertWellFormed(
      svgPlot([{ x: { label: "x" }, y: { label: "y" }, series: [{ name: "s", points }] }]),
    );
  }
  assert.throws(() => svgPlot([]), RangeError);
  assert.throws(
    () => svgPlot([{ x: { label: "x" }, y: { label: "y" }, series: [] }], { width: 0 }),
    RangeError,
  );
});
