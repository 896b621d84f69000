/**
 * Reading what TypeScript needs from WGSL source: the uniform struct of a binding and the values
 * of module-scope constants, so the shader stays the only place they are written.
 *
 * The reader is text-level, not a WGSL parser: comments are removed, then declarations are
 * matched. It understands the forms the project's shaders use and throws, naming the file and
 * line, on anything it cannot read rather than guessing.
 *
 * @module
 */

/** Scalar type of one field of a kernel's uniform struct. */
export type ParamType = "u32" | "i32" | "f32";

/** One field of a uniform struct: its name and scalar type. */
export type UniformField = readonly [name: string, type: ParamType];

/** A `var<uniform>` declaration of bind group 0 and its struct. */
export interface UniformStruct {
  /** The `@binding` index. */
  readonly binding: number;
  /** Name of the variable (`p` in `var<uniform> p: Params;`). */
  readonly variable: string;
  /** Name of the struct type (`Params`). */
  readonly struct: string;
  /** The struct's fields in declaration order; each is a 4-byte scalar. */
  readonly fields: readonly UniformField[];
}

interface Declaration {
  binding: number;
  variable: string;
  struct: string;
  line: number;
}

/** What one source text declares; computed once per text (see {@linkcode scan}). */
interface Scan {
  readonly uniforms: readonly Declaration[];
  /** Struct bodies by name, as written (comments removed). */
  readonly structs: ReadonlyMap<string, { body: string; line: number }>;
  /** Parsed struct fields by name: the fields, or the message of why they cannot be read. */
  readonly fields: Map<string, readonly UniformField[] | string>;
}

const SCALARS: ReadonlySet<string> = new Set(["u32", "i32", "f32"]);
const IDENT = "[A-Za-z_][A-Za-z0-9_]*";
const IDENT_ONLY = new RegExp(`^${IDENT}$`);
const UNIFORM_VAR = /\bvar\s*<\s*uniform\s*>/g;
const UNIFORM_TAIL = new RegExp(`\\s*(${IDENT})\\s*:\\s*([^;]*?)\\s*;`, "y");
const ATTRIBUTES = /((?:@\s*[A-Za-z_]\w*\s*(?:\([^()]*\))?\s*)*)$/;
const STRUCT = new RegExp(`\\bstruct\\s+(${IDENT})\\s*\\{([^}]*)\\}`, "g");
const MEMBER = new RegExp(`^(${IDENT})\\s*:\\s*(.+)$`, "s");
const SCAN_CACHE_SIZE = 64;
const scans = new Map<string, Scan>();

/**
 * Finds the uniform a kernel binds at `binding` of group 0 and reads its struct.
 *
 * `sources` are searched in order (a kernel's own code, then its prelude); the struct may be
 * declared in any of them. Several declarations at `binding` are fine if they share one struct
 * type (entry points with their own variable names); different types are ambiguous.
 *
 * @param sources WGSL texts compiled together, the kernel's own file first.
 * @param binding the binding index the kernel's uniform must have.
 * @param file name used in error messages (e.g. `shaders/matmul.wgsl`).
 * @returns the declaration and its fields, or null when no uniform is declared at `binding`.
 * @throws {Error} naming the file, struct and field when a field is not `u32`, `i32` or `f32`,
 *   when the type is not a struct of the sources, when a declaration cannot be read, or when
 *   declarations at `binding` have different types.
 */
export function findUniform(
  sources: readonly string[],
  binding: number,
  file: string,
): UniformStruct | null {
  const all = sources.map((source) => scan(source, file));
  for (let s = 0; s < all.length; s++) {
    const found = all[s].uniforms.filter((u) => u.binding === binding);
    if (found.length === 0) continue;
    const first = found[0];
    const other = found.find((u) => u.struct !== first.struct);
    if (other !== undefined) {
      throw new Error(
        `${file}:${other.line}: uniforms at binding ${binding} have different structs, ` +
          `"${first.struct}" and "${other.struct}"; give each entry point its own binding index`,
      );
    }
    const order = [all[s], ...all.filter((_, i) => i !== s)];
    return declared(first, structFields(order, first, file));
  }
  return null;
}

/**
 * Reads every `var<uniform>` declaration of bind group 0 in one WGSL text with its struct.
 *
 * @param source WGSL text; its structs must be declared in it.
 * @param file name used in error messages.
 * @returns the declarations in source order.
 * @throws {Error} as {@linkcode findUniform} does.
 */
