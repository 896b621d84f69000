/**
 * What a checkpoint records about the objects that made it, and how a loader compares them
 * with the objects it loads into: the model's parameters (names and shapes), the optimizer's
 * structure (class, param groups, wrapped optimizers and swarm members), and a configuration.
 * Each comparison returns the differences as short phrases ("optimizer.opt is AdamW in the
 * checkpoint, Adam here"), empty when everything matches.
 *
 * @module
 */

import type { Module } from "../nn/module.ts";
import { Optimizer } from "../optim/optimizer.ts";
import { encodeState } from "./_state_json.ts";

/** The structure of an optimizer, as a checkpoint records it. */
export interface OptimizerDescription {
  /** The class name (`RandomGrad`, `AdamW`, `SwarmOfOptimizers`, ...). */
  type: string;
  /** Parameters per param group. */
  groups: number[];
  /** The parameter row the optimizer updates. */
  row: number;
  /** Optimizers it drives: `opt` (inner), `members` (swarm), `links` and `last` (chain). */
  children?: Record<string, OptimizerDescription | OptimizerDescription[]>;
}

/** Describes `optimizer` and, recursively, the optimizers it wraps. */
export function describeOptimizer(optimizer: Optimizer<object>): OptimizerDescription {
  const out: OptimizerDescription = {
    type: optimizer.constructor.name,
    groups: optimizer.paramGroups.map((g) => g.params.length),
    row: optimizer.row,
  };
  const children: Record<string, OptimizerDescription | OptimizerDescription[]> = {};
  const o = optimizer as unknown as Record<string, unknown>;
  for (const key of ["opt", "last"]) {
    if (o[key] instanceof Optimizer) children[key] = describeOptimizer(o[key]);
  }
  for (const [key, field] of [["members", "optimizers"], ["links", "links"]]) {
    const list = o[field];
    if (Array.isArray(list) && list.every((m) => m instanceof Optimizer)) {
      children[key] = list.map(describeOptimizer);
    }
  }
  if (Object.keys(children).length > 0) out.children = children;
  return out;
}

/** Differences between a recorded optimizer structure and a live one. */
export function compareOptimizers(
  saved: OptimizerDescription,
  live: OptimizerDescription,
  path = "optimizer",
): string[] {
  if (saved.type !== live.type) {
    return [`${path} is ${saved.type} in the checkpoint, ${live.type} here`];
  }
  const out: string[] = [];
  if (saved.groups.length !== live.groups.length) {
    out.push(
      `${path} has ${saved.groups.length} param groups in the checkpoint, ${live.groups.length} here`,
    );
  } else {
    saved.groups.forEach((n, g) => {
      if (n !== live.groups[g]) {
        out.push(
          `${path} group ${g} has ${n} parameters in the checkpoint, ${live.groups[g]} here`,
        );
      }
    });
  }
  if (saved.row !== live.row) {
    out.push(`${path} updates row ${saved.row} in the checkpoint, ${live.row} here`);
  }
  const a = saved.children ?? {};
  const b = live.children ?? {};
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key], y = b[key];
    const where = `${path}.${key}`;
    if (x === undefined || y === undefined) {
      out.push(`${where} is ${label(x)} in the checkpoint, ${label(y)} here`);
    } else if (Array.isArray(x) !== Array.isArray(y)) {
      out.push(`${where} differs in kind`);
    } else if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) {
        out.push(`${where} has ${x.length} optimizers in the checkpoint, ${y.length} here`);
      } else x.forEach((m, i) => out.push(...compareOptimizers(m, y[i], `${where}[${i}]`)));
    } else {
      out.push(...compareOptimizers(x as OptimizerDescription, y as OptimizerDescription, where));
    }
  }
  return out;
}

function label(d: OptimizerDescription | OptimizerDescription[] | undefined): string {
  if (d === undefined) return "absent";
  return Array.isArray(d) ? `${d.length} optimizers` : d.type;
}

/** The model's parameters as `[name, shape]` pairs, in order. */
export function describeModel(model: Module): [string, number[]][] {
  return model.namedParameters().map(([name, p]) => [name, [...p.shape]]);
}

/** Differences between recorded parameters and a model's. */
export function compareModels(
  saved: readonly (readonly [string, readonly number[]])[],
  live: readonly (readonly [string, readonly number[]])[],
): string[] {
  const mine = new Map(live);
  const theirs = new Map(saved);
  const out: string[] = [];
  for (const [name, shape] of saved) {
    const here = mine.get(name);
    if (here === undefined) out.push(`parameter "${name}" [${shape}] is not in the model`);
    else if (here.join() !== shape.join()) {
      out.push(`parameter "${name}" is [${shape}] in the checkpoint, [${here}] in the model`);
    }
  }
  for (const [name, shape] of live) {
    if (!theirs.has(name)) {
      out.push(`the model's parameter "${name}" [${shape}] is not in the checkpoint`);
    }
  }
  return out;
}

/**
 * Differences between a recorded configuration and the expected one: every key of `expected`
 * must hold the same value (compared exactly, NaN and -0 included); keys `expected` does not
 * name are not compared.
 */
export function compareConfigs(
  saved: Record<string, unknown> | null,
  expected: Record<string, unknown>,
): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(expected)) {
    const theirs = saved === null || !(key in saved) ? undefined : saved[key];
    if (encodeState(theirs ?? null) !== encodeState(value ?? null)) {
      out.push(`${key} is ${show(theirs)} in the checkpoint, ${show(value)} here`);
    }
  }
  return out;
}

function show(value: unknown): string {
  if (value === undefined) return "absent";
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}
