/**
 * Elementwise ops (`shaders/elementwise.wgsl`): relu, sign, abs, scale, clamp, copy, add, mul,
 * where, axpy, fill. Each is one dispatch over all population rows.
 *
 * Broadcasting: operands must have the same row shape. An operand without a population axis
 * is shared by every row of a population operand; the output has a population axis when any
 * input has one.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import type { KernelSpec } from "../gpu/kernel.ts";
import { formatShape, Tensor } from "../tensor.ts";
import {
  anyPopulation,
  ceilDiv,
  dummyBuffer,
  MAX_GROUPS,
  populationRows,
  rowLayout,
  sameGpu,
  sameShape,
  withRows,
} from "./_util.ts";
import { type ChunkOperand, planChunks } from "./_chunks.ts";
import code from "../../shaders/elementwise.wgsl" with { type: "text" };

const WG = 64;
const PER_THREAD = 4;

function spec(entryPoint: string): KernelSpec {
  return {
    file: "shaders/elementwise.wgsl",
    code,
    entryPoint,
    storage: ["read", "read", "read", "write"],
  };
}

const KERNELS = {
  relu: spec("relu"),
  sign: spec("sign_"),
  abs: spec("abs_"),
  copy: spec("copy"),
  affine: spec("affine"),
  clamp: spec("clamp_"),
  add: spec("add"),
  mul: spec("mul"),
  where: spec("where_"),
  axpby: spec("axpby"),
  fill: spec("fill"),
  copyRows: spec("copy_rows"),
};

type KernelName = keyof typeof KERNELS;

function run(
  gpu: Gpu,
  name: KernelName,
  inputs: (Tensor | undefined)[],
  out: Tensor,
  alpha = 0,
  beta = 0,
): void {
  const rows = out.rows;
  if (out.rowNumel === 0 || rows === 0) return;
  const operand = (label: string, t: Tensor | undefined): ChunkOperand =>
    t === undefined
      ? { name: label, buffer: dummyBuffer(gpu), off: 0, stride: 0, span: 1 }
      : { name: label, buffer: t.buffer, ...rowLayout(t), item: 1, span: 1 };
  const o = operand("out", out);
  dispatchRows(
    gpu,
    KERNELS[name],
    name,
    [
      operand("a", inputs[0]),
      operand("b", inputs[1]),
      operand("c", inputs[2]),
      { ...o, stride: out.population ? o.stride : 0 },
    ],
    rows,
    out.rowNumel,
    alpha,
    beta,
  );
}

/**
 * Records an elementwise kernel over `rows` rows of `rowNumel` elements, split into several
 * dispatches when an operand exceeds a storage binding (elements are the items).
 */
function dispatchRows(
  gpu: Gpu,
  spec: KernelSpec,
  name: string,
  operands: ChunkOperand[],
  rows: number,
  rowNumel: number,
  alpha: number,
  beta: number,
): void {
  const chunks = planChunks(gpu, name, operands, rows, rowNumel, { itemName: "element" });
  for (const c of chunks) {
    const groups = ceilDiv(c.items, WG * PER_THREAD);
    if (groups > MAX_GROUPS) {
      throw new RangeError(`${name}: rows of ${rowNumel} elements are too long`);
    }
    gpu.dispatch(gpu.kernel(spec, { WG }), c.bindings, {
      rows: c.rows,
      rowNumel: c.items,
      aOff: c.offs[0],
      aStride: operands[0].stride,
      bOff: c.offs[1],
      bStride: operands[1].stride,
      cOff: c.offs[2],
      cStride: operands[2].stride,
      oOff: c.offs[3],
      oStride: operands[3].stride,
      alpha,
      beta,
    }, [groups, c.rows]);
  }
}

function checkRowShapes(op: string, tensors: Tensor[]): void {
  const first = tensors[0];
  for (const t of tensors) {
    if (!sameShape(t.rowShape, first.rowShape)) {
      throw new TypeError(
        `${op}: shapes ${formatShape(first.shape)} and ${formatShape(t.shape)} do not match`,
      );
    }
  }
}