export function uniformStructs(source: string, file: string): UniformStruct[] {
  const s = scan(source, file);
  return s.uniforms.map((u) => declared(u, structFields([s], u, file)));
}

function declared(u: Declaration, fields: readonly UniformField[]): UniformStruct {
  return { binding: u.binding, variable: u.variable, struct: u.struct, fields };
}

/**
 * Reads the values of module-scope constants (`const NAME: u32 = 1u;`) from WGSL source, so
 * TypeScript does not write them a second time.
 *
 * Accepted: typed (`u32`, `i32`, `f32`) or untyped declarations whose value is one numeric
 * literal, decimal or hexadecimal, with an optional `u`, `i` or `f` suffix and an optional
 * leading minus (`1u`, `0x10u`, `-3i`, `2.5e-3`, `0.5f`, `3`). Constants declared inside
 * functions are not module-scope and are not seen.
 *
 * @param code WGSL source.
 * @param names the constants to read (pass them `as const` to get their names in the type).
 * @returns each name's value.
 * @throws {Error} naming the first constant that is not declared at module scope, or whose value
 *   is not a numeric literal of its type.
 * @example
 * ```ts ignore
 * import code from "../../shaders/zo_decide.wgsl" with { type: "text" };
 * const FLAGS = wgslConstants(code, ["STEP_OPPOSITE", "AVG_BEST"]);
 * // { STEP_OPPOSITE: 1, AVG_BEST: 2 }
 * ```
 */
export function wgslConstants<N extends string>(
  code: string,
  names: readonly N[],
): Record<N, number> {
  const text = moduleScope(stripComments(code));
  const out = {} as Record<N, number>;
  for (const name of names) {
    const found = IDENT_ONLY.test(name)
      ? new RegExp(`\\bconst\\s+${name}\\s*(?::\\s*([^=]*?))?\\s*=\\s*([^;]*?)\\s*;`).exec(text)
      : null;
    if (found === null) {
      throw new Error(`wgslConstants: constant "${name}" is not declared at module scope`);
    }
    const value = literal(found[2], found[1]);
    if (value === undefined) {
      const type = found[1] === undefined ? "" : `: ${found[1]}`;
      throw new Error(
        `wgslConstants: constant "${name}${type}" must be a numeric literal, received "${
          found[2]
        }"`,
      );
    }
    out[name] = value;
  }
  return out;
}

function scan(source: string, file: string): Scan {
  const cached = scans.get(source);
  if (cached !== undefined) return cached;
  const text = stripComments(source);
  const lineAt = lineCounter(text);
  const uniforms: Declaration[] = [];
  for (const m of text.matchAll(UNIFORM_VAR)) {
    const line = lineAt(m.index);
    UNIFORM_TAIL.lastIndex = m.index + m[0].length;
    const tail = UNIFORM_TAIL.exec(text);
    const attrs = ATTRIBUTES.exec(text.slice(Math.max(0, m.index - 200), m.index))![1];
    const group = attribute(attrs, "group");
    const binding = attribute(attrs, "binding");
    if (tail === null || group === undefined || binding === undefined) {
      throw new Error(`${file}:${line}: cannot read the uniform declaration "${m[0]} ..."`);
    }
    if (group !== 0) continue;
    if (!IDENT_ONLY.test(tail[2])) {
      throw new Error(
        `${file}:${line}: uniform "${tail[1]}" must have a struct type, received "${tail[2]}"`,
      );
    }
    uniforms.push({ binding, variable: tail[1], struct: tail[2], line });
  }
  const structs = new Map<string, { body: string; line: number }>();
  for (const m of text.matchAll(STRUCT)) {
    if (!structs.has(m[1])) structs.set(m[1], { body: m[2], line: lineAt(m.index) });
  }
  const result: Scan = { uniforms, structs, fields: new Map() };
  if (scans.size >= SCAN_CACHE_SIZE) scans.delete(scans.keys().next().value!);
  scans.set(source, result);
  return result;
}

/** The fields of the struct of `u`, from the first scan that declares it. */
function structFields(order: readonly Scan[], u: Declaration, file: string): UniformField[] {
  for (const s of order) {
    const decl = s.structs.get(u.struct);
    if (decl === undefined) continue;
    let fields = s.fields.get(u.struct);
    if (fields === undefined) {
      fields = parseMembers(decl.body);
      s.fields.set(u.struct, fields);
    }
    if (typeof fields === "string") {
      throw new Error(`${file}:${decl.line}: struct ${u.struct} ${fields}`);
    }
    return [...fields];
  }
  throw new Error(
    `${file}:${u.line}: uniform "${u.variable}" has type "${u.struct}", which is not a struct ` +
      `declared in the file${order.length > 1 ? " or its prelude" : ""}`,
  );
}

