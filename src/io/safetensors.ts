/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
 * little-endian data. Only F32 tensors are written; `__metadata__` holds string pairs.
 *
 * @module
 */

/** A named f32 tensor. */
export interface NamedTensor {
  shape: readonly number[];
  data: Float32Array;
}

/** Encodes tensors (and string metadata) as a safetensors file. */
export function encodeSafetensors(
  tensors: Record<string, NamedTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new TypeError(
        `safetensors: "${name}" has ${t.data.length} values for shape [${t.shape}]`,
      );
    }
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(padded - json.length));
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    for (let i = 0; i < t.data.length; i++, at += 4) view.setFloat32(at, t.data[i], true);
  }
  return out;
}

/** A decoded safetensors file. */
export interface Safetensors {
  tensors: Record<string, NamedTensor>;
  metadata: Record<string, string>;
}

/**
 * Decodes a safetensors file holding F32 tensors.
 *
 * @throws {Error} for a truncated file, a bad header or another dtype.
 */
export function decodeSafetensors(bytes: Uint8Array, name = "safetensors file"): Safetensors {
  if (bytes.length < 8) throw new Error(`${name}: truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = Number(view.getBigUint64(0, true));
  if (8 + length > bytes.length) throw new Error(`${name}: truncated header`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  } catch {
    throw new Error(`${name}: the header is not JSON`);
  }
  const base = 8 + length;
  const tensors: Record<string, NamedTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === "__metadata__") {
      metadata = entry as unknown as Record<string, string>;
      continue;
    }
    if (entry.dtype !== "F32") {
      throw new Error(`${name}: "${key}" is ${entry.dtype}, only F32 is read`);
    }
    const [start, end] = entry.data_offsets;
    if (base + end > bytes.length) throw new Error(`${name}: "${key}" is truncated`);
    const data = new Float32Array((end - start) / 4);
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(base + start + 4 * i, true);
    tensors[key] = { shape: entry.shape, data };
  }
  return { tensors, metadata };
}

/**
 * Packs plain data holding `Float32Array`s (an optimizer's `stateDict()`) into safetensors:
 * arrays become tensors `t0, t1, ...` and the structure goes to metadata key `structure`.
 */
export function packState(state: unknown, metadata: Record<string, string> = {}): Uint8Array {
  const tensors: Record<string, NamedTensor> = {};
  const structure = JSON.stringify(state, (_key, value) => {
    if (value instanceof Float32Array) {
      const name = `t${Object.keys(tensors).length}`;
      tensors[name] = { shape: [value.length], data: value };
      return { $tensor: name };
    }
    return value;
  });
  return encodeSafetensors(tensors, { ...metadata, structure });
}

/** The inverse of {@linkcode packState}: the data and the other metadata. */
export function unpackState(
  bytes: Uint8Array,
  name?: string,
): { state: unknown; metadata: Record<string, string> } {
  const { tensors, metadata } = decodeSafetensors(bytes, name);
  const { structure, ...rest } = metadata;
  if (structure === undefined) throw new Error(`${name ?? "state"}: no structure metadata`);
  const state = JSON.parse(structure, (_key, value) => {
    if (value !== null && typeof value === "object" && typeof value.$tensor === "string") {
      return tensors[value.$tensor].data;
    }
    return value;
  });
  return { state, metadata: rest };
}

/** Writes a file atomically: to a temporary name in the same directory, then renamed. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Date.now()}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}