function mapOp(op: string, name: KernelName, inputs: Tensor[], alpha = 0, beta = 0): Tensor {
  for (const t of inputs) t.buffer; // throws for a disposed input before anything is allocated
  const gpu = sameGpu(op, ...inputs);
  checkRowShapes(op, inputs);
  const rows = populationRows(op, ...inputs);
  const population = anyPopulation(...inputs);
  const out = Tensor.empty(withRows(population, rows, inputs[0].rowShape), { gpu, population });
  try {
    run(gpu, name, inputs, out, alpha, beta);
  } catch (error) {
    out.dispose();
    throw error;
  }
  return out;
}

/** `max(x, 0)`, element by element. */
export function relu(x: Tensor): Tensor {
  return mapOp("relu", "relu", [x]);
}

/** `sign(x)`: -1, 0 or 1 (NaN gives 0 on most adapters). */
export function sign(x: Tensor): Tensor {
  return mapOp("sign", "sign", [x]);
}

/** `|x|`. */
export function abs(x: Tensor): Tensor {
  return mapOp("abs", "abs", [x]);
}

/** `alpha * x + beta`. */
export function scale(x: Tensor, alpha: number, beta = 0): Tensor {
  return mapOp("scale", "affine", [x], alpha, beta);
}

/**
 * `min(max(x, lo), hi)`; NaN stays NaN.
 *
 * @throws {RangeError} if `lo > hi`.
 */
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (lo > hi) throw new RangeError(`clamp: lo must be <= hi, received ${lo} > ${hi}`);
  return mapOp("clamp", "clamp", [x], lo, hi);
}

/** `a + alpha * b` (so `add(a, b, -1)` subtracts). */
export function add(a: Tensor, b: Tensor, alpha = 1): Tensor {
  return mapOp("add", "add", [a, b], alpha);
}

/** `a * b`, element by element. */
export function mul(a: Tensor, b: Tensor): Tensor {
  return mapOp("mul", "mul", [a, b]);
}

/** `cond > 0 ? a : b`, element by element. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return mapOp("where", "where", [cond, a, b]);
}

/**
 * Copies `src` into `dst` (bit-exact), or into a new tensor when `dst` is omitted. A shared
 * `src` copied into a population `dst` is broadcast to every row.
 *
 * @throws {TypeError} if the row shapes differ, or `src` has rows and `dst` does not.
 */
export function copy(src: Tensor, dst?: Tensor): Tensor {
  if (dst === undefined) return mapOp("copy", "copy", [src]);
  inPlace("copy", dst, src);
  run(dst.gpu, "copy", [src], dst);
  return dst;
}

/** In place: `y = beta * y + alpha * x` (axpy with `beta = 1`). Returns `y`. */
export function axpy(y: Tensor, x: Tensor, alpha: number, beta = 1): Tensor {
  inPlace("axpy", y, x);
  run(y.gpu, "axpby", [x], y, alpha, beta);
  return y;
}

/** In place: every element of `x` becomes `value`. Returns `x`. */
export function fill(x: Tensor, value: number): Tensor {
  run(x.gpu, "fill", [], x, value);
  return x;
}

/** A new tensor of zeros. */
export function zeros(
  shape: readonly number[],
  options: { population?: boolean; gpu?: Gpu } = {},
): Tensor {
  return fill(Tensor.empty(shape, options), 0);
}

function inPlace(op: string, dst: Tensor, src: Tensor): void {
  sameGpu(op, dst, src);
  checkRowShapes(op, [dst, src]);
  if (src.population && (!dst.population || src.rows !== dst.rows)) {
    throw new TypeError(
      `${op}: cannot write ${formatShape(src.shape)} into ${formatShape(dst.shape)}`,
    );
  }
  if (src.buffer === dst.buffer) {
    throw new TypeError(`${op}: source and destination share a buffer`);
  }
}

