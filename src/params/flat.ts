/**
 * The flat parameter buffer of a model and the parameters that are views into it.
 *
 * `FlatParameters` holds every parameter of a model in one GPU buffer of shape
 * `[rows, stride]`. Row 0 is the model the user sees, saves and tests. Optimizers add rows for
 * candidates and swarm members, copy rows, and choose which rows a forward pass evaluates
 * ({@linkcode FlatParameters.setActive}); every layer kernel then runs all active rows in one
 * dispatch. Parameters start at multiples of 4 elements (vec4-aligned) and rows at multiples
 * of 64 elements (256 bytes, bindable as a buffer range); the gaps hold zeros.
 *
 * A `Parameter` is a named slot (offset, shape) in that buffer. Before the model is put on the
 * GPU it holds its initial values on the CPU; once a buffer adopts it, its values live in every
 * row and {@linkcode Parameter.view} returns them for the rows being evaluated. The two classes
 * refer to each other, so they share this module; it sits below both `nn` (layers own
 * parameters) and `optim` (optimizers update the buffer).
 *
 * @module
 */

import { currentGpu, type Gpu } from "../gpu/device.ts";
import { broadcastRow, copyRows } from "../ops/elementwise.ts";
import { formatShape, numelOf, type Shape, Tensor } from "../tensor.ts";

/** A learnable tensor of a module, stored in its model's flat parameter buffer. */
export class Parameter {
  /** Shape of one copy of the parameter. */
  readonly shape: Shape;
  /** Element count. */
  readonly numel: number;
  /**
   * Whether optimizers update it. A parameter with `requiresGrad = false` keeps its value,
   * as in torch (derivative-free optimizers skip it too).
   */
  requiresGrad: boolean;
  #init: Float32Array | null;
  #flat: FlatParameters | null = null;
  #offset = 0;

  /**
   * Creates a parameter holding its initial values on the CPU until a model buffer adopts it.
   *
   * @param data initial values (copied).
   * @param shape defaults to `[data.length]`.
   * @param requiresGrad whether optimizers update it. Default true.
   * @throws {TypeError} if the data does not fill the shape.
   */
  constructor(data: ArrayLike<number>, shape: Shape = [data.length], requiresGrad = true) {
    if (numelOf(shape) !== data.length) {
      throw new TypeError(
        `Parameter: ${data.length} values do not fill shape ${formatShape(shape)}`,
      );
    }
    this.shape = Object.freeze([...shape]);
    this.numel = data.length;
    this.requiresGrad = requiresGrad;
    this.#init = Float32Array.from(data);
  }

  /** The flat buffer holding this parameter, or null before the model is put on the GPU. */
  get flat(): FlatParameters | null {
    return this.#flat;
  }

  /** Offset, in elements, of this parameter inside a row of its flat buffer. */
  get offset(): number {
    return this.#offset;
  }

  /** CPU values before adoption (null afterwards). @internal */
  get initialValues(): Float32Array | null {
    return this.#init;
  }

  /** Moves the parameter into a flat buffer. @internal Called by {@linkcode FlatParameters}. */
  adopt(flat: FlatParameters, offset: number): void {
    this.#flat = flat;
    this.#offset = offset;
    this.#init = null;
  }

