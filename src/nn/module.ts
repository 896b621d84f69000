/**
 * `Module`: the base class of layers and models, with torch's parameter discovery.
 *
 * Children and parameters are found the way `torch.nn.Module` registers them: every own
 * property holding a `Module` or a `Parameter`, in assignment order (arrays of modules are
 * named `name.0`, `name.1`, ...). The first call of {@linkcode Module.parameters} on a model
 * puts all its parameters in one {@linkcode FlatParameters} buffer on the GPU.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { FlatParameters, Parameter } from "../params/flat.ts";

/** Base class of every layer and model. */
export abstract class Module {
  /**
   * Computes the output for `x`. Inputs without a population axis are shared by every
   * active parameter row; the output has a population axis when more than one row is active.
   */
  abstract forward(x: Tensor): Tensor;

  /** Direct children with their names, in registration order. */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [name, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([name, value]);
      else if (Array.isArray(value)) {
        value.forEach((v, i) => {
          if (v instanceof Module) out.push([`${name}.${i}`, v]);
        });
      }
    }
    return out;
  }

  /** Parameters of this module and its descendants, torch-style dotted names, each once. */
  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    const walk = (module: Module, prefix: string) => {
      for (const [name, value] of Object.entries(module)) {
        if (value instanceof Parameter && !seen.has(value)) {
          seen.add(value);
          out.push([prefix + name, value]);
        }
      }
      for (const [name, child] of module.namedChildren()) walk(child, `${prefix}${name}.`);
    };
    walk(this, "");
    return out;
  }

  /**
   * The parameters, in model order, after making sure they live in one flat GPU buffer
   * (created on the first call; needs `await initGpu()` before).
   */
  parameters(): Parameter[] {
    const params = this.namedParameters().map(([, p]) => p);
    if (params.some((p) => p.flat === null)) new FlatParameters(params);
    return params;
  }

  /** The flat parameter buffer of this model (created on first use). */
  get flat(): FlatParameters {
    const params = this.parameters();
    if (params.length === 0) throw new Error("This module has no parameters");
    const flat = params[0].flat!;
    if (params.some((p) => p.flat !== flat)) {
      throw new Error("The parameters of this module live in different buffers");
    }
    return flat;
  }

  /** Total number of parameter elements. */
  numParameters(): number {
    return this.namedParameters().reduce((n, [, p]) => n + p.numel, 0);
  }

  /** Parameter values of row 0 by name (one readback). */
  async stateDict(): Promise<Record<string, Float32Array>> {
    const named = this.namedParameters();
    const row = await this.flat.readRow(0);
    const out: Record<string, Float32Array> = {};
    const flat = this.flat;
    let at = 0;
    const starts = new Map<Parameter, number>();
    for (const p of flat.params) {
      starts.set(p, at);
      at += p.numel;
    }
    for (const [name, p] of named) {
      const start = starts.get(p)!;
      out[name] = row.slice(start, start + p.numel);
    }
    return out;
  }

  /**
   * Loads parameter values by name into row 0.
   *
   * @throws {TypeError} on a missing or unexpected name, or a size mismatch.
   */
  loadStateDict(state: Readonly<Record<string, ArrayLike<number>>>): void {
    const named = new Map(this.namedParameters());
    for (const name of Object.keys(state)) {
      if (!named.has(name)) throw new TypeError(`loadStateDict: unexpected parameter "${name}"`);
    }
    for (const [name, p] of named) {
      const values = state[name];
      if (values === undefined) throw new TypeError(`loadStateDict: missing parameter "${name}"`);
      p.load(values);
    }
  }
}
