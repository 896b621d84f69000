/**
 * Exact JSON for optimizer state and run metadata: plain data (objects, arrays, strings,
 * booleans, null, numbers) plus typed arrays and the numbers JSON cannot hold.
 *
 * - `Float32Array`, `Float64Array`, `Int32Array`, `Uint32Array`, `Uint8Array` become
 *   `{"$f32": base64}` (and `$f64`, `$i32`, `$u32`, `$u8`) of their little-endian bytes;
 * - NaN, ±Infinity and -0 become `{"$num": "NaN" | "Infinity" | "-Infinity" | "-0"}`;
 * - an object with a key starting with `$` is wrapped as `{"$object": [[key, value], ...]}`,
 *   so no user key is mistaken for one of the above.
 *
 * `decodeState(encodeState(x))` equals `x` bit for bit (undefined values and functions are
 * dropped, as `JSON.stringify` does).
 *
 * @module
 */

const ARRAYS = {
  $f32: Float32Array,
  $f64: Float64Array,
  $i32: Int32Array,
  $u32: Uint32Array,
  $u8: Uint8Array,
} as const;
type ArrayTag = keyof typeof ARRAYS;
type Typed = InstanceType<(typeof ARRAYS)[ArrayTag]>;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encodes `value` as JSON text, typed arrays and non-finite numbers included.
 *
 * @throws {TypeError} for values JSON cannot hold (a bigint, a cycle), or on a big-endian host.
 */
export function encodeState(value: unknown): string {
  if (!LITTLE_ENDIAN) throw new TypeError("encodeState: big-endian hosts are not supported");
  return JSON.stringify(value, function (this: unknown, _key, v: unknown) {
    if (typeof v === "number") {
      if (Number.isNaN(v)) return { $num: "NaN" };
      if (v === Infinity) return { $num: "Infinity" };
      if (v === -Infinity) return { $num: "-Infinity" };
      if (Object.is(v, -0)) return { $num: "-0" };
      return v;
    }
    if (ArrayBuffer.isView(v)) {
      for (const [tag, type] of Object.entries(ARRAYS)) {
        if (v instanceof type) {
          return { [tag]: toBase64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
        }
      }
      throw new TypeError(`encodeState: cannot store a ${v.constructor.name}`);
    }
    if (
      v !== null && typeof v === "object" && !Array.isArray(v) &&
      Object.keys(v).some((k) => k.startsWith("$"))
    ) {
      return { $object: Object.entries(v) };
    }
    return v;
  });
}

/**
 * Decodes what {@linkcode encodeState} wrote.
 *
 * @throws {Error} naming `name` for text that is not JSON or a malformed tagged value.
 */
export function decodeState(text: string, name = "state"): unknown {
  try {
    return JSON.parse(text, (_key, v: unknown) => {
      if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
      const keys = Object.keys(v);
      if (keys.length !== 1 || !keys[0].startsWith("$")) return v;
      const tag = keys[0];
      const body = (v as Record<string, unknown>)[tag];
      if (tag === "$num") return NUMBERS[body as string] ?? bad(tag);
      if (tag === "$object") {
        return Array.isArray(body) ? Object.fromEntries(body as [string, unknown][]) : bad(tag);
      }
      if (tag in ARRAYS && typeof body === "string") return fromBase64(tag as ArrayTag, body);
      return bad(tag);
    });
  } catch (error) {
    throw new Error(`${name}: ${(error as Error).message}`);
  }
}

const NUMBERS: Record<string, number> = {
  NaN: NaN,
  Infinity: Infinity,
  "-Infinity": -Infinity,
  "-0": -0,
};

function bad(tag: string): never {
  throw new Error(`malformed ${tag} value`);
}

interface Base64Bytes {
  toBase64?(): string;
}
interface Base64Static {
  fromBase64?(text: string): Uint8Array;
}

function toBase64(bytes: Uint8Array): string {
  const native = (bytes as Base64Bytes).toBase64;
  if (native !== undefined) return native.call(bytes);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(tag: ArrayTag, text: string): Typed {
  const native = (Uint8Array as unknown as Base64Static).fromBase64;
  let bytes: Uint8Array;
  if (native !== undefined) {
    bytes = native(text);
  } else {
    const s = atob(text);
    bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  }
  const type = ARRAYS[tag];
  if (bytes.length % type.BYTES_PER_ELEMENT !== 0) bad(tag);
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes.buffer
    : bytes.slice().buffer;
  return new type(own as ArrayBuffer);
}
