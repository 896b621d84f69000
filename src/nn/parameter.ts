/**
 * `Parameter`: a named slot (offset, shape) in a model's flat parameter buffer.
 *
 * Before the model is put on the GPU a parameter holds its initial values on the CPU; once a
 * {@linkcode FlatParameters} buffer adopts it, its values live in every row of that buffer and
 * {@linkcode Parameter.view} returns them for the rows being evaluated.
 *
 * @module
 */

import { formatShape, numelOf, type Shape, Tensor } from "../tensor.ts";
import type { FlatParameters } from "./flat.ts";

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
