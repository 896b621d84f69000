/**
 * Splitting a dispatch whose operands do not fit one storage binding.
 *
 * WebGPU limits the bytes one storage binding may cover (`maxStorageBufferBindingSize`, 128 MiB
 * on Mesa's llvmpipe) far below the bytes a buffer may hold (`maxBufferSize`, 2 GiB there). A
 * population's activations `[P, B, ...]` pass the first long before the second (P = 64 rows of
 * 256 MNIST images after the first convolution: 151 MB). The layer kernels address every
 * operand as `off + r·stride + b·item + ...` (row `r`, item `b`: an image, a matrix row, a
 * vector), so the work can be split into chunks of rows, or of items when one row alone is too
 * big, each binding only the byte range its rows and items touch and seeing offsets rebased to
 * it. Every output is still computed by one invocation with the same instructions, so the
 * results are the same bit for bit. When every buffer fits a binding, {@linkcode planChunks}
 * returns one chunk with the whole buffers and the offsets unchanged: the dispatch is exactly
 * the one an op records without this file.
 *
 * @module
 */

import type { BufferRange, Gpu, StorageBinding } from "../gpu/device.ts";

/**
 * How a kernel addresses one storage operand, in units of `unit` bytes: row `r`, item `b`
 * starts at `off + r·stride + b·item` and the kernel touches `span` units from there (one
 * item's, or the whole row's when `item` is 0).
 */
export interface ChunkOperand {
  /** Name for error messages (`x`, `weight`, `out`). */
  name: string;
  buffer: GPUBuffer;
  /** Start of row 0, item 0. */
  off: number;
  /** Units between rows; 0 when every row reads the same data (a shared batch, a dummy). */
  stride: number;
  /** Units between items; 0 (default) when the operand is not indexed by item (weights). */
  item?: number;
  /** Units touched from the start of one item (of one row when `item` is 0). */
  span: number;
  /** Bytes per unit of the kernel's offsets: 4 (f32, default) or 16 (vec4). */
  unit?: number;
}

/** One dispatch of a split op: rows `[row, row + rows)` × items `[item, item + items)`. */
export interface Chunk {
  row: number;
  rows: number;
  item: number;
  items: number;
  /** Per operand, in order: the binding (a whole buffer or a range of it). */
  bindings: StorageBinding[];
  /** Per operand: the offset, in its units, of row `row`, item `item` inside its binding. */
  offs: number[];
}

/** Options of {@linkcode planChunks}. */
export interface ChunkOptions {
  /** Most rows one dispatch may cover (its workgroup-count limit). Default 65535. */
  maxRows?: number;
  /** False when the kernel needs all items of a row in one dispatch (a reduction). */
  splitItems?: boolean;
  /** What the items are, for error messages (`image`, `vector`). Default `item`. */
  itemName?: string;
}

/** Units of one operand covering `rows` rows of `items` items. */
function extent(o: ChunkOperand, rows: number, items: number): number {
  const item = o.item ?? 0;
  const row = item > 0 ? (items - 1) * item + o.span : o.span;
  return (rows - 1) * o.stride + row;
}

/**
 * The dispatches of an op over `rows` rows of `items` items: one chunk when every operand's
 * buffer fits a binding (whole buffers, offsets unchanged) and the rows fit `maxRows`; else as
 * few chunks of consecutive rows as fit (each operand bound to the range its rows touch),
 * or, when one row is too big, chunks of one row and consecutive items.
 *
 * @param gpu the device (its {@linkcode Gpu.maxBindingSize} and offset alignment).
 * @param op the op's name, for errors.
 * @param operands the kernel's storage operands, in binding order.
 * @param rows population rows of the op (1 without a population axis).
 * @param items items per row (1 when the kernel has no item axis to split).
 * @returns the chunks in row-major order.
 * @throws {RangeError} when even one row of one item of an operand exceeds the binding limit
 *   (or a non-splittable row does), naming the operand, the bytes and the limit.
 */
