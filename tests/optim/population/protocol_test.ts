// The population protocol's row bookkeeping (layouts by role, the evaluation plan, losses by
// slot) and the state records.

import { FlatParameters, Parameter } from "../../../src/params/flat.ts";
import { EvaluatedLosses, planEvaluation } from "../../../src/optim/population/evaluation.ts";
import {
  layoutRows,
  NO_ROWS,
  rowsNeeded,
  rowsOf,
  splitBlock,
  splitRows,
  sumNeeds,
} from "../../../src/optim/population/protocol.ts";
import { StateLayout } from "../../../src/optim/population/state_layout.ts";
import { tensor } from "../../../src/tensor.ts";
import { assert } from "../../_util.ts";

Deno.test("layoutRows puts members, candidates and work rows after the home row, in that order", () => {
  const rows = layoutRows(2, { members: 3, candidates: 4, work: 2 });
  assert.deepEqual(rows, {
    home: 2,
    members: { first: 3, count: 3 },
    candidates: { first: 6, count: 4 },
    work: { first: 10, count: 2 },
  });
  assert.equal(rowsNeeded({ members: 3, candidates: 4, work: 2 }), 9);
  assert.deepEqual(rowsOf(rows.candidates), [6, 7, 8, 9]);
  assert.deepEqual(layoutRows(0, NO_ROWS).work, { first: 1, count: 0 });
});

Deno.test("splitRows gives each member its share of every role, in member order", () => {
  const needs = [
    { members: 0, candidates: 1, work: 0 },
    { members: 0, candidates: 2, work: 1 },
  ];
  const total = sumNeeds(needs);
  assert.deepEqual(total, { members: 0, candidates: 3, work: 1 });
  const rows = layoutRows(0, total);
  const [a, b] = splitRows(rows, needs, [5, 6]);
  assert.deepEqual(a, {
    home: 5,
    members: { first: 1, count: 0 },
    candidates: { first: 1, count: 1 },
    work: { first: 4, count: 0 },
  });
  assert.deepEqual(b.candidates, { first: 2, count: 2 });
  assert.deepEqual(b.work, { first: 4, count: 1 });
  assert.throws(
    () => splitBlock({ first: 0, count: 2 }, [2, 1]),
    /3 rows requested from a block of 2/,
  );
});

Deno.test("planEvaluation evaluates a block of rows in place and copies scattered rows together", async () => {
  const x = new Parameter([1, 2]);
  const flat = new FlatParameters([x]);
  flat.setRows(4);
  for (let r = 0; r < 4; r++) x.load([r, 10 * r], r);
  const block = planEvaluation(flat, [3, 2, 2], 4);
  assert.deepEqual(block, { rows: [2, 3], start: 2, count: 2 });
  assert.equal(flat.rows, 4); // nothing copied
  const scattered = planEvaluation(flat, [3, 0], 4);
  assert.deepEqual(scattered, { rows: [0, 3], start: 4, count: 2 });
  assert.equal(flat.rows, 6);
  assert.deepEqual([...await x.read(4)], [0, 0]);
  assert.deepEqual([...await x.read(5)], [3, 30]);
  assert.deepEqual(planEvaluation(flat, [], 4), { rows: [], start: 0, count: 0 });
  assert.throws(() => planEvaluation(flat, [9], 4), /requested row/);
  flat.dispose();
});

Deno.test("EvaluatedLosses addresses the losses of a row by its slot and names rows not evaluated", () => {
  const losses = new EvaluatedLosses(tensor([1, 2, 3, 4, 5, 6]), 2, [1, 3, 4]);
  assert.equal(losses.slot(1), 0);
  assert.equal(losses.slot(4), 2);
  assert.throws(() => losses.slot(2), /Row 2 was not evaluated \(evaluated rows: 1, 3, 4\)/);
  losses.tensor.dispose();
});

Deno.test("StateLayout lays fields out in order and refuses offsets outside a field", () => {
  const layout = new StateLayout({ best: 1, second: 1, age: 3, dead: 3 });
  assert.equal(layout.floats, 8);
  assert.equal(layout.at("age"), 2);
  assert.equal(layout.at("age", 2), 4);
  assert.equal(layout.at("dead", 1), 6);
  assert.equal(layout.length("age"), 3);
  assert.throws(() => layout.at("age", 3), /age\[3\] is outside its 3 floats/);
  assert.deepEqual([...layout.read(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), "dead")], [
    5,
    6,
    7,
  ]);
  assert.equal(new StateLayout({}).floats, 4); // a binding needs 16 bytes
  assert.throws(() => new StateLayout({ x: -1 }), RangeError);
});
