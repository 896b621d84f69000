/**
 * `Tensor`: an f32 GPU buffer (or a view into one) with a shape and an optional leading
 * population axis. The work lives in `src/ops/`; this file only owns memory and readback.
 *
 * Memory: tensors created by ops take buffers from the device's pool and give them back on
 * {@linkcode Tensor.dispose}. {@linkcode tidy} disposes everything created inside a function
 * except what it returns, which is how optimizers run closures without leaking.
 *
 * @module
 */

import { currentGpu, type Gpu } from "./gpu/device.ts";
import { recordHostValues } from "./ops/_targets.ts";

/** Shape of a tensor: non-negative integer sizes, outermost first. */
export type Shape = readonly number[];

/** Options shared by the tensor constructors. */
export interface TensorOptions {
  /** Dim 0 is the population axis (one slice per parameter row). Default false. */
  population?: boolean;
  /** Device; defaults to the one from `initGpu()`. */
  gpu?: Gpu;
}

interface Storage {
  readonly buffer: GPUBuffer;
  refs: number;
  /** Taken from the pool and returned to it when the last tensor using it is disposed. */
  readonly pooled: boolean;
}

/** Validates a shape. @throws {RangeError} for negative or non-integer sizes. */
export function checkShape(shape: Shape, what = "shape"): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${what} must hold non-negative integers, received [${shape}]`);
    }
  }
}

/** Number of elements of a shape. */
export function numelOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2, 3]` → `"[2, 3]"`, the way error messages print shapes. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

const scopes: Set<Tensor>[] = [];

/**
 * Safety net: a pooled buffer whose tensors were all garbage-collected without `dispose()`
 * goes back to the pool. Disposing explicitly (or through `tidy`) is still the way to keep
 * memory flat; collection happens whenever the JavaScript engine decides.
 */
const finalizer = new FinalizationRegistry<{ storage: Storage; gpu: Gpu }>(({ storage, gpu }) => {
  storage.refs--;
  if (storage.refs === 0 && storage.pooled && !gpu.isLost) gpu.pool.release(storage.buffer);
});

/** An f32 tensor on the GPU. */
export class Tensor {
  /** Device holding the data. */
  readonly gpu: Gpu;
  /** Full shape, population axis included when {@linkcode population} is true. */
  readonly shape: Shape;
  /** True when dim 0 indexes parameter rows (the population axis). */
  readonly population: boolean;
  /** Offset of element 0, in elements, inside {@linkcode buffer}. */
  readonly offset: number;
  /** Elements between the starts of consecutive population rows. */
  readonly rowStride: number;
  #storage: Storage | null;
  #kept = false;

  /**
   * Wraps a GPU buffer. Most code uses {@linkcode tensor}, {@linkcode Tensor.empty} or an op.
   * @internal
   */
  constructor(
    gpu: Gpu,
    storage: Storage,
    shape: Shape,
    population: boolean,
    offset = 0,
    rowStride?: number,
  ) {
    checkShape(shape);
    if (population && shape.length === 0) {
      throw new TypeError("A population tensor needs at least one dimension");
    }
    this.gpu = gpu;
    this.shape = Object.freeze([...shape]);
    this.population = population;
    this.offset = offset;
    this.rowStride = rowStride ?? this.rowNumel;
    this.#storage = storage;
    storage.refs++;
    if (storage.pooled) finalizer.register(this, { storage, gpu }, this);
    scopes.at(-1)?.add(this);
  }

  /**
   * An uninitialised tensor with a buffer from the pool.
   *
   * @throws {RangeError} if it needs more bytes than the device's `maxBufferSize` (a tensor
   *   larger than one storage binding is fine: the ops split their dispatches).
   */
  static empty(shape: Shape, options: TensorOptions = {}): Tensor {
    checkShape(shape);
    if (options.population && shape.length === 0) {
      throw new TypeError("A population tensor needs at least one dimension");
    }
    const gpu = options.gpu ?? currentGpu();
    const bytes = numelOf(shape) * 4;
    const max = gpu.limits.maxBufferSize;
    if (bytes > max) {
      throw new RangeError(
        `A tensor of shape ${formatShape(shape)} needs ${bytes} bytes, more than the device's ` +
          `maxBufferSize of ${max} bytes; use a smaller population or batch`,
      );
    }
    const buffer = gpu.pool.acquire(bytes);
    return new Tensor(gpu, { buffer, refs: 0, pooled: true }, shape, options.population ?? false);
  }

  /**
   * A view of a buffer the tensor does not own (e.g. rows of a parameter buffer); disposing
   * the view never frees the buffer. Write to a buffer you own through the library (ops,
   * `Gpu.write`, `Gpu.copy`), or call `Gpu.wrote(buffer)` after writing it through the raw
   * device: data derived from it (a convolution's repacked weights) is kept until then.
   */
  static view(
    gpu: Gpu,
    buffer: GPUBuffer,
    shape: Shape,
    options: { population?: boolean; offset?: number; rowStride?: number } = {},
  ): Tensor {
    return new Tensor(
      gpu,
      { buffer, refs: 0, pooled: false },
      shape,
      options.population ?? false,
      options.offset ?? 0,
      options.rowStride,
    );
  }

  /** The GPU buffer. @throws {Error} if the tensor was disposed. */
  get buffer(): GPUBuffer {
    if (this.#storage === null) {
      throw new Error(`Tensor ${formatShape(this.shape)} has been disposed`);
    }
    return this.#storage.buffer;
  }

  /** True after {@linkcode dispose}. */
  get isDisposed(): boolean {
    return this.#storage === null;
  }

  /** Number of population rows (1 without a population axis). */
  get rows(): number {
    return this.population ? this.shape[0] : 1;
  }

