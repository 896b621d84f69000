/**
 * Kernel descriptions, their uniform layouts, and parameter packing.
 *
 * A kernel is one entry point of one `.wgsl` file plus its binding table. Bindings follow the
 * project convention: read-only storage inputs, then read-write storage outputs, then (last)
 * at most one uniform struct whose fields are 4-byte scalars.
 *
 * The WGSL struct is the single source of the uniform layout: the kernel's uniform is the
 * `var<uniform>` of group 0 at binding `storage.length` in its code (or prelude), and its
 * struct's fields, in order, are what {@linkcode packParams} writes. The layout is read once per
 * {@linkcode KernelSpec} object and cached, so a dispatch does no parsing. A spec may still
 * give {@linkcode KernelSpec.params} (deprecated); it is then checked against the struct.
 * Pipelines are compiled once per device per (file, entry point, override constants).
 *
 * @module
 */

import { findUniform, type ParamType, type UniformField } from "./wgsl_layout.ts";

export type { ParamType, UniformField } from "./wgsl_layout.ts";

/** How a binding is declared in WGSL: `var<storage, read>`, `var<storage, read_write>`. */
export type BindingKind = "read" | "write";

/** Static description of one compute entry point. */
export interface KernelSpec {
  /** Path of the source file, used in error messages (e.g. `shaders/matmul.wgsl`). */
  readonly file: string;
  /** The WGSL source of the whole file. */
  readonly code: string;
  /**
   * Library text compiled in front of `code` (e.g. the random generator's functions); error
   * line numbers still refer to `code`.
   */
  readonly prelude?: string;
  /** Name of the `@compute` function. */
  readonly entryPoint: string;
  /**
   * Storage bindings in binding order (0, 1, ...). The uniform, if any, is bound right after
   * them, at binding `storage.length`.
   */
  readonly storage: readonly BindingKind[];
  /**
   * Fields of the uniform struct in declaration order.
   *
   * @deprecated Derived from the WGSL struct of the uniform at binding `storage.length`; if
   * given it must match it (same names, order and types), else compiling or dispatching throws
   * a `TypeError` naming the first differing field.
   */
  readonly params?: Readonly<Record<string, ParamType>>;
}

/** Values for a kernel's uniform fields, by name. */
export type ParamValues = Readonly<Record<string, number>>;

/** Override constants (`override NAME: type = default;` in WGSL). */
export type Constants = Readonly<Record<string, number>>;

/** A compiled kernel: pipeline and bind group layout. */
export interface CompiledKernel {
  /** The description it was compiled from. */
  readonly spec: KernelSpec;
  /** The compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Layout of bind group 0: the storage bindings, then the uniform if any. */
  readonly layout: GPUBindGroupLayout;
  /** The cache key, `file#entry{constants}`. */
  readonly key: string;
}

/** The uniform of a kernel as read from its WGSL (see {@linkcode uniformLayout}). */
export interface UniformLayout {
  /** Binding index (`storage.length` of the spec). */
  readonly binding: number;
  /** Name of the WGSL variable. */
  readonly variable: string;
  /** Name of the WGSL struct. */
  readonly struct: string;
  /** Fields in struct order, `[name, type]`: what {@linkcode packParams} writes. */
  readonly fields: readonly UniformField[];
  /** Byte size of the packed struct, padded to 16 bytes. */
  readonly byteSize: number;
}

const layouts = new WeakMap<KernelSpec, UniformLayout | null>();

/**
 * Cache key of a kernel with its constants.
 *
 * @param spec the entry point.
 * @param constants values of its override constants.
 * @returns `file#entry{name=value,...}` with the constants sorted by name.
 */
export function kernelKey(spec: KernelSpec, constants?: Constants): string {
  const c = constants === undefined
    ? ""
    : Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(",");
  return `${spec.file}#${spec.entryPoint}{${c}}`;
}

