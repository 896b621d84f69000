/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
 * little-endian data, every byte of it covered by exactly one tensor. `__metadata__` holds
 * string pairs. F32 and F64 tensors are read and written; the reader checks everything the
 * format promises (offsets in order, no holes, sizes matching shapes) and names what is wrong.
 *
 * @module
 */

/** Values of a tensor: F32 (`Float32Array`) or F64 (`Float64Array`). */
export type TensorValues = Float32Array | Float64Array;

/** A named tensor: its shape and its values, row-major. */
export interface NamedTensor {
  /** Sizes, outermost first. */
  shape: readonly number[];
  /** The values: `Float32Array` is written as F32, `Float64Array` as F64. */
  data: TensorValues;
}

/** A decoded safetensors file. */
export interface Safetensors {
  /** The tensors, by name, in file order. */
  tensors: Record<string, NamedTensor>;
  /** The `__metadata__` string pairs ({} when absent). */
  metadata: Record<string, string>;
}

/** Largest header safetensors' own readers accept (100 MB); a longer one is refused here too. */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

const DTYPES = { F32: 4, F64: 8 } as const;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encodes tensors (and string metadata) as a safetensors file. The header is padded with
 * spaces to a multiple of 8 bytes, as the reference implementation does.
 *
 * @param tensors by name; names must not be `__metadata__`.
 * @param metadata string pairs stored under `__metadata__` (e.g. `{ format: "pt" }`).
 * @returns the file's bytes.
 * @throws {TypeError} if a tensor's values do not fill its shape, a shape is not a list of
 *   non-negative integers, a name is `__metadata__`, or a metadata value is not a string.
 * @example
 * ```ts ignore
 * const bytes = encodeSafetensors({ "0.weight": { shape: [2, 2], data: new Float32Array(4) } });
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, NamedTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      throw new TypeError(`safetensors: metadata "${key}" must be a string, received ${value}`);
    }
  }
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === "__metadata__") {
      throw new TypeError(`safetensors: a tensor cannot be named ${name}`);
    }
    checkShape(name, t.shape);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new TypeError(
        `safetensors: "${name}" has ${t.data.length} values for shape [${t.shape}]`,
      );
    }
    const dtype = t.data instanceof Float64Array ? "F64" : "F32";
    const bytes = count * DTYPES[dtype];
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const [, t] of entries) {
    at += writeValues(out, view, at, t.data);
  }
  return out;
}

/**
 * Decodes a safetensors file holding F32 and F64 tensors.
 *
 * @param bytes the whole file.
 * @param name used in error messages (e.g. the file name).
 * @returns the tensors and the metadata.
 * @throws {Error} naming the file and the problem: not a safetensors file (too short, or a
 *   JSON file), a header longer than the file or than 100 MB, a header that is not a JSON
 *   object, a tensor of another dtype, a shape that does not match its bytes, offsets out of
 *   order, overlapping, leaving holes or running past the end.
 * @example
 * ```ts ignore
 * const { tensors, metadata } = decodeSafetensors(await Deno.readFile("model.safetensors"));
 * ```
 */
export function decodeSafetensors(input: Uint8Array, name = "safetensors file"): Safetensors {
  const bytes = plainBytes(input);
  const header = readHeader(bytes, name);
  const base = 8 + header.length;
  const tensors: Record<string, NamedTensor> = {};
  let metadata: Record<string, string> = {};
  const ranges: { key: string; start: number; end: number }[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const [key, entry] of Object.entries(header.json)) {
    if (key === "__metadata__") {
      metadata = checkMetadata(entry, name);
      continue;
    }
    const { dtype, shape, start, end } = checkEntry(key, entry, name);
    if (!(dtype in DTYPES)) {
      throw new Error(`${name}: "${key}" is ${dtype}; this reader handles F32 and F64 tensors`);
    }
    const size = DTYPES[dtype as keyof typeof DTYPES];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - start !== count * size) {
      throw new Error(
        `${name}: "${key}" spans ${end - start} bytes, its shape [${shape}] of ${dtype} needs ${
          count * size
        }`,
      );
    }
    if (base + end > bytes.length) {
      throw new Error(
        `${name}: "${key}" ends at byte ${
          base + end
        }, past the end of the file (${bytes.length} bytes): truncated`,
      );
    }
    ranges.push({ key, start, end });
    tensors[key] = { shape, data: readValues(bytes, view, base + start, count, size) };
  }
  ranges.sort((a, b) => a.start - b.start || a.end - b.end);
  let covered = 0;
  for (const r of ranges) {
    if (r.start !== covered) {
      throw new Error(
        r.start < covered
          ? `${name}: "${r.key}" overlaps the tensor before it`
          : `${name}: bytes ${covered}–${r.start} of the data belong to no tensor`,
      );
    }
    covered = r.end;
  }
  if (base + covered !== bytes.length) {
    throw new Error(
      `${name}: ${bytes.length - base - covered} bytes after the last tensor belong to no tensor`,
    );
  }
  return { tensors, metadata };
}

/**
 * Reads only the header of a safetensors file: its JSON and its length.
 *
 * @internal
 * @throws {Error} as {@linkcode decodeSafetensors} does for the header.
 */
export function readHeader(
  bytes: Uint8Array,
  name = "safetensors file",
): { json: Record<string, unknown>; length: number } {
  const length = bytes.length < 8
    ? -1n
    : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (length < 0n || length > BigInt(SAFETENSORS_MAX_HEADER) || 8n + length > bytes.length) {
    const first = bytes.length > 0 ? bytes[0] : -1;
    if (first === 0x7b || first === 0x5b) {
      throw new Error(`${name} is not a safetensors file: it starts like a JSON file`);
    }
    if (length < 0n) {
      throw new Error(
        `${name} is not a safetensors file: ${bytes.length} bytes, shorter than a header`,
      );
    }
    throw new Error(
      length > BigInt(SAFETENSORS_MAX_HEADER)
        ? `${name} is not a safetensors file: its header length (${length} bytes) is over 100 MB`
        : `${name}: the header announces ${length} bytes but the file has ${bytes.length}: truncated, or not a safetensors file`,
    );
  }
  const raw = bytes.subarray(8, 8 + Number(length));
  if (raw[0] !== 0x7b) throw new Error(`${name} is not a safetensors file: the header is not JSON`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    throw new Error(`${name}: the header is not valid JSON (a damaged file)`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new Error(`${name}: the header is not a JSON object`);
  }
  return { json: json as Record<string, unknown>, length: Number(length) };
}

function checkShape(name: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TypeError(
      `safetensors: "${name}" needs a shape of non-negative integers, received ${
        JSON.stringify(shape)
      }`,
    );
  }
}

function checkMetadata(entry: unknown, name: string): Record<string, string> {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
    throw new Error(`${name}: __metadata__ is not an object`);
  }
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== "string") throw new Error(`${name}: metadata "${k}" is not a string`);
  }
  return entry as Record<string, string>;
}

function checkEntry(
  key: string,
  entry: unknown,
  name: string,
): { dtype: string; shape: number[]; start: number; end: number } {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
  const offsets = e?.data_offsets;
  if (
    e === null || typeof e !== "object" || typeof e.dtype !== "string" ||
    !Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0) ||
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[1] < offsets[0]
  ) {
    throw new Error(`${name}: the header entry of "${key}" is malformed`);
  }
  return { dtype: e.dtype, shape: e.shape as number[], start: offsets[0], end: offsets[1] };
}

function writeValues(out: Uint8Array, view: DataView, at: number, data: TensorValues): number {
  const bytes = data.byteLength;
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, bytes), at);
  } else if (data instanceof Float64Array) {
    for (let i = 0; i < data.length; i++) view.setFloat64(at + 8 * i, data[i], true);
  } else {
    for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i], true);
  }
  return bytes;
}

function readValues(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  count: number,
  size: number,
): TensorValues {
  if (LITTLE_ENDIAN) {
    const copy = bytes.slice(at, at + count * size).buffer; // aligned, owned
    return size === 8 ? new Float64Array(copy) : new Float32Array(copy);
  }
  const out = size === 8 ? new Float64Array(count) : new Float32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = size === 8 ? view.getFloat64(at + 8 * i, true) : view.getFloat32(at + 4 * i, true);
  }
  return out;
}

/**
 * `bytes` as a plain Uint8Array over the same memory: a subclass such as Node's `Buffer`
 * (which npm packages return) has a `slice` that shares memory instead of copying.
 *
 * @internal
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
