/**
 * `FirstOrderOptimizer`: the base of the optimizers that step on gradients already present
 * (SGD, Adam, AdamW, Lion) — torch.optim's `step(closure?)`.
 *
 * Gradients and per-parameter state (momentum, moments) live in flat GPU buffers of one row's
 * length; an update is one fused dispatch per run of adjacent parameters that share options
 * (usually one run for the whole model).
 *
 * In the population protocol a first-order optimizer asks for no rows and steps when it
 * accepts: a chain or a derivative-free optimizer that set its gradients steps it like any
 * other member.
 *
 * @module
 */

import type { KernelSpec, ParamValues } from "../../gpu/kernel.ts";
import { ceilDiv, fold } from "../../ops/_util.ts";
import type { Parameter } from "../../params/flat.ts";
import { type Tensor, tidy } from "../../tensor.ts";
import { type Closure, Optimizer, type Segment } from "../optimizer.ts";
import { type MemberRows, NO_ROWS, type RowNeeds } from "../population/protocol.ts";

const UPDATE_WG = 64;

/**
 * Base class of the gradient-based optimizers: subclasses validate their options, name their
 * state buffers and encode the update; this class runs the closure, owns the buffers and
 * checkpoints them per parameter.
 */
export abstract class FirstOrderOptimizer<O extends object> extends Optimizer<O> {
  readonly #buffers = new Map<string, GPUBuffer>();

  /** Encodes the update of every parameter that has a gradient. */
  protected abstract update(): void;

  /** Names of the per-parameter state buffers saved in `stateDict`. */
  protected abstract stateBuffers(): string[];

  /**
   * Runs `closure` (if given, inside {@linkcode tidy}), then updates the parameters from the
   * gradients present.
   *
   * @returns the closure's loss as a GPU tensor (no readback), or undefined without closure.
   */
  step(closure?: Closure): Tensor | undefined {
    const loss = closure === undefined ? undefined : tidy(closure);
    this.update();
    return loss;
  }

  /** False: a first-order step uses the gradients already present. */
  get requiresClosure(): boolean {
    return false;
  }

  /** None: a first-order optimizer works on its home row only. */
  rowNeeds(): RowNeeds {
    return NO_ROWS;
  }

  /** Nothing to evaluate. */
  propose(_rows: MemberRows): readonly number[] {
    return [];
  }

  /** Steps on the gradients present (a member before it in a chain may have set them). */
  accept(): void {
    this.update();
  }

  /** Whether any state exists (counters or buffers). */
  protected override hasState(): boolean {
    return super.hasState() || this.#buffers.size > 0;
  }

  /**
   * Dispatches a fused update kernel over one segment. Bindings: gradient row, parameter row,
   * then `state` buffers; `values` adds to the offsets `pOff`, `gOff`, `sOff` and `count`.
   */
  protected dispatchSegment(
    spec: KernelSpec,
    segment: Segment<O>,
    state: GPUBuffer[],
    values: ParamValues,
  ): void {
    const rowStart = this.row * this.flat.stride + segment.start;
    const count = segment.end - segment.start;
    this.gpu.dispatch(
      this.gpu.kernel(spec, { WG: UPDATE_WG }),
      [this.flat.gradBuffer, this.flat.buffer, ...state],
      { pOff: rowStart, gOff: rowStart, sOff: segment.start, count, ...values },
      fold(ceilDiv(count, UPDATE_WG)),
    );
  }

  /** A named state buffer of one row's length (zero-filled on first use). */
  protected buffer(name: string): GPUBuffer {
    let buffer = this.#buffers.get(name);
    if (buffer === undefined) {
      buffer = this.gpu.pool.acquire(this.flat.stride * 4, `${this.name} ${name}`);
      this.gpu.write(buffer, 0, new Float32Array(this.flat.stride));
      this.#buffers.set(name, buffer);
    }
    return buffer;
  }

  /** The state buffers named by {@linkcode stateBuffers} that exist, one readback each. */
  protected override async stateRows(): Promise<Map<string, Float32Array>> {
    const rows = new Map<string, Float32Array>();
    for (const name of this.stateBuffers()) {
      const buffer = this.#buffers.get(name);
      if (buffer === undefined) continue;
      rows.set(
        name,
        new Float32Array(await this.gpu.readBuffer(buffer, 0, this.flat.stride * 4)),
      );
    }
    return rows;
  }

  /** Writes one parameter's part of a state buffer. */
  protected override loadStateRow(field: string, param: Parameter, values: Float32Array): void {
    this.gpu.write(this.buffer(field), param.offset * 4, values);
  }

  /** Returns the state buffers to the pool. */
  override dispose(): void {
    super.dispose();
    for (const buffer of this.#buffers.values()) this.gpu.pool.release(buffer);
    this.#buffers.clear();
  }
}
