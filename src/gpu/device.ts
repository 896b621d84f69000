/**
 * The WebGPU runtime: one device, its pipeline cache, buffer pool, uniform arena, bind-group
 * cache, derived buffers (see {@linkcode Gpu.derived}), the open command encoder and the
 * counters.
 *
 * Work is recorded into one command encoder (dispatches share one compute pass) and submitted
 * only when it must be: before a readback, before a CPU write, or on {@linkcode Gpu.flush}.
 * Nothing here waits on the GPU except {@linkcode Gpu.readBuffer}.
 *
 * @module
 */

import {
  type CompiledKernel,
  compileError,
  type Constants,
  createLayout,
  kernelKey,
  type KernelSpec,
  packParams,
  paramsByteSize,
  type ParamValues,
  uniformLayout,
} from "./kernel.ts";
import { DerivedBuffers } from "./derived.ts";
import { BufferPool } from "./pool.ts";
import { type SoftwareThreads, softwareThreadsOnce } from "./software_threads.ts";
import { Stats } from "./stats.ts";
import { UniformArena, type UniformSlot } from "./uniforms.ts";

/**
 * Which family of kernel variants to run. `"fallback"` (software adapters such as Mesa's
 * llvmpipe) avoids workgroup memory and barriers and gives each invocation many outputs held
 * in registers; `"tiled"` (real GPUs) uses workgroup-memory tiles.
 */
export type KernelVariant = "fallback" | "tiled";

/** Options of {@linkcode Gpu.create} and {@linkcode initGpu}. */
export interface GpuOptions {
  /** Passed to `navigator.gpu.requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Force a kernel variant; by default `"fallback"` on a fallback adapter, else `"tiled"`. */
  variant?: KernelVariant;
  /**
   * Threads of Mesa's software adapter (llvmpipe), set through the `LP_NUM_THREADS`
   * environment variable before the process's first adapter request (Mesa reads it then, once;
   * other adapters ignore it). Default `"auto"`: twice the logical CPUs, which keeps small
   * dispatches from waiting on one delayed thread (up to ~15% more training steps per second on
   * two cores; see `src/gpu/software_threads.ts`), applied only when `LP_NUM_THREADS` is unset and
   * the process may set it (`--allow-env=LP_NUM_THREADS`); without that permission Mesa keeps
   * its default of one thread per CPU, and setting `LP_NUM_THREADS` in the shell works too.
   * A count always applies and needs the permission. Results do not depend on it. If
   * something else in the process (another library) requested an adapter first, Mesa has
   * already read the variable and neither applies.
   */
  softwareThreads?: SoftwareThreads;
  /**
   * Largest storage binding the ops may use, in bytes (a multiple of 4, at most the device's
   * `maxStorageBufferBindingSize`, which is the default). Tensors larger than this are still
   * allowed: the ops split their work into dispatches over ranges of rows or images (see
   * {@linkcode Gpu.maxBindingSize}). Lower it to test that splitting without huge tensors.
   */
  maxBindingSize?: number;
}

/**
 * A storage binding of part of a buffer, `size` bytes from `offset` (a multiple of the
 * device's `minStorageBufferOffsetAlignment`); a plain `GPUBuffer` binds the whole buffer.
 */
export interface BufferRange {
  /** The buffer. */
  readonly buffer: GPUBuffer;
  /** First byte of the range. */
  readonly offset: number;
  /** Bytes in the range. */
  readonly size: number;
}

/** A storage binding of {@linkcode Gpu.dispatch}: a whole buffer or a range of one. */
export type StorageBinding = GPUBuffer | BufferRange;

/** True when a binding is a {@linkcode BufferRange} (a `GPUBuffer` has no `buffer` field). */
function isRange(binding: StorageBinding): binding is BufferRange {
  return (binding as Partial<BufferRange>).buffer !== undefined;
}

/** The buffer of a binding. */
export function bindingBuffer(binding: StorageBinding): GPUBuffer {
  return isRange(binding) ? binding.buffer : binding;
}