  #attached(): FlatParameters {
    if (this.#flat === null) {
      throw new Error(
        `Parameter ${formatShape(this.shape)} is not on the GPU yet: call model.parameters() ` +
          "(or pass them to an optimizer) on the root module before running it",
      );
    }
    return this.#flat;
  }

  /**
   * The parameter for the rows being evaluated: `[P, ...shape]` (a population view with the
   * buffer's row stride) when more than one row is active, else `shape` for the one active row.
   * The view does not own memory; disposing it is a no-op for the buffer.
   */
  view(): Tensor {
    const flat = this.#attached();
    const { start, count } = flat.active;
    const offset = start * flat.stride + this.#offset;
    if (count === 1) return Tensor.view(flat.gpu, flat.buffer, this.shape, { offset });
    return Tensor.view(flat.gpu, flat.buffer, [count, ...this.shape], {
      population: true,
      offset,
      rowStride: flat.stride,
    });
  }

  /** Reads this parameter's values in one row (default row 0, the model). */
  async read(row = 0): Promise<Float32Array> {
    const flat = this.#attached();
    flat.checkRow(row);
    const bytes = await flat.gpu.readBuffer(
      flat.buffer,
      (row * flat.stride + this.#offset) * 4,
      this.numel * 4,
    );
    return new Float32Array(bytes);
  }

  /**
   * Writes this parameter's values in one row (default row 0). Before the model is on the GPU
   * this replaces the initial values.
   *
   * @throws {TypeError} if `data.length` differs from {@linkcode numel}.
   */
  load(data: ArrayLike<number>, row = 0): void {
    if (data.length !== this.numel) {
      throw new TypeError(
        `Parameter.load: ${data.length} values for shape ${formatShape(this.shape)}`,
      );
    }
    if (this.#flat === null) {
      this.#init = Float32Array.from(data);
      return;
    }
    this.#flat.checkRow(row);
    const values = Float32Array.from(data);
    this.#flat.gpu.write(this.#flat.buffer, (row * this.#flat.stride + this.#offset) * 4, values);
  }
}

const PARAM_ALIGN = 4;
const ROW_ALIGN = 64;

/** Which rows a forward pass evaluates. */
export interface ActiveRows {
  /** First evaluated row. */
  readonly start: number;
  /** Number of evaluated rows, `start .. start + count - 1`. */
  readonly count: number;
}

/** The flat parameter buffer of one model. */
export class FlatParameters {
  /** Device holding the buffer. */
  readonly gpu: Gpu;
  /** The parameters, in model order, each once. */
  readonly params: readonly Parameter[];
  /** Total element count of the parameters (without alignment gaps). */
  readonly size: number;
  /** Elements per row, gaps included (a multiple of 64). */
  readonly stride: number;
  #rows = 1;
  #buffer: GPUBuffer;
  #active: ActiveRows = { start: 0, count: 1 };
  #grad: GPUBuffer | null = null;
  /** `#hasGrad[row * params.length + i]`: parameter i of that row has a gradient (torch's `p.grad is not None`). */
  #hasGrad: Uint8Array;
  readonly #index = new Map<Parameter, number>();

  /**
   * Adopts `params` into a new one-row buffer: initial CPU values are uploaded, and values of
   * parameters already in another buffer are copied from its row 0.
   */
  constructor(params: readonly Parameter[], gpu: Gpu = currentGpu()) {
    this.gpu = gpu;
    this.params = [...new Set(params)];
    let end = 0;
    const offsets: number[] = [];
    let size = 0;
    for (const p of this.params) {
      offsets.push(end);
      end = Math.ceil((end + p.numel) / PARAM_ALIGN) * PARAM_ALIGN;
      size += p.numel;
    }
    this.size = size;
    this.stride = Math.max(ROW_ALIGN, Math.ceil(end / ROW_ALIGN) * ROW_ALIGN);
    this.#buffer = gpu.pool.acquire(this.stride * 4, "parameters");
    const row = new Float32Array(this.stride);
    const moved: [Parameter, number][] = [];
    this.params.forEach((p, i) => {
      const init = p.initialValues;
      if (init !== null) row.set(init, offsets[i]);
      else moved.push([p, offsets[i]]);
    });
    gpu.write(this.#buffer, 0, row);
    const previous = new Set<FlatParameters>();
    for (const [p, offset] of moved) {
      const old = p.flat!;
      previous.add(old);
      gpu.copy(old.buffer, p.offset * 4, this.#buffer, offset * 4, p.numel * 4);
    }
    this.params.forEach((p, i) => {
      p.adopt(this, offsets[i]);
      this.#index.set(p, i);
    });
    this.#hasGrad = new Uint8Array(this.params.length);
    // A buffer whose parameters all moved here (a submodule flattened before its parent) is freed.
    for (const old of previous) if (old.params.every((p) => p.flat !== old)) old.dispose();
  }

  /** The GPU buffer `[rows, stride]`. Replaced by {@linkcode setRows}. */
  get buffer(): GPUBuffer {
    return this.#buffer;
  }

  /** Number of rows. */
  get rows(): number {
    return this.#rows;
  }

  /** Rows a forward pass evaluates (default: row 0 alone). */
  get active(): ActiveRows {
    return this.#active;
  }

  /**
   * Checks that `row` is an existing row index.
   *
   * @param row the row index to check.
   * @param what how the error message names the value. Default `"row"`.
   * @throws {RangeError} unless `row` is an integer in `[0, rows)`.
   */
  checkRow(row: number, what = "row"): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.#rows) {
      throw new RangeError(`${what} must be an integer in [0, ${this.#rows}), received ${row}`);
    }
  }