  /** Shape of one population row (the whole shape without a population axis). */
  get rowShape(): Shape {
    return this.population ? this.shape.slice(1) : this.shape;
  }

  /** Elements in one population row. */
  get rowNumel(): number {
    return numelOf(this.rowShape);
  }

  /** Total number of elements. */
  get numel(): number {
    return numelOf(this.shape);
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** True when rows are packed back to back from {@linkcode offset}. */
  get isContiguous(): boolean {
    return this.rows <= 1 || this.rowStride === this.rowNumel;
  }

  /**
   * A tensor with the same data and another shape (no copy). The view keeps the storage alive
   * until both are disposed.
   *
   * @throws {TypeError} if the element counts differ or the tensor is a strided view.
   */
  reshape(shape: Shape, options: { population?: boolean } = {}): Tensor {
    checkShape(shape);
    const population = options.population ?? this.population;
    if (numelOf(shape) !== this.numel) {
      throw new TypeError(
        `Cannot reshape ${formatShape(this.shape)} to ${formatShape(shape)}: ` +
          `${this.numel} vs ${numelOf(shape)} elements`,
      );
    }
    if (!this.isContiguous) {
      throw new TypeError(`Cannot reshape the strided view ${formatShape(this.shape)}`);
    }
    this.buffer; // throws when disposed
    return new Tensor(this.gpu, this.#storage!, shape, population, this.offset);
  }

  /**
   * Copies the data to the CPU (one GPU→CPU synchronisation), rows packed back to back.
   *
   * @throws {Error} if the tensor was disposed or the device reported an error.
   */
  async read(): Promise<Float32Array> {
    const rows = this.rows;
    const rowNumel = this.rowNumel;
    const span = rows <= 1 ? this.numel : (rows - 1) * this.rowStride + rowNumel;
    const bytes = await this.gpu.readBuffer(this.buffer, this.offset * 4, span * 4);
    const all = new Float32Array(bytes);
    if (this.isContiguous) return all;
    const out = new Float32Array(this.numel);
    for (let r = 0; r < rows; r++) {
      out.set(all.subarray(r * this.rowStride, r * this.rowStride + rowNumel), r * rowNumel);
    }
    return out;
  }

  /**
   * The single value of a one-element tensor (a scalar loss, or a `[1]` population loss).
   *
   * @throws {TypeError} if the tensor has more than one element.
   */
  async item(): Promise<number> {
    if (this.numel !== 1) {
      throw new TypeError(`item() needs a one-element tensor, received ${formatShape(this.shape)}`);
    }
    return (await this.read())[0];
  }

  /** Releases the buffer (back to the pool when no other view uses it). Idempotent. */
  dispose(): void {
    const storage = this.#storage;
    if (storage === null) return;
    this.#storage = null;
    finalizer.unregister(this);
    for (const scope of scopes) scope.delete(this);
    storage.refs--;
    if (storage.refs === 0 && storage.pooled) this.gpu.pool.release(storage.buffer);
  }

  /** Excludes this tensor from disposal by the enclosing {@linkcode tidy} scopes. */
  keep(): this {
    this.#kept = true;
    for (const scope of scopes) scope.delete(this);
    return this;
  }

  /** @internal */
  get kept(): boolean {
    return this.#kept;
  }

  /** `Tensor([P=2] 32, 10)` style description. */
  toString(): string {
    const dims = this.population ? [`P=${this.shape[0]}`, ...this.rowShape] : this.shape;
    return `Tensor(${dims.join(", ")}${this.isDisposed ? ", disposed" : ""})`;
  }
}

/**
 * Uploads CPU data as a new tensor.
 *
 * @param data values, row-major; converted to f32.
 * @param shape defaults to `[data.length]`.
 * @throws {TypeError} if `data.length` differs from the shape's element count.
 * @example
 * ```ts ignore
 * const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
 * console.log(await x.read()); // Float32Array [1, 2, 3, 4, 5, 6]
 * ```
 */
export function tensor(
  data: ArrayLike<number>,
  shape: Shape = [data.length],
  options: TensorOptions = {},
): Tensor {
  checkShape(shape);
  if (numelOf(shape) !== data.length) {
    throw new TypeError(
      `tensor: ${data.length} values do not fill shape ${formatShape(shape)}`,
    );
  }
  const t = Tensor.empty(shape, options);
  const values = data instanceof Float32Array && data.buffer instanceof ArrayBuffer
    ? data as Float32Array<ArrayBuffer>
    : Float32Array.from(data);
  if (values.length > 0) t.gpu.write(t.buffer, 0, values);
  if (shape.length === 1) recordHostValues(t, values); // crossEntropy checks class targets
  return t;
}

function collect(value: unknown, out: Set<Tensor>): void {
  if (value instanceof Tensor) out.add(value);
  else if (Array.isArray(value)) { for (const v of value) collect(v, out); }
  else if (value !== null && typeof value === "object" && !(ArrayBuffer.isView(value))) {
    for (const v of Object.values(value)) collect(v, out);
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it, except the tensors it returns
 * (directly, or inside arrays and plain objects) and tensors marked with `keep()`.
 * Returned tensors belong to the enclosing scope, if any.
 *
 * @throws {TypeError} if `fn` returns a promise: a scope must not span an `await`.
 * @example
 * ```ts ignore
 * const loss = tidy(() => crossEntropy(model.forward(x), y)); // activations freed
 * ```
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TypeError("tidy: the function must be synchronous, it returned a promise");
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  for (const t of scope) if (!survivors.has(t) && !t.kept) t.dispose();
  const parent = scopes.at(-1);
  if (parent !== undefined) { for (const t of survivors) if (!t.kept) parent.add(t); }
  return result;
}