/**
 * The uniform layout of a kernel, read from the WGSL struct of the `var<uniform>` of group 0 at
 * binding `spec.storage.length` in `spec.code`, else in `spec.prelude`.
 *
 * The result is cached per spec object (a `WeakMap`), so only the first call for a spec reads
 * the source; that call also checks a given {@linkcode KernelSpec.params} against the struct.
 *
 * @param spec the entry point.
 * @returns the layout, or null when the kernel has no uniform.
 * @throws {Error} naming the file, struct and field when the struct is not made of `u32`, `i32`
 *   and `f32` fields, or the declaration cannot be read.
 * @throws {TypeError} naming the file, entry point and first differing field when `spec.params`
 *   is given and differs from the struct.
 */
export function uniformLayout(spec: KernelSpec): UniformLayout | null {
  const cached = layouts.get(spec);
  if (cached !== undefined) return cached;
  const binding = spec.storage.length;
  const sources = spec.prelude === undefined ? [spec.code] : [spec.code, spec.prelude];
  const found = findUniform(sources, binding, spec.file);
  const layout = found === null ? null : {
    binding,
    variable: found.variable,
    struct: found.struct,
    fields: found.fields,
    byteSize: Math.max(16, Math.ceil((found.fields.length * 4) / 16) * 16),
  };
  if (spec.params !== undefined) checkParams(spec, spec.params, layout);
  layouts.set(spec, layout);
  return layout;
}

/**
 * Byte size of the packed uniform struct, padded to 16 bytes (16 when there is none).
 *
 * @param spec the entry point.
 * @returns the size in bytes.
 * @throws {Error | TypeError} as {@linkcode uniformLayout} does.
 */
export function paramsByteSize(spec: KernelSpec): number {
  return uniformLayout(spec)?.byteSize ?? 16;
}

/**
 * Writes `values` into `view` at `offset` following the field order of the kernel's WGSL
 * uniform struct (f32 as float, u32 and i32 as integers, little-endian).
 *
 * Every key of `values` must name a field, even one whose value is `undefined`: a name the
 * struct lacks is drift between TypeScript and WGSL. The check costs one key count per call.
 *
 * @param spec the entry point.
 * @param values one number per field.
 * @param view where to write.
 * @param offset byte offset in `view`.
 * @throws {TypeError} if a field is missing, an integer field's value is not an integer, or a
 *   key of `values` is not a field of the struct.
 * @throws {Error | TypeError} as {@linkcode uniformLayout} does.
 */
export function packParams(
  spec: KernelSpec,
  values: ParamValues,
  view: DataView,
  offset: number,
): void {
  const fields = uniformLayout(spec)?.fields ?? NO_FIELDS;
  let at = offset;
  for (let i = 0; i < fields.length; i++) {
    const [name, type] = fields[i];
    const value = values[name];
    if (value === undefined) {
      throw new TypeError(`${spec.entryPoint}: missing kernel parameter "${name}"`);
    }
    if (type === "f32") {
      view.setFloat32(at, value, true);
    } else {
      if (!Number.isInteger(value)) {
        throw new TypeError(
          `${spec.entryPoint}: parameter "${name}" must be an integer, received ${value}`,
        );
      }
      if (type === "u32") view.setUint32(at, value >>> 0, true);
      else view.setInt32(at, value | 0, true);
    }
    at += 4;
  }
  // Every field was found, so the keys are the fields exactly when there are as many
  // (`Object.keys` of a literal is served from V8's enum cache: cheaper than a `for...in` count).
  if (Object.keys(values).length !== fields.length) {
    throw unknownParameter(spec, fields, values);
  }
}

/**
 * Builds the explicit bind group layout of a kernel: its storage bindings, then its uniform
 * (with a dynamic offset) when the WGSL declares one.
 *
 * @param device the device to create it on.
 * @param spec the entry point.
 * @returns the bind group layout.
 * @throws {Error | TypeError} as {@linkcode uniformLayout} does.
 */