/** The fields of a struct body, or why they cannot be read. */
function parseMembers(body: string): readonly UniformField[] | string {
  const fields: UniformField[] = [];
  const parts = splitTopLevel(body).map((s) => s.trim());
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop(); // trailing comma
  for (const part of parts) {
    if (part.startsWith("@")) {
      return `field "${part}": attributes change the layout and are not supported`;
    }
    const m = MEMBER.exec(part);
    if (m === null) return `member "${part}" cannot be read`;
    const type = m[2].trim();
    if (!SCALARS.has(type)) {
      return `field "${m[1]}" must be u32, i32 or f32, received "${type}"`;
    }
    fields.push([m[1], type as ParamType]);
  }
  if (fields.length === 0) return "has no fields";
  return fields;
}

/** Splits on commas that are not inside `<...>` or `(...)` (e.g. `array<f32, 4>`). */
function splitTopLevel(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "<" || c === "(") depth++;
    else if (c === ">" || c === ")") depth--;
    else if (c === "," && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts;
}

/** The integer argument of `@name(...)` in an attribute list, or undefined. */
function attribute(attrs: string, name: string): number | undefined {
  const m = new RegExp(`@\\s*${name}\\s*\\(\\s*([^)]*?)\\s*\\)`).exec(attrs);
  if (m === null) return undefined;
  const value = literal(m[1], "u32");
  return value === undefined ? undefined : value;
}

/**
 * The value of a numeric literal of WGSL type `type` (undefined: abstract, the suffix decides),
 * or undefined when `text` is not one.
 */
function literal(text: string, type: string | undefined): number | undefined {
  const m = /^(-?)\s*(?:(0[xX][0-9a-fA-F]+)|([0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?))([uif]?)$/
    .exec(text);
  if (m === null || (m[2] === undefined && !/[0-9]/.test(m[3]))) return undefined;
  const [, minus, hex, decimal, suffix] = m;
  const kind = type ?? (suffix === "" ? "" : { u: "u32", i: "i32", f: "f32" }[suffix]);
  if (type !== undefined && suffix !== "" && kind !== { u: "u32", i: "i32", f: "f32" }[suffix]) {
    return undefined;
  }
  const value = (minus === "-" ? -1 : 1) * (hex !== undefined ? parseInt(hex, 16) : +decimal);
  if (!Number.isFinite(value)) return undefined;
  const integral = hex !== undefined || /^[0-9]+$/.test(decimal);
  if (kind === "u32") return integral && value >= 0 && value < 2 ** 32 ? value : undefined;
  if (kind === "i32") return integral && value >= -(2 ** 31) && value < 2 ** 31 ? value : undefined;
  if (kind === "f32" || kind === "") return value;
  return undefined;
}

/**
 * Replaces each comment (`//` to the end of the line, nestable `/* *\/`) with one space, keeping
 * its line breaks so line numbers still hold. WGSL has no string literals to worry about.
 */
function stripComments(code: string): string {
  let out = "";
  let from = 0;
  let i = code.indexOf("/");
  while (i >= 0 && i < code.length) {
    const next = code[i + 1];
    if (next !== "/" && next !== "*") {
      i = code.indexOf("/", i + 1);
      continue;
    }
    out += code.slice(from, i) + " ";
    if (next === "/") {
      while (i < code.length && code[i] !== "\n") i++;
    } else {
      let depth = 0;
      do {
        const two = code.slice(i, i + 2);
        if (two === "/*" || two === "*/") {
          depth += two === "/*" ? 1 : -1;
          i += 2;
        } else {
          if (code[i] === "\n") out += "\n";
          i++;
        }
      } while (depth > 0 && i < code.length);
    }
    from = i;
    i = code.indexOf("/", i);
  }
  return out + code.slice(from);
}

/** Blanks out everything inside braces, leaving module-scope declarations. */
function moduleScope(text: string): string {
  let depth = 0;
  let out = "";
  for (const c of text) {
    if (c === "{") depth++;
    out += depth === 0 || c === "\n" ? c : " ";
    if (c === "}") depth--;
  }
  return out;
}

/** A function from a character index of `text` to its 1-based line number. */
function lineCounter(text: string): (index: number) => number {
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return (index) => {
    let lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}