/**
 * In place on a population tensor: copies rows `[src, src + count)` onto rows
 * `[dst, dst + count)` (one dispatch; WebGPU cannot copy a buffer onto itself).
 *
 * @throws {RangeError} if a range leaves the tensor or the ranges overlap.
 */
export function copyRows(x: Tensor, src: number, dst: number, count = 1): Tensor {
  const rows = x.rows;
  const ok = (r: number) => Number.isInteger(r) && r >= 0 && r + count <= rows;
  if (!Number.isInteger(count) || count < 1 || !ok(src) || !ok(dst)) {
    throw new RangeError(
      `copyRows: rows ${src}..${src + count} -> ${dst}..${dst + count} do not fit ${rows} rows`,
    );
  }
  if (src !== dst && Math.abs(src - dst) < count) {
    throw new RangeError(`copyRows: source and destination rows overlap`);
  }
  if (src === dst) return x;
  rowsKernel(x, count, x.offset + src * x.rowStride, x.rowStride, x.offset + dst * x.rowStride);
  return x;
}

/** In place on a population tensor: copies row `src` to every row (one dispatch). */
export function broadcastRow(x: Tensor, src = 0): Tensor {
  if (!Number.isInteger(src) || src < 0 || src >= x.rows) {
    throw new RangeError(`broadcastRow: source row must be in [0, ${x.rows}), received ${src}`);
  }
  rowsKernel(x, x.rows, x.offset + src * x.rowStride, 0, x.offset);
  return x;
}

function rowsKernel(x: Tensor, rows: number, aOff: number, aStride: number, oOff: number): void {
  const gpu = x.gpu;
  const n = x.rowNumel;
  const unused = (name: string): ChunkOperand => ({
    name,
    buffer: dummyBuffer(gpu),
    off: 0,
    stride: 0,
    span: 1,
  });
  const destination: ChunkOperand = {
    name: "destination",
    buffer: x.buffer,
    off: oOff,
    stride: x.rowStride,
    item: 1,
    span: 1,
  };
  if (x.buffer.size <= gpu.maxBindingSize) {
    // copy_rows reads the source through its output binding: a buffer bound writable cannot be
    // bound a second time in the same dispatch.
    const operands = [unused("a"), unused("b"), unused("c"), destination];
    for (const c of planChunks(gpu, "copyRows", operands, rows, n)) {
      const groups = ceilDiv(c.items, WG * PER_THREAD);
      if (groups > MAX_GROUPS) throw new RangeError(`copyRows: rows of ${n} are too long`);
      gpu.dispatch(gpu.kernel(KERNELS.copyRows, { WG }), c.bindings, {
        rows: c.rows,
        rowNumel: c.items,
        aOff: aOff + c.row * aStride + c.item,
        aStride,
        bOff: 0,
        bStride: 0,
        cOff: 0,
        cStride: 0,
        oOff: c.offs[3],
        oStride: x.rowStride,
        alpha: 0,
        beta: 0,
      }, [groups, c.rows]);
    }
    return;
  }
  // Larger than one binding: the source rows go through a temporary buffer, so that source and
  // destination are different buffers and each can be bound by ranges (exact copies).
  const staged = aStride === 0 ? 1 : rows;
  const tmp = gpu.pool.acquire(staged * n * 4, "copyRows");
  const source = { name: "source", buffer: x.buffer, off: aOff, stride: aStride, item: 1, span: 1 };
  const tmpRows = {
    name: "staging",
    buffer: tmp,
    off: 0,
    stride: staged > 1 ? n : 0,
    item: 1,
    span: 1,
  };
  const rest = [unused("b"), unused("c")];
  dispatchRows(gpu, KERNELS.copy, "copyRows", [source, ...rest, tmpRows], staged, n, 0, 0);
  dispatchRows(gpu, KERNELS.copy, "copyRows", [tmpRows, ...rest, destination], rows, n, 0, 0);
  gpu.pool.release(tmp); // safe: later users of the buffer are ordered after these dispatches
}