/** What the adapter says about itself. */
export interface AdapterDescription {
  /** Human-readable adapter name (`GPUAdapterInfo.description`, else its `device`). */
  description: string;
  /** `GPUAdapterInfo.vendor`; may be empty. */
  vendor: string;
  /** `GPUAdapterInfo.architecture`; may be empty. */
  architecture: string;
  /** True for a software adapter such as Mesa's llvmpipe. */
  isFallbackAdapter: boolean;
}

/** How to get an adapter, for the error thrown when there is none. */
export const NO_ADAPTER_HELP: string =
  "No WebGPU adapter is available. Install a GPU driver, or on a " +
  "machine without a GPU install Mesa's software adapter (Debian/Ubuntu: " +
  "`apt-get install -y mesa-vulkan-drivers libvulkan1`) and set DENO_WEBGPU_BACKEND=vulkan";

/** Where {@linkcode Gpu.dispatch} "packs" the values of a kernel without a uniform: none. */
const NO_UNIFORM = new DataView(new ArrayBuffer(0));

/** Bind groups kept for reuse (least recently used dropped first). */
const MAX_BIND_GROUPS = 4096;

const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

/** A WebGPU device with everything the library needs to record and run kernels. */
export class Gpu {
  /** The underlying device; use it only for things this class does not offer. */
  readonly device: GPUDevice;
  /** Adapter information. */
  readonly adapter: AdapterDescription;
  /** Limits of the device (the adapter's, not the spec's small defaults). */
  readonly limits: GPUSupportedLimits;
  /** Kernel variant family this device runs. */
  readonly variant: KernelVariant;
  /** Runtime counters. */
  readonly stats: Stats = new Stats();
  /** Storage buffer pool. */
  readonly pool: BufferPool;
  /**
   * The `LP_NUM_THREADS` Mesa's software adapter read when this process requested its first
   * adapter, when known (set by {@linkcode GpuOptions.softwareThreads} or readable), else null.
   */
  readonly softwareThreads: number | null;

  readonly #kernels = new Map<string, CompiledKernel>();
  readonly #uniforms: UniformArena;
  readonly #derived: DerivedBuffers;
  readonly #bindGroups = new Map<string, GPUBindGroup>();
  readonly #unused: GPUBuffer[] = [];
  readonly #bufferIds = new WeakMap<GPUBuffer, number>();
  #lastBufferId = 0;
  readonly #staging = new Map<number, GPUBuffer[]>();
  readonly #checks = new Set<Promise<void>>();
  #maxBindingSize: number;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #error: Error | null = null;
  #errorIsCompile = false;
  #lost: string | null = null;

  private constructor(
    device: GPUDevice,
    adapter: AdapterDescription,
    variant: KernelVariant,
    softwareThreads: number | null,
    maxBindingSize: number | undefined,
  ) {
    this.device = device;
    this.softwareThreads = softwareThreads;
    this.adapter = adapter;
    this.limits = device.limits;
    this.variant = variant;
    this.#maxBindingSize = device.limits.maxStorageBufferBindingSize;
    if (maxBindingSize !== undefined) this.maxBindingSize = maxBindingSize;
    this.pool = new BufferPool(device, this.stats);
    this.#derived = new DerivedBuffers(this.pool);
    this.pool.onRelease = (buffer) => this.#derived.drop(buffer);
    this.#uniforms = new UniformArena(device, device.limits.minUniformBufferOffsetAlignment);
    device.lost.then((info) => {
      this.#lost ??= `GPU device lost (${info.reason}): ${info.message}`;
    });
    device.addEventListener("uncapturederror", (event) => {
      this.#record(new Error((event as GPUUncapturedErrorEvent).error.message));
    });
  }