export function createLayout(device: GPUDevice, spec: KernelSpec): GPUBindGroupLayout {
  const entries: GPUBindGroupLayoutEntry[] = spec.storage.map((kind, binding) => ({
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: kind === "read" ? "read-only-storage" : "storage" },
  }));
  if (uniformLayout(spec) !== null) {
    entries.push({
      binding: spec.storage.length,
      visibility: GPUShaderStage.COMPUTE,
      // The uniform arena hands out slots of shared chunks: the slot's offset is given at
      // setBindGroup time, so one bind group serves every slot of a chunk.
      buffer: { type: "uniform", hasDynamicOffset: true },
    });
  }
  return device.createBindGroupLayout({ label: spec.entryPoint, entries });
}

const NO_FIELDS: readonly UniformField[] = [];

function unknownParameter(
  spec: KernelSpec,
  fields: readonly UniformField[],
  values: ParamValues,
): TypeError {
  for (const key of Object.keys(values)) {
    if (!fields.some(([name]) => name === key)) {
      const layout = uniformLayout(spec);
      const where = layout === null
        ? `the kernel has no uniform at binding ${spec.storage.length}`
        : `not a field of struct ${layout.struct} in ${spec.file}`;
      return new TypeError(`${spec.entryPoint}: unknown kernel parameter "${key}" (${where})`);
    }
  }
  // Unreachable while every field is a key; kept so a miscount cannot pass silently.
  return new TypeError(`${spec.entryPoint}: kernel parameters do not match the struct`);
}

function checkParams(
  spec: KernelSpec,
  params: Readonly<Record<string, ParamType>>,
  layout: UniformLayout | null,
): void {
  const given = Object.entries(params);
  const wgsl = layout?.fields ?? NO_FIELDS;
  const struct = layout === null
    ? `no uniform at binding ${spec.storage.length}`
    : `struct ${layout.struct}`;
  for (let i = 0; i < Math.max(given.length, wgsl.length); i++) {
    const g = given[i], w = wgsl[i];
    if (g !== undefined && w !== undefined && g[0] === w[0] && g[1] === w[1]) continue;
    const said = g === undefined ? "nothing" : `"${g[0]}: ${g[1]}"`;
    const has = w === undefined ? "nothing" : `"${w[0]}: ${w[1]}"`;
    throw new TypeError(
      `${spec.file} (entry ${spec.entryPoint}): params disagree with the WGSL (${struct}) at ` +
        `field ${i}: params give ${said}, the WGSL has ${has}`,
    );
  }
}

/**
 * Turns WGSL compilation messages into one error naming the kernel file and line.
 *
 * @param spec the entry point that was compiled.
 * @param messages the shader module's compilation messages.
 * @param fallback text of a pipeline error to report when no message is an error.
 * @returns the error, or `undefined` when there is no error-level message and no fallback.
 */
export function compileError(
  spec: KernelSpec,
  messages: readonly GPUCompilationMessage[],
  fallback?: string,
): Error | undefined {
  const errors = messages.filter((m) => m.type === "error");
  if (errors.length === 0) {
    return fallback === undefined
      ? undefined
      : new Error(`WGSL pipeline error in ${spec.file} (entry ${spec.entryPoint}): ${fallback}`);
  }
  const first = errors[0];
  const preludeLines = spec.prelude === undefined ? 0 : spec.prelude.split("\n").length - 1;
  const inPrelude = first.lineNum <= preludeLines;
  const lineNum = inPrelude ? first.lineNum : first.lineNum - preludeLines;
  const source = inPrelude ? spec.prelude! : spec.code;
  const line = source.split("\n")[lineNum - 1]?.trim() ?? "";
  const text = first.message.trim().split("\n")[0];
  const where = inPrelude ? `the prelude of ${spec.file}` : spec.file;
  return new Error(
    `WGSL compile error in ${where}:${lineNum}:${first.linePos} ` +
      `(entry ${spec.entryPoint}): ${text}\n  ${lineNum} | ${line}`,
  );
}
