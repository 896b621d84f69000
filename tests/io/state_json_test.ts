// src/io/_state_json.ts: optimizer state and run metadata as JSON, exactly reversible.

import assert from "node:assert/strict";
import { decodeState, encodeState } from "../../src/io/_state_json.ts";

Deno.test("encodeState and decodeState round-trip typed arrays and non-finite numbers exactly", () => {
  const value = {
    step: 3,
    lr: 1e-3,
    best: Infinity,
    worst: -Infinity,
    missing: NaN,
    zero: -0,
    betas: [0.9, 0.999],
    buffers: {
      f32: Float32Array.from([1.5, NaN, -0, 3e-45]),
      f64: Float64Array.from([Math.PI, -Infinity]),
      i32: Int32Array.from([-1, 2]),
      u32: Uint32Array.from([4294967295]),
      u8: Uint8Array.from([0, 255]),
    },
    view: new Float32Array(new Float32Array([9, 8, 7, 6]).buffer, 4, 2),
    user: { $tensor: "not a tag", $num: 1 },
    nothing: null,
    text: "ok",
  };
  const back = decodeState(encodeState(value)) as typeof value;
  assert.equal(encodeState(back), encodeState(value));
  assert.ok(Object.is(back.zero, -0));
  assert.ok(Number.isNaN(back.missing));
  assert.equal(back.best, Infinity);
  assert.ok(back.buffers.f32 instanceof Float32Array);
  assert.ok(back.buffers.f64 instanceof Float64Array);
  assert.deepEqual([...back.buffers.f64], [Math.PI, -Infinity]);
  assert.ok(Object.is(back.buffers.f32[2], -0));
  assert.deepEqual([...back.view], [8, 7]);
  assert.deepEqual(back.user, { $tensor: "not a tag", $num: 1 });
  assert.deepEqual(back.betas, [0.9, 0.999]);
});

Deno.test("decodeState names the source of malformed text", () => {
  assert.throws(() => decodeState("{", "ckpt state"), /ckpt state:/);
  assert.throws(() => decodeState('{"a": {"$f32": 5}}', "s"), /s: malformed \$f32 value/);
  assert.throws(() => decodeState('{"a": {"$num": "seven"}}', "s"), /malformed \$num/);
});
