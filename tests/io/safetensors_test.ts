// src/io/safetensors.ts: the format as the reference implementation writes it, F32 and F64
// round trips, and a reader that names what is wrong with a file.

import assert from "node:assert/strict";
import { decodeSafetensors, encodeSafetensors } from "../../src/io/safetensors.ts";

const TENSORS = {
  "0.weight": { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, NaN, -0, Infinity]) },
  "0.bias": { shape: [2], data: Float32Array.from([0.1, 0.2]) },
  "state.mean": { shape: [3], data: Float64Array.from([Math.PI, 1e-300, -Infinity]) },
  empty: { shape: [0, 4], data: new Float32Array(0) },
};

function header(bytes: Uint8Array): { length: number; json: Record<string, unknown> } {
  const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  return { length, json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) };
}

function withHeader(json: unknown, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

Deno.test("encodeSafetensors and decodeSafetensors round-trip F32 and F64 tensors bit for bit", () => {
  const bytes = encodeSafetensors(TENSORS, { format: "pt", note: "ü" });
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { format: "pt", note: "ü" });
  assert.deepEqual(Object.keys(tensors), Object.keys(TENSORS));
  for (const [name, t] of Object.entries(TENSORS)) {
    assert.deepEqual(tensors[name].shape, t.shape);
    assert.equal(tensors[name].data.constructor, t.data.constructor, name);
    assert.deepEqual(
      new Uint8Array(tensors[name].data.buffer),
      new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)),
    );
  }
});

Deno.test("encodeSafetensors writes the reference layout: 8-byte aligned header, contiguous offsets", () => {
  const bytes = encodeSafetensors(TENSORS, { format: "pt" });
  const { length, json } = header(bytes);
  assert.equal(length % 8, 0);
  assert.equal(bytes[8], 0x7b); // "{"
  assert.deepEqual(json["0.weight"], { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
  assert.deepEqual(json["0.bias"], { dtype: "F32", shape: [2], data_offsets: [24, 32] });
  assert.deepEqual(json["state.mean"], { dtype: "F64", shape: [3], data_offsets: [32, 56] });
  assert.equal(bytes.length, 8 + length + 56);
  assert.equal(new DataView(bytes.buffer).getFloat32(8 + length + 8, true), 3.5);
});

Deno.test("encodeSafetensors refuses values that do not fill the shape and bad names", () => {
  assert.throws(
    () => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }),
    /"w" has 3 values for shape \[2,2\]/,
  );
  assert.throws(
    () => encodeSafetensors({ w: { shape: [-1], data: new Float32Array(0) } }),
    TypeError,
  );
  assert.throws(
    () => encodeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } }),
    TypeError,
  );
});

Deno.test("decodeSafetensors names what is wrong with a file", () => {
  const good = encodeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } });
  const cases: [Uint8Array, RegExp][] = [
    [
      new TextEncoder().encode('{"epochs": []}'),
      /f is not a safetensors file: it starts like a JSON/,
    ],
    [new Uint8Array(3), /f is not a safetensors file: 3 bytes, shorter than a header/],
    [good.subarray(0, 20), /f: the header announces \d+ bytes but the file has 20: truncated/],
    [good.subarray(0, good.length - 1), /f: "w" ends at byte \d+, past the end of the file/],
    [
      (() => {
        const b = good.slice();
        new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
        return b;
      })(),
      /header length \(\d+ bytes\) is over 100 MB/,
    ],
    [
      withHeader({ w: { dtype: "F16", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /"w" is F16/,
    ],
    [
      withHeader({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /spans 8 bytes, its shape \[3\] of F32 needs 12/,
    ],
    [
      withHeader({ w: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)),
      /bytes 0–4 of the data belong to no tensor/,
    ],
    [
      withHeader({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }, new Uint8Array(8)),
      /overlaps the tensor before it/,
    ],
    [
      withHeader({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)),
      /4 bytes after the last tensor belong to no tensor/,
    ],
    [
      withHeader({ w: { dtype: "F32", shape: "x", data_offsets: [0, 4] } }, new Uint8Array(4)),
      /entry of "w" is malformed/,
    ],
    [withHeader({ __metadata__: { n: 1 } }, new Uint8Array(0)), /metadata "n" is not a string/],
    [
      withHeader([1], new Uint8Array(0)),
      /not a safetensors file: the header is not JSON|not a JSON object/,
    ],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(() => decodeSafetensors(bytes, "f"), pattern, String(pattern));
  }
});
