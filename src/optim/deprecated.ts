/**
 * Names of the first public version kept for compatibility; each says what replaces it.
 *
 * @module
 */

import { type PopulationBind, PopulationOptimizer } from "./population/population_optimizer.ts";
import type { Losses, MemberRows } from "./population/protocol.ts";

/**
 * The base class of the derivative-free optimizers.
 * @deprecated Use {@linkcode PopulationOptimizer}: every population optimizer (ES included)
 * derives from it.
 */
export const ZerothOrderOptimizer: typeof PopulationOptimizer = PopulationOptimizer;
/** @deprecated Use {@linkcode PopulationOptimizer}. */
export type ZerothOrderOptimizer<O extends object> = PopulationOptimizer<O>;

/** @deprecated Use {@linkcode PopulationBind}. */
export type ZerothOrderBind = PopulationBind;

/**
 * The rows of one step.
 * @deprecated Use {@linkcode MemberRows}, which names rows by role instead of position.
 */
export type RowPlan = MemberRows;

/**
 * The losses of one evaluation.
 * @deprecated Use {@linkcode Losses}, which addresses losses by row.
 */
export type Evaluation = Losses;
