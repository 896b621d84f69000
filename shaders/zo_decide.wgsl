// zo_decide.wgsl — the decisions of the derivative-free optimizers, made on the GPU from the
// loss buffer of one evaluation, so a step never waits for the GPU.
//
// Losses: the closure's output holds `perRow` values per evaluated row (1 for one mean loss
// per row, B for per-example losses); the row in slot s (its position among the evaluated
// rows) starts at lossOff + s * perRow. The baseline is in slot baseSlot, candidate k in slot
// candSlot + k (SPSA's pair i: candSlot + 2i and + 2i + 1).
// Comparisons use mean(b) - mean(a) computed from per-example differences with compensated
// (Neumaier) summation: a difference of two f32 losses within a factor 2 is exact, so the
// sign is right even when the means differ by a few ulps. A NaN or infinite loss (tested on
// the bit pattern: compilers may fold `v != v`) is never accepted and never ranks best.
//
// Entry points (each one invocation; a decision is O(K · perRow)):
//   decide_grad    RandomGrad / RandomBestGrad: coefficients c_k of the candidates' noise so
//                  that grad = Σ c_k s_k; report = loss of the last candidate
//   decide_spsa    SPSA: c_i = scale · (mean(+) − mean(−)) per ± pair (0 if either is bad);
//                  report = min(mean(+), mean(−)) of the last pair
//   decide_select  searches and walks: the best candidate m, accepted against the lowest
//                  loss so far; writes the select record at state[stateOff ..] (lowest, chosen
//                  m or −1, worst w, m; offsets SELECT_* below); report = lowest (flag
//                  REPORT_LOWEST) or mean(m)
//
// Bindings:
//   0  losses  storage, read        f32  the closure's loss tensor
//   1  state   storage, read_write  f32  the optimizer's small state (coefficients, lowest, …)
//   2  report  storage, read_write  f32  the loss the step returns, at reportOff
//   3  p       uniform              Params
//
// Dispatch: one workgroup of one invocation.

struct Params {
  lossOff: u32,
  perRow: u32,
  baseSlot: u32,
  candSlot: u32,
  k: u32,
  flags: u32,
  coefOff: u32,
  stateOff: u32,
  regOff: u32,
  reportOff: u32,
  scale: f32,
}

// Flags (TypeScript reads these values: src/optim/population/decisions.ts).
const STEP_OPPOSITE: u32 = 1u; // decide_grad, K = 1: a worse candidate gives +1 (else 0)
const AVG_BEST: u32 = 2u; // decide_grad: average every good candidate
const NEGATE_WORST: u32 = 4u; // decide_grad: no good candidate → +1 on the worst
const BASELINE: u32 = 8u; // decide_select: the baseline was evaluated; it becomes the lowest
const TIES: u32 = 16u; // decide_select: a candidate equal to the lowest is accepted
const REPORT_LOWEST: u32 = 32u; // decide_select: report the lowest loss, not the candidate's
const REG: u32 = 64u; // decide_select: add state[regOff + k] (candidates) and state[regOff + K] (baseline)
const TIE_BEST: u32 = 128u; // decide_grad: a candidate that ties the baseline may be the best (RandomGrad)

// The select record decide_select writes at state[stateOff ..] (TypeScript reads the offsets).
const SELECT_LOWEST: u32 = 0u; // lowest loss so far
const SELECT_CHOSEN: u32 = 1u; // accepted candidate, or -1
const SELECT_WORST: u32 = 2u; // worst candidate
const SELECT_BEST: u32 = 3u; // best candidate, accepted or not
const SELECT_FLOATS: u32 = 4u;