  /**
   * Resizes to `rows` rows. Existing rows keep their values; new rows are copies of row 0.
   * Tensor views taken before are invalidated. The active window is reset to row 0.
   *
   * @throws {RangeError} if `rows < 1`.
   */
  setRows(rows: number): void {
    if (!Number.isInteger(rows) || rows < 1) {
      throw new RangeError(`rows must be an integer >= 1, received ${rows}`);
    }
    if (rows === this.#rows) return;
    const kept = Math.min(rows, this.#rows);
    this.#buffer = this.#resized(this.#buffer, rows, kept);
    if (this.#grad !== null) this.#grad = this.#resized(this.#grad, rows, kept, true);
    const flags = new Uint8Array(rows * this.params.length);
    flags.set(this.#hasGrad.subarray(0, kept * this.params.length));
    this.#hasGrad = flags;
    this.#rows = rows;
    this.#active = { start: 0, count: 1 };
    for (let r = kept; r < rows; r++) this.copyRow(0, r);
  }

  #resized(old: GPUBuffer, rows: number, kept: number, zero = false): GPUBuffer {
    const buffer = this.gpu.pool.acquire(rows * this.stride * 4, "parameters");
    if (zero) this.gpu.write(buffer, 0, new Float32Array(rows * this.stride));
    this.gpu.copy(old, 0, buffer, 0, kept * this.stride * 4);
    this.gpu.pool.release(old);
    return buffer;
  }

  /**
   * Chooses the rows that forward passes evaluate: `count` rows from `start`.
   *
   * @throws {RangeError} if the window is empty or leaves the buffer.
   */
  setActive(count: number, start = 0): void {
    if (
      !Number.isInteger(count) || count < 1 || !Number.isInteger(start) || start < 0 ||
      start + count > this.#rows
    ) {
      throw new RangeError(
        `active rows must fit in [0, ${this.#rows}), received start ${start}, count ${count}`,
      );
    }
    this.#active = { start, count };
  }

  /** Copies `count` consecutive rows from `src` to `dst` (ranges must not overlap). */
  copyRow(src: number, dst: number, count = 1): void {
    this.checkRow(src, "source row");
    this.checkRow(dst, "destination row");
    const view = this.tensor();
    copyRows(view, src, dst, count);
    view.dispose();
  }

  /** Copies row `src` (default 0) to every other row. */
  broadcastRow(src = 0): void {
    this.checkRow(src, "source row");
    const view = this.tensor();
    broadcastRow(view, src);
    view.dispose();
  }

  /** The values of one row as one vector of {@linkcode size} elements, in parameter order. */
  async readRow(row = 0): Promise<Float32Array> {
    this.checkRow(row);
    return (await this.readRows(row, 1))[0];
  }

  /**
   * The values of `count` consecutive rows from `first` (one readback), each as one vector of
   * {@linkcode size} elements in parameter order.
   *
   * @param source a buffer laid out like the parameters (a gradient or an optimizer's
   *   per-parameter state); default the parameters.
   * @throws {RangeError} if the rows leave the buffer.
   */
  async readRows(first: number, count: number, source?: GPUBuffer): Promise<Float32Array[]> {
    const rows = source === undefined ? this.#rows : Math.floor(source.size / (this.stride * 4));
    if (
      !Number.isInteger(first) || !Number.isInteger(count) || first < 0 || count < 0 ||
      first + count > rows
    ) {
      throw new RangeError(
        `rows must fit in [0, ${rows}), received first ${first}, count ${count}`,
      );
    }
    if (count === 0) return [];
    const bytes = await this.gpu.readBuffer(
      source ?? this.#buffer,
      first * this.stride * 4,
      count * this.stride * 4,
    );
    const all = new Float32Array(bytes);
    return Array.from({ length: count }, (_, r) => {
      const padded = all.subarray(r * this.stride, (r + 1) * this.stride);
      const out = new Float32Array(this.size);
      let at = 0;
      for (const p of this.params) {
        out.set(padded.subarray(p.offset, p.offset + p.numel), at);
        at += p.numel;
      }
      return out;
    });
  }

  /**
   * Writes one row from a vector of {@linkcode size} elements in parameter order
   * (the inverse of {@linkcode readRow}).
   *
   * @throws {TypeError} if `values.length !== size`.
   */
  loadRow(row: number, values: ArrayLike<number>): void {
    this.checkRow(row);
    if (values.length !== this.size) {
      throw new TypeError(`loadRow: expected ${this.size} values, received ${values.length}`);
    }
    const padded = new Float32Array(this.stride);
    let at = 0;
    for (const p of this.params) {
      for (let i = 0; i < p.numel; i++) padded[p.offset + i] = values[at + i];
      at += p.numel;
    }
    this.gpu.write(this.#buffer, row * this.stride * 4, padded);
  }

  /** All rows as a population view `[rows, stride]` (for fused optimizer kernels). */
  tensor(): Tensor {
    return Tensor.view(this.gpu, this.#buffer, [this.#rows, this.stride], { population: true });
  }

  /** Position of a parameter in {@linkcode params}. @throws {TypeError} for a foreign parameter. */
  indexOf(param: Parameter): number {
    const i = this.#index.get(param);
    if (i === undefined) throw new TypeError("This parameter belongs to another model");
    return i;
  }

  /**
   * The gradient buffer `[rows, stride]`, beside the parameters (allocated zero-filled on
   * first use). Which parts hold a gradient is tracked by {@linkcode hasGrad}.
   */
  get gradBuffer(): GPUBuffer {
    if (this.#grad === null) {
      this.#grad = this.gpu.pool.acquire(this.#rows * this.stride * 4, "gradients");
      this.gpu.write(this.#grad, 0, new Float32Array(this.#rows * this.stride));
    }
    return this.#grad;
  }

  /** All gradient rows as a population view `[rows, stride]`. */
  gradTensor(): Tensor {
    return Tensor.view(this.gpu, this.gradBuffer, [this.#rows, this.stride], { population: true });
  }

  /** Whether `param` has a gradient in `row` (torch's `p.grad is not None`). */
  hasGrad(param: Parameter, row = 0): boolean {
    return this.#hasGrad[row * this.params.length + this.indexOf(param)] === 1;
  }

  /**
   * Marks whether `param` has a gradient in `row`. Clearing is torch's `zero_grad()` with
   * `set_to_none=True`: no GPU work; the next producer writes instead of adding.
   */
  setHasGrad(param: Parameter, row: number, value: boolean): void {
    this.checkRow(row);
    this.#hasGrad[row * this.params.length + this.indexOf(param)] = value ? 1 : 0;
  }

  /** Uploads a gradient for `param` in `row` (e.g. one computed elsewhere) and marks it present. */
  setGrad(param: Parameter, values: ArrayLike<number>, row = 0): void {
    this.checkRow(row);
    if (values.length !== param.numel) {
      throw new TypeError(`setGrad: expected ${param.numel} values, received ${values.length}`);
    }
    const offset = (row * this.stride + param.offset) * 4;
    this.gpu.write(this.gradBuffer, offset, Float32Array.from(values));
    this.setHasGrad(param, row, true);
  }

  /** The gradient of `param` in `row`, or null when it has none. */
  async readGrad(param: Parameter, row = 0): Promise<Float32Array | null> {
    this.checkRow(row);
    if (!this.hasGrad(param, row)) return null;
    const offset = (row * this.stride + param.offset) * 4;
    return new Float32Array(await this.gpu.readBuffer(this.gradBuffer, offset, param.numel * 4));
  }

  /** Returns the buffers to the pool; the parameters become unusable. */
  dispose(): void {
    this.gpu.pool.release(this.#buffer);
    if (this.#grad !== null) this.gpu.pool.release(this.#grad);
    this.#grad = null;
  }
}