export function planChunks(
  gpu: Gpu,
  op: string,
  operands: readonly ChunkOperand[],
  rows: number,
  items: number,
  options: ChunkOptions = {},
): Chunk[] {
  const limit = gpu.maxBindingSize;
  const maxRows = options.maxRows ?? 65535;
  const big = operands.filter((o) => o.buffer.size > limit);
  if (big.length === 0 && rows <= maxRows) {
    return [{
      row: 0,
      rows,
      item: 0,
      items,
      bindings: operands.map((o) => o.buffer),
      offs: operands.map((o) => o.off),
    }];
  }
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  // Bytes a range may need on top of its units: its start is aligned down.
  const room = (o: ChunkOperand) => limit - (align - (o.unit ?? 4));
  let perChunk = Math.min(rows, maxRows);
  let tooBig: ChunkOperand | undefined; // an operand of which one row does not fit
  for (const o of big) {
    const unit = o.unit ?? 4;
    const one = extent(o, 1, items) * unit;
    if (one > room(o)) tooBig ??= o;
    else if (o.stride > 0) {
      perChunk = Math.min(perChunk, Math.floor((room(o) - one) / (o.stride * unit)) + 1);
    }
  }
  const chunks: Chunk[] = [];
  if (tooBig === undefined) {
    for (let row = 0; row < rows; row += perChunk) {
      chunks.push(chunk(gpu, operands, row, Math.min(perChunk, rows - row), 0, items));
    }
    return chunks;
  }
  // One row does not fit: one row per chunk, split along the items.
  const fail = (o: ChunkOperand, oneItem: boolean) => {
    const what = oneItem
      ? `one ${options.itemName ?? "item"} of ${o.name}`
      : `one row of ${o.name}`;
    const bytes = (oneItem ? o.span : extent(o, 1, items)) * (o.unit ?? 4);
    return new RangeError(
      `${op}: ${what} needs ${bytes} bytes, more than the device's ${limit}-byte storage ` +
        `binding limit; use a smaller batch or model`,
    );
  };
  if (options.splitItems === false) throw fail(tooBig, false);
  let itemsPerChunk = items;
  for (const o of big) {
    const unit = o.unit ?? 4;
    const item = o.item ?? 0;
    if (item === 0) {
      if (extent(o, 1, items) * unit > room(o)) throw fail(o, false);
      continue;
    }
    if (o.span * unit > room(o)) throw fail(o, true);
    itemsPerChunk = Math.min(
      itemsPerChunk,
      Math.floor((room(o) - o.span * unit) / (item * unit)) + 1,
    );
  }
  for (let row = 0; row < rows; row++) {
    for (let item = 0; item < items; item += itemsPerChunk) {
      chunks.push(chunk(gpu, operands, row, 1, item, Math.min(itemsPerChunk, items - item)));
    }
  }
  return chunks;
}

/** The bindings and rebased offsets of one chunk. */
function chunk(
  gpu: Gpu,
  operands: readonly ChunkOperand[],
  row: number,
  rows: number,
  item: number,
  items: number,
): Chunk {
  const limit = gpu.maxBindingSize;
  const align = gpu.limits.minStorageBufferOffsetAlignment;
  const bindings: StorageBinding[] = [];
  const offs: number[] = [];
  for (const o of operands) {
    const unit = o.unit ?? 4;
    const start = o.off + row * o.stride + item * (o.item ?? 0);
    if (o.buffer.size <= limit) {
      bindings.push(o.buffer);
      offs.push(start);
      continue;
    }
    const first = Math.floor((start * unit) / align) * align;
    const end = (start + extent(o, rows, items)) * unit;
    const size = Math.min(o.buffer.size - first, limit, Math.ceil((end - first) / 16) * 16);
    const range: BufferRange = { buffer: o.buffer, offset: first, size };
    bindings.push(range);
    offs.push((start * unit - first) / unit);
  }
  return { row, rows, item, items, bindings, offs };
}