@group(0) @binding(0) var<storage, read> losses: array<f32>;
@group(0) @binding(1) var<storage, read_write> state: array<f32>;
@group(0) @binding(2) var<storage, read_write> report: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn is_bad(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

fn has(flag: u32) -> bool {
  return (p.flags & flag) != 0u;
}

// Example i of the row in slot s.
fn at(s: u32, i: u32) -> f32 {
  return losses[p.lossOff + s * p.perRow + i];
}

// Neumaier step: (sum, compensation) += v.
fn nsum(acc: vec2f, v: f32) -> vec2f {
  let t = acc.x + v;
  var c = acc.y;
  if (abs(acc.x) >= abs(v)) { c += (acc.x - t) + v; } else { c += (v - t) + acc.x; }
  return vec2f(t, c);
}

// Compensated total; an infinite or NaN sum is returned as is (its compensation would be NaN).
fn total(acc: vec2f) -> f32 {
  return select(acc.x + acc.y, acc.x, is_bad(acc.x));
}

fn row_mean(r: u32) -> f32 {
  var acc = vec2f(0.0);
  for (var i = 0u; i < p.perRow; i++) { acc = nsum(acc, at(r, i)); }
  return total(acc) / f32(p.perRow);
}

// mean(b) - mean(a), from per-example differences.
fn row_diff(a: u32, b: u32) -> f32 {
  var acc = vec2f(0.0);
  for (var i = 0u; i < p.perRow; i++) { acc = nsum(acc, at(b, i) - at(a, i)); }
  return total(acc) / f32(p.perRow);
}

// Candidate row b is worse than row a (bad candidates always are; a bad a never wins).
fn worse(a: u32, b: u32) -> bool {
  if (is_bad(row_mean(b))) { return true; }
  if (is_bad(row_mean(a))) { return false; }
  return row_diff(a, b) > 0.0;
}

@compute @workgroup_size(1)
fn decide_grad() {
  let base = p.baseSlot;
  var maxInc = 0.0;
  var maxDec = 0.0;
  var worst = -1;
  var best = -1;
  var nGood = 0u;
  for (var k = 0u; k < p.k; k++) {
    state[p.coefOff + k] = 0.0;
  }
  for (var k = 0u; k < p.k; k++) {
    let r = p.candSlot + k;
    if (worse(base, r)) {
      var inc = row_diff(base, r);
      if (is_bad(row_mean(r))) { inc = 3.0e38; }
      if (worst < 0 || inc > maxInc) { maxInc = inc; worst = i32(k); }
    } else {
      nGood += 1u;
      let dec = -row_diff(base, r);
      let tie = has(TIE_BEST) && best < 0 && dec >= maxDec;
      if ((is_bad(row_mean(base)) && best < 0) || dec > maxDec || tie) {
        maxDec = max(dec, maxDec);
        best = i32(k);
      }
      if (has(AVG_BEST)) { state[p.coefOff + k] = -1.0; }
    }
  }
  if (has(AVG_BEST)) {
    if (nGood > 0u) {
      for (var k = 0u; k < p.k; k++) { state[p.coefOff + k] = state[p.coefOff + k] / f32(nGood); }
    }
  } else if (best >= 0) {
    state[p.coefOff + u32(best)] = -1.0;
  }
  if (nGood == 0u && worst >= 0 && (has(NEGATE_WORST) || has(STEP_OPPOSITE))) {
    state[p.coefOff + u32(worst)] = 1.0;
  }
  report[p.reportOff] = row_mean(p.candSlot + p.k - 1u);
}

@compute @workgroup_size(1)
fn decide_spsa() {
  var last = 0.0;
  for (var i = 0u; i < p.k; i++) {
    let plus = p.candSlot + 2u * i;
    let minus = plus + 1u;
    let lp = row_mean(plus);
    let lm = row_mean(minus);
    var c = 0.0;
    if (!is_bad(lp) && !is_bad(lm)) { c = p.scale * row_diff(minus, plus); }
    state[p.coefOff + i] = c;
    last = min(lp, lm);
    if (is_bad(lp)) { last = lm; }
    if (is_bad(lm)) { last = lp; }
  }
  report[p.reportOff] = last;
}

fn reg(k: u32) -> f32 {
  if (has(REG)) { return state[p.regOff + k]; }
  return 0.0;
}

@compute @workgroup_size(1)
fn decide_select() {
  var lowest = state[p.stateOff + SELECT_LOWEST];
  if (has(BASELINE)) { lowest = row_mean(p.baseSlot) + reg(p.k); }
  var m = -1;
  var lm = 0.0;
  var w = -1;
  var lw = 0.0;
  for (var k = 0u; k < p.k; k++) {
    let l = row_mean(p.candSlot + k) + reg(k);
    if (!is_bad(l) && (m < 0 || l < lm)) { m = i32(k); lm = l; }
    let lv = select(l, 3.0e38, is_bad(l));
    if (w < 0 || lv > lw) { w = i32(k); lw = lv; }
  }
  var chosen = -1;
  if (m >= 0) {
    // With one candidate and a baseline, compare through per-example differences.
    var d = lm - lowest;
    if (has(BASELINE) && !has(REG)) { d = row_diff(p.baseSlot, p.candSlot + u32(m)); }
    let better = is_bad(lowest) || d < 0.0 || (has(TIES) && d == 0.0);
    if (better) { chosen = m; lowest = lm; }
  }
  state[p.stateOff + SELECT_LOWEST] = lowest;
  state[p.stateOff + SELECT_CHOSEN] = f32(chosen);
  state[p.stateOff + SELECT_WORST] = f32(w);
  state[p.stateOff + SELECT_BEST] = f32(m);
  if (has(REPORT_LOWEST)) {
    report[p.reportOff] = lowest;
  } else if (m >= 0) {
    report[p.reportOff] = lm;
  } else {
    report[p.reportOff] = row_mean(p.candSlot);
  }
}
