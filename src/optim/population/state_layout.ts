/**
 * `StateLayout`: the one description of a small f32 record on the GPU (an optimizer's decision
 * coefficients, lowest loss, chosen candidate, a swarm's ranking and ages).
 *
 * Fields are named runs of floats laid out in declaration order. TypeScript reads offsets from
 * the layout, and kernels receive them as uniforms, so no offset is written twice.
 *
 * @module
 */

/** Named runs of f32 in one GPU buffer: offsets in declaration order. */
export class StateLayout<F extends string> {
  /** Floats in the whole record (at least 4: a buffer binding needs 16 bytes). */
  readonly floats: number;
  readonly #fields: Readonly<Record<F, { offset: number; length: number }>>;

  /**
   * Lays the fields out one after another.
   *
   * @param fields each field's length in floats, in layout order.
   * @throws {RangeError} for a length that is not an integer >= 0.
   */
  constructor(fields: Readonly<Record<F, number>>) {
    const out = {} as Record<F, { offset: number; length: number }>;
    let offset = 0;
    for (const [name, length] of Object.entries(fields) as [F, number][]) {
      if (!Number.isInteger(length) || length < 0) {
        throw new RangeError(
          `StateLayout: ${name} must have an integer length >= 0, received ${length}`,
        );
      }
      out[name] = { offset, length };
      offset += length;
    }
    this.#fields = out;
    this.floats = Math.max(4, offset);
  }

  /**
   * Offset of element `index` of `field`.
   * @throws {RangeError} if `index` is outside the field.
   */
  at(field: F, index = 0): number {
    const f = this.#fields[field];
    if (!(index >= 0 && index < Math.max(1, f.length))) {
      throw new RangeError(`StateLayout: ${field}[${index}] is outside its ${f.length} floats`);
    }
    return f.offset + index;
  }

  /** Number of floats of `field`. */
  length(field: F): number {
    return this.#fields[field].length;
  }

  /** The values of `field` in a copy of the whole record. */
  read(record: Float32Array, field: F): Float32Array {
    const f = this.#fields[field];
    return record.subarray(f.offset, f.offset + f.length);
  }
}
