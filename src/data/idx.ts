/**
 * The IDX file format of MNIST-style datasets: a big-endian header (two zero bytes, a type
 * code, the number of dimensions, then each dimension as a u32) followed by the values.
 * Gzip-compressed files (Fashion-MNIST, Debian's datasets) are inflated with the built-in
 * `DecompressionStream`.
 *
 * @module
 */

/** Element types of the IDX format. */
export type IdxType = "u8" | "i8" | "i16" | "i32" | "f32" | "f64";

const TYPES: Record<number, [IdxType, number]> = {
  0x08: ["u8", 1],
  0x09: ["i8", 1],
  0x0b: ["i16", 2],
  0x0c: ["i32", 4],
  0x0d: ["f32", 4],
  0x0e: ["f64", 8],
};

/** A parsed IDX file. */
export interface IdxArray {
  /** Element type. */
  type: IdxType;
  /** Dimensions, outermost first (e.g. [60000, 28, 28]). */
  dims: number[];
  /** The values, row-major, converted to numbers of their type. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Inflates gzip bytes. @throws {Error} for a corrupt stream. */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Parses an IDX file (raw or gzip-compressed).
 *
 * @param name used in error messages (e.g. the file name).
 * @throws {Error} naming `name` for corrupt gzip data, a wrong magic number, an unknown type
 *   code, or a file shorter than its header says (truncated).
 * @example
 * ```ts ignore
 * const labels = await parseIdx(await Deno.readFile("t10k-labels-idx1-ubyte.gz"));
 * console.log(labels.dims); // [10000]
 * ```
 */
export async function parseIdx(bytes: Uint8Array, name = "IDX file"): Promise<IdxArray> {
  let raw = bytes;
  if (isGzip(bytes)) {
    try {
      raw = await gunzip(bytes);
    } catch (error) {
      throw new Error(`${name}: corrupt gzip data (${(error as Error).message})`);
    }
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) {
    throw new Error(`${name}: not an IDX file (wrong magic number)`);
  }
  const entry = TYPES[raw[2]];
  if (entry === undefined) {
    throw new Error(`${name}: unknown IDX type code 0x${raw[2].toString(16)}`);
  }
  const [type, size] = entry;
  const ndim = raw[3];
  const header = 4 + 4 * ndim;
  if (raw.length < header) throw new Error(`${name}: truncated header`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = header + count * size;
  if (raw.length < expected) {
    throw new Error(`${name}: truncated: ${raw.length} bytes, the header announces ${expected}`);
  }
  return { type, dims, data: readValues(view, header, count, type) };
}

function readValues(view: DataView, at: number, count: number, type: IdxType): IdxArray["data"] {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + at, count * (TYPES_SIZE[type]));
  switch (type) {
    case "u8":
      return bytes.slice();
    case "i8":
      return new Int8Array(bytes.slice().buffer);
  }
  const out = type === "i16"
    ? new Int16Array(count)
    : type === "i32"
    ? new Int32Array(count)
    : type === "f32"
    ? new Float32Array(count)
    : new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const o = at + i * TYPES_SIZE[type];
    out[i] = type === "i16"
      ? view.getInt16(o, false)
      : type === "i32"
      ? view.getInt32(o, false)
      : type === "f32"
      ? view.getFloat32(o, false)
      : view.getFloat64(o, false);
  }
  return out;
}

const TYPES_SIZE: Record<IdxType, number> = { u8: 1, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 };

/** Encodes an IDX file (for tests and for writing datasets). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
