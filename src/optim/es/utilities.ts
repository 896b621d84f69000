/**
 * Fitness shaping: the utility of each rank (0 = the lowest loss), computed once per
 * population size on the host and looked up on the GPU. Higher utility is better.
 *
 * @module
 */

/**
 * Centered ranks (OpenAI-ES, PGPE, evosax, EvoTorch "centered"): `u_r = (P − 1 − r)/(P − 1) − ½`,
 * from ½ for the best to −½ for the worst, summing to 0.
 *
 * @throws {RangeError} for a population below 2.
 */
export function centeredRanks(population: number): Float32Array {
  checkPopulation("centeredRanks", population, 2);
  return Float32Array.from(
    { length: population },
    (_, r) => (population - 1 - r) / (population - 1) - 0.5,
  );
}

/**
 * NES utilities (SNES; Wierstra et al. 2014): for rank i = 1..P,
 * `u_i = max(0, ln(P/2 + 1) − ln i) / Σ_j max(0, ln(P/2 + 1) − ln j) − 1/P`: the better half
 * shares the weight, every rank pays 1/P, so they sum to 0.
 *
 * @throws {RangeError} for a population below 2.
 */
export function nesUtilities(population: number): Float32Array {
  checkPopulation("nesUtilities", population, 2);
  const raw = Array.from(
    { length: population },
    (_, r) => Math.max(0, Math.log(population / 2 + 1) - Math.log(r + 1)),
  );
  const total = raw.reduce((a, b) => a + b, 0);
  return Float32Array.from(raw, (v) => v / total - 1 / population);
}

/** CMA-ES recombination weights for one population size. */
export interface CmaWeights {
  /** Weight of each rank (λ values): positive for the μ best, then zero or negative (active). */
  readonly weights: Float64Array;
  /** Number of positive weights, ⌊λ/2⌋. */
  readonly mu: number;
  /** Variance-effective selection mass of the positive weights, 1 / Σ w⁺². */
  readonly mueff: number;
  /** Variance-effective selection mass of the negative weights (before their rescaling). */
  readonly mueffNeg: number;
}

/**
 * The recombination weights of CMA-ES (Hansen 2016, arXiv:1604.00772, eq. 49–53; pycma's
 * `RecombinationWeights`): `w'_i = ln((λ + 1)/2) − ln i`, the μ = ⌊λ/2⌋ positive ones normalized
 * to sum 1. The negative ones (active CMA) are zero unless `active` is given: then they are
 * rescaled to sum to −min(1 + c1/cμ, 1 + 2μ⁻_eff/(μ_eff + 2), (1 − c1 − cμ)/(N·cμ)).
 *
 * @param active the learning rates and dimension that scale the negative weights.
 * @throws {RangeError} for a population below 2.
 */
export function cmaWeights(
  population: number,
  active?: { c1: number; cmu: number; dimension: number },
): CmaWeights {
  checkPopulation("cmaWeights", population, 2);
  const raw = Array.from(
    { length: population },
    (_, i) => Math.log((population + 1) / 2) - Math.log(i + 1),
  );
  const mu = Math.floor(population / 2);
  const positive = raw.slice(0, mu).reduce((a, b) => a + b, 0);
  const negative = raw.slice(mu).filter((w) => w < 0);
  const sumNeg = -negative.reduce((a, b) => a + b, 0);
  const sq = (ws: number[]) => ws.reduce((a, w) => a + w * w, 0);
  const mueff = positive ** 2 / sq(raw.slice(0, mu));
  const mueffNeg = negative.length === 0 ? 0 : sumNeg ** 2 / sq(negative);
  const weights = new Float64Array(population);
  for (let i = 0; i < mu; i++) weights[i] = raw[i] / positive;
  if (active !== undefined && sumNeg > 0) {
    const { c1, cmu, dimension } = active;
    const alpha = Math.min(
      1 + c1 / cmu,
      1 + 2 * mueffNeg / (mueff + 2),
      (1 - c1 - cmu) / (dimension * cmu),
    );
    for (let i = mu; i < population; i++) weights[i] = raw[i] < 0 ? alpha * raw[i] / sumNeg : 0;
  }
  return { weights, mu, mueff, mueffNeg };
}

function checkPopulation(name: string, population: number, min: number): void {
  if (!Number.isInteger(population) || population < min) {
    throw new RangeError(
      `${name}: the population must be an integer >= ${min}, received ${population}`,
    );
  }
}
