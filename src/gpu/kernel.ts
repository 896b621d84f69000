/**
 * Kernel descriptions and the pipeline cache.
 *
 * A kernel is one entry point of one `.wgsl` file plus its binding table. Bindings follow the
 * project convention: read-only storage inputs, then read-write storage outputs, then (last)
 * one uniform `Params` struct whose fields are 4-byte scalars, declared here in struct order.
 * Pipelines are compiled once per device per (file, entry point, override constants).
 *
 * @module
 */

/** How a binding is declared in WGSL: `var<storage, read>`, `var<storage, read_write>`. */
export type BindingKind = "read" | "write";

/** Scalar type of one field of a kernel's uniform `Params` struct. */
export type ParamType = "u32" | "i32" | "f32";

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
  /** Storage bindings in binding order (0, 1, ...). */
  readonly storage: readonly BindingKind[];
  /**
   * Fields of the uniform `Params` struct in declaration order; it is bound right after the
   * storage bindings. Omit when the kernel has no uniform.
   */
  readonly params?: Readonly<Record<string, ParamType>>;
}

/** Values for a kernel's `Params` fields, by name. */
export type ParamValues = Readonly<Record<string, number>>;

/** Override constants (`override NAME: type = default;` in WGSL). */
export type Constants = Readonly<Record<string, number>>;

/** A compiled kernel: pipeline and bind group layout. */
export interface CompiledKernel {
  /** The description it was compiled from. */
  readonly spec: KernelSpec;
  /** The compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Layout of bind group 0: the storage bindings, then the `Params` uniform if any. */
  readonly layout: GPUBindGroupLayout;
  /** The cache key, `file#entry{constants}`. */
  readonly key: string;
}

/** Cache key of a kernel with its constants. */
export function kernelKey(spec: KernelSpec, constants?: Constants): string {
  const c = constants === undefined
    ? ""
    : Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(",");
  return `${spec.file}#${spec.entryPoint}{${c}}`;
}

/** Byte size of the packed `Params` struct, padded to 16 bytes. */
export function paramsByteSize(spec: KernelSpec): number {
  const n = spec.params === undefined ? 0 : Object.keys(spec.params).length;
  return Math.max(16, Math.ceil((n * 4) / 16) * 16);
}

/**
 * Writes `values` into `view` at `offset` following the field order of `spec.params`.
 *
 * @throws {TypeError} if a field is missing or a value is not finite for its type.
 */
export function packParams(
  spec: KernelSpec,
  values: ParamValues,
  view: DataView,
  offset: number,
): void {
  const fields = spec.params ?? {};
  let at = offset;
  for (const [name, type] of Object.entries(fields)) {
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
}

/** Builds the explicit bind group layout of a kernel from its binding table. */
export function createLayout(device: GPUDevice, spec: KernelSpec): GPUBindGroupLayout {
  const entries: GPUBindGroupLayoutEntry[] = spec.storage.map((kind, binding) => ({
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: kind === "read" ? "read-only-storage" : "storage" },
  }));
  if (spec.params !== undefined) {
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

/**
 * Turns WGSL compilation messages into one error naming the kernel file and line.
 * Returns `undefined` when there is no error-level message.
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