  /**
   * Requests an adapter and a device with the adapter's compute limits.
   *
   * @throws {Error} when WebGPU is missing or no adapter exists, saying how to get one; when
   *   `softwareThreads` is a count the process may not set, or differs from what the process's
   *   first adapter request applied.
   * @throws {RangeError} if `softwareThreads` is neither `"auto"` nor an integer from 1 to 1024.
   */
  static async create(options: GpuOptions = {}): Promise<Gpu> {
    if (typeof navigator === "undefined" || navigator.gpu === undefined) {
      throw new Error(NO_ADAPTER_HELP);
    }
    const threads = softwareThreadsOnce(options.softwareThreads);
    const adapter = await navigator.gpu.requestAdapter({
      powerPreference: options.powerPreference,
    });
    if (adapter === null) throw new Error(NO_ADAPTER_HELP);
    const requiredLimits: Record<string, number> = {};
    for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
    const device = await adapter.requestDevice({ requiredLimits });
    const info = adapter.info;
    const description: AdapterDescription = {
      description: info.description || info.device || "unknown adapter",
      vendor: info.vendor,
      architecture: info.architecture,
      isFallbackAdapter: info.isFallbackAdapter ?? false,
    };
    const variant = options.variant ?? (description.isFallbackAdapter ? "fallback" : "tiled");
    return new Gpu(device, description, variant, threads, options.maxBindingSize);
  }

  /**
   * One line naming the adapter and the kernel variant, with the thread count on a software
   * adapter when known, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) [fallback, 4 threads]`.
   */
  get adapterName(): string {
    const threads = this.adapter.isFallbackAdapter && this.softwareThreads !== null
      ? `, ${this.softwareThreads} threads`
      : "";
    return `${this.adapter.description} [${this.variant}${threads}]`;
  }

  /**
   * Largest storage binding the ops use, in bytes: the device's `maxStorageBufferBindingSize`
   * unless lowered (by {@linkcode GpuOptions.maxBindingSize} or by setting this property, which
   * is how tests exercise split dispatches). An op whose tensors do not fit one binding runs as
   * several dispatches over ranges of population rows (or of images, when one row is too big),
   * each binding only its range; the results are the same bit for bit, and an op whose tensors
   * fit is one dispatch as before.
   *
   * @throws {RangeError} when set to a value that is not a multiple of 4 between 1024 and the
   *   device's limit.
   */
  get maxBindingSize(): number {
    return this.#maxBindingSize;
  }

  set maxBindingSize(bytes: number) {
    const limit = this.limits.maxStorageBufferBindingSize;
    if (!Number.isInteger(bytes) || bytes % 4 !== 0 || bytes < 1024 || bytes > limit) {
      throw new RangeError(
        `maxBindingSize must be a multiple of 4 in [1024, ${limit}], received ${bytes}`,
      );
    }
    this.#maxBindingSize = bytes;
  }

  /** True once the device is lost or destroyed. */
  get isLost(): boolean {
    return this.#lost !== null;
  }

  /**
   * Compiles (or fetches from the cache) a kernel with its override constants. Compile errors
   * are reported by the next {@linkcode Gpu.checkErrors} or readback.
   *
   * @param spec the entry point and its bindings.
   * @param constants values of the WGSL `override` constants.
   * @returns the cached pipeline and bind group layout.
   * @throws {Error} if the device is lost or an earlier error is pending, or the WGSL uniform
   *   struct cannot be read (see {@linkcode uniformLayout}).
   * @throws {TypeError} if `spec.params` is given and differs from the WGSL uniform struct.
   */
  kernel(spec: KernelSpec, constants?: Constants): CompiledKernel {
    uniformLayout(spec); // reads and checks the layout once per spec object, even on a cache hit
    const key = kernelKey(spec, constants);
    const cached = this.#kernels.get(key);
    if (cached !== undefined) return cached;
    this.#assertUsable();
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({
      code: (spec.prelude ?? "") + spec.code,
      label: spec.file,
    });
    const layout = createLayout(this.device, spec);
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: {
        module,
        entryPoint: spec.entryPoint,
        constants: constants as Record<string, number>,
      },
    });
    this.#watch(this.device.popErrorScope(), async (error) => {
      const info = await module.getCompilationInfo();
      return compileError(spec, info.messages, error.message)!;
    }, true);
    const compiled = { spec, pipeline, layout, key };
    this.#kernels.set(key, compiled);
    this.stats.pipelinesCompiled++;
    return compiled;
  }

  /**
   * A 16-byte stand-in for a kernel input an entry point does not use: binding `binding` gets
   * its own, because browsers (Dawn) refuse one buffer in two writable bindings of a dispatch;
   * {@linkcode dispatch} swaps `unusedBuffer(0)` for the binding's own wherever it is bound.
   */
  unusedBuffer(binding = 0): GPUBuffer {
    while (this.#unused.length <= binding) {
      this.#unused.push(this.device.createBuffer({
        label: `unused input ${this.#unused.length}`,
        size: 16,
        usage: GPUBufferUsage.STORAGE,
      }));
    }
    return this.#unused[binding];
  }

  /**
   * Records one dispatch of `kernel` in the open compute pass.
   *
   * @param bindings storage bindings in binding order: a buffer (bound whole) or a
   *   {@linkcode BufferRange}.
   * @param params values of the fields of the kernel's WGSL uniform struct, by name; omit when
   *   the kernel has no uniform.
   * @param groups workgroup counts `[x, y, z]`.
   * @throws {TypeError} if the buffer count is wrong, a field is missing, or a value names no
   *   field (see {@linkcode packParams}).
   */
  dispatch(
    kernel: CompiledKernel,
    bindings: readonly StorageBinding[],
    params: ParamValues | undefined,
    groups: readonly [number, number?, number?],
  ): void {
    let buffers = bindings;
    this.#assertUsable();
    const { spec } = kernel;
    if (buffers.length !== spec.storage.length) {
      throw new TypeError(
        `${spec.entryPoint}: expected ${spec.storage.length} buffers, received ${buffers.length}`,
      );
    }
    let slot: UniformSlot | null = null;
    const uniform = uniformLayout(spec);
    if (uniform !== null) {
      slot = this.#uniforms.slot(uniform.byteSize);
      packParams(spec, params ?? {}, slot.view, slot.offset);
    } else if (params !== undefined) {
      packParams(spec, params, NO_UNIFORM, 0); // throws for any key: there is no field
    }
    for (let i = 0; i < buffers.length; i++) {
      if (spec.storage[i] === "write") this.#derived.wrote(bindingBuffer(buffers[i]));
    }
    const unused = this.#unused[0];
    if (unused !== undefined && buffers.includes(unused)) {
      buffers = buffers.map((b, i) => b === unused ? this.unusedBuffer(i) : b);
    }
    const bindGroup = this.#bindGroup(kernel, buffers, slot?.buffer ?? null);
    const pass = this.#computePass();
    pass.setPipeline(kernel.pipeline);
    if (slot === null) pass.setBindGroup(0, bindGroup);
    else pass.setBindGroup(0, bindGroup, [slot.offset]);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    this.stats.dispatches++;
  }

  /**
   * A pooled buffer of `bytes` bytes holding data derived from `source` (weights repacked for a
   * kernel, say), kept between calls: `build(target)` records the work that fills it, and runs
   * again only when a write to `source` has been recorded since its last build (a dispatch
   * binding it read-write, a copy into it, an upload). The buffer stays in use until `source`
   * goes back to the pool. Writes made around this class, through `device` directly, are not
   * seen unless declared with {@linkcode Gpu.wrote}.
   *
   * @param key what the buffer holds; it must determine `bytes` and everything `build` reads.
   */
  derived(
    source: GPUBuffer,
    key: string,
    bytes: number,
    build: (target: GPUBuffer) => void,
  ): GPUBuffer {
    this.#assertUsable();
    return this.#derived.get(source, key, bytes, build);
  }

  /**
   * Declares that `buffer` was written outside this class (through `device` directly), so
   * buffers derived from it are rebuilt on their next use. Writes through the library's ops,
   * {@linkcode Gpu.write} and {@linkcode Gpu.copy} are seen without it.
   */
  wrote(buffer: GPUBuffer): void {
    this.#derived.wrote(buffer);
  }

  /** Records a buffer-to-buffer copy (byte offsets and size must be multiples of 4). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.#assertUsable();
    this.#endPass();
    this.#commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.#derived.wrote(dst);
    this.stats.copies++;
  }

  /**
   * Writes CPU data into a buffer. Work recorded before this call is submitted first, so it
   * still sees the old contents (program order is kept).
   */
  write(buffer: GPUBuffer, byteOffset: number, data: ArrayBufferView): void {
    this.#assertUsable();
    this.flush();
    const shared = !(data.buffer instanceof ArrayBuffer);
    const bytes = shared
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer
      : data.buffer as ArrayBuffer;
    this.#derived.wrote(buffer);
    this.device.queue.writeBuffer(
      buffer,
      byteOffset,
      bytes,
      shared ? 0 : data.byteOffset,
      data.byteLength,
    );
    this.stats.uploads++;
  }

  /** Submits the recorded work, if any. Never waits for the GPU. */
  flush(): void {
    if (this.#encoder === null) return;
    this.#endPass();
    const encoder = this.#encoder;
    this.#encoder = null;
    this.#uniforms.upload(this.device.queue);
    this.device.queue.submit([encoder.finish()]);
    this.stats.submits++;
    this.#watch(this.device.popErrorScope(), (error) => Promise.resolve(new Error(error.message)));
  }

  /**
   * Copies `bytes` bytes at `byteOffset` of `buffer` to the CPU. Submits pending work, waits for
   * the GPU, and reports any error recorded so far (compile errors, validation errors, a lost
   * device) instead of returning stale data.
   */
  async readBuffer(buffer: GPUBuffer, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
    this.#assertUsable();
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.#stagingBuffer(size);
    this.#endPass();
    this.#commandEncoder().copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    this.flush();
    this.stats.readbacks++;
    let out: ArrayBuffer;
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, size);
      this.#assertUsable();
      out = staging.getMappedRange(0, size).slice(0, bytes);
      staging.unmap();
    } catch (cause) {
      await this.checkErrors(); // a lost device or a recorded error explains the failure better
      throw cause;
    }
    this.#staging.get(size)!.push(staging);
    await this.checkErrors();
    return out;
  }

  /**
   * Waits for pending error checks and throws the first error recorded since the last check,
   * if any (a lost device is reported every time).
   */
  async checkErrors(): Promise<void> {
    while (this.#checks.size > 0) await Promise.all([...this.#checks]);
    this.#assertUsable();
  }

  /** Destroys the device and every buffer it owns. Later calls throw. */
  destroy(): void {
    if (this.#lost !== null) return;
    this.#lost = "GPU device lost (destroyed): Gpu.destroy() was called";
    this.#encoder = null;
    this.#pass = null;
    this.#derived.clear();
    this.#bindGroups.clear();
    this.pool.onRelease = null;
    this.pool.trim();
    this.#uniforms.destroy();
    for (const list of this.#staging.values()) for (const b of list) b.destroy();
    this.#staging.clear();
    this.#kernels.clear();
    this.device.destroy();
  }

  #assertUsable(): void {
    if (this.#lost !== null) throw new Error(this.#lost);
    const error = this.#error;
    if (error !== null) {
      this.#error = null;
      this.#errorIsCompile = false;
      throw error;
    }
  }

  /** Keeps the first error; a compile error replaces a non-compile one (it is the cause). */
  #record(error: Error, isCompile = false): void {
    if (this.#error === null || (isCompile && !this.#errorIsCompile)) {
      this.#error = error;
      this.#errorIsCompile = isCompile;
    }
  }

  /**
   * The bind group of `kernel` over `buffers` (and the uniform chunk), from the cache: a
   * training loop binds the same pooled buffers every step, and creating a bind group costs
   * about 11 µs of JavaScript on the CPU the software adapter computes on.
   */
  #bindGroup(
    kernel: CompiledKernel,
    buffers: readonly StorageBinding[],
    uniform: GPUBuffer | null,
  ): GPUBindGroup {
    let key = kernel.key;
    for (const b of buffers) {
      key += isRange(b)
        ? `:${this.#bufferId(b.buffer)}@${b.offset}+${b.size}`
        : ":" + this.#bufferId(b);
    }
    if (uniform !== null) key += ":" + this.#bufferId(uniform);
    const cached = this.#bindGroups.get(key);
    if (cached !== undefined) {
      this.#bindGroups.delete(key); // re-inserted: the map's order is least recently used first
      this.#bindGroups.set(key, cached);
      return cached;
    }
    const entries: GPUBindGroupEntry[] = buffers.map((b, binding) => ({
      binding,
      resource: isRange(b) ? { buffer: b.buffer, offset: b.offset, size: b.size } : { buffer: b },
    }));
    if (uniform !== null) {
      entries.push({
        binding: buffers.length,
        resource: { buffer: uniform, offset: 0, size: paramsByteSize(kernel.spec) },
      });
    }
    const group = this.device.createBindGroup({ layout: kernel.layout, entries });
    this.stats.bindGroupsCreated++;
    if (this.#bindGroups.size >= MAX_BIND_GROUPS) {
      this.#bindGroups.delete(this.#bindGroups.keys().next().value!);
    }
    this.#bindGroups.set(key, group);
    return group;
  }

  #bufferId(buffer: GPUBuffer): number {
    let id = this.#bufferIds.get(buffer);
    if (id === undefined) {
      id = ++this.#lastBufferId;
      this.#bufferIds.set(buffer, id);
    }
    return id;
  }

  #watch(
    scope: Promise<GPUError | null>,
    explain: (e: GPUError) => Promise<Error>,
    isCompile = false,
  ): void {
    const check: Promise<void> = scope
      .then(async (error) => {
        if (error !== null) this.#record(await explain(error), isCompile);
      })
      .catch((error) => this.#record(error instanceof Error ? error : new Error(String(error))))
      .finally(() => this.#checks.delete(check));
    this.#checks.add(check);
  }

  #commandEncoder(): GPUCommandEncoder {
    if (this.#encoder === null) {
      this.device.pushErrorScope("validation");
      this.#encoder = this.device.createCommandEncoder();
    }
    return this.#encoder;
  }

  #computePass(): GPUComputePassEncoder {
    if (this.#pass === null) this.#pass = this.#commandEncoder().beginComputePass();
    return this.#pass;
  }

  #endPass(): void {
    if (this.#pass !== null) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  #stagingBuffer(size: number): GPUBuffer {
    let list = this.#staging.get(size);
    if (list === undefined) {
      list = [];
      this.#staging.set(size, list);
    }
    return list.pop() ?? this.device.createBuffer({
      label: "readback",
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }
}

let current: Gpu | null = null;
let pending: Promise<Gpu> | null = null;

/**
 * Acquires the process-wide device once and makes it the default for tensors and modules.
 * Later calls return the same device (a new one if the old one was lost or destroyed).
 *
 * @throws {Error} when no adapter exists, saying how to get one.
 * @example
 * ```ts ignore
 * import { initGpu } from "@torchzero/torchzero";
 * const gpu = await initGpu();
 * console.log(gpu.adapterName);
 * ```
 */
export function initGpu(options: GpuOptions = {}): Promise<Gpu> {
  if (current !== null && !current.isLost) return Promise.resolve(current);
  pending ??= Gpu.create(options).then((gpu) => {
    current = gpu;
    return gpu;
  }).finally(() => {
    pending = null;
  });
  return pending;
}

/**
 * The device acquired by {@linkcode initGpu}.
 *
 * @throws {Error} if `initGpu()` has not completed yet.
 */
export function currentGpu(): Gpu {
  if (current === null || current.isLost) {
    throw new Error("No GPU device: call `await initGpu()` before creating tensors or modules");
  }
  return current;
}

/** Destroys the process-wide device, if any. */
export function destroyGpu(): void {
  current?.destroy();
  current = null;
}
