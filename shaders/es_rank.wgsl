// es_rank.wgsl — fitness shaping on the GPU, so an ES generation never reads a loss back:
// each candidate's mean loss, its rank (0 = lowest loss) and its utility table[rank].
//
//   row_means:  means[k] = mean of the perRow values of slot candSlot + k  (compensated sum)
//   utilities:  r_k = #{j : key_j < key_k, or key_j == key_k and j < k}   key = mean, or +3e38
//               when the mean is NaN or ±∞ (bad candidates rank last, in index order)
//               util[k] = table[r_k], or with `raw` the negated mean loss −mean_k (a bad
//               candidate gets −(the highest finite mean)); best = the k of rank 0;
//               report = mean of the finite means (NaN when none is finite)
//
// Offsets into `state` come from the strategy's StateLayout (TypeScript).
//
// Bindings:
//   0  losses  storage, read        f32  the loss tensor: P rows of perRow values from slot candSlot
//   1  table   storage, read        f32  [P] utility of each rank
//   2  state   storage, read_write  f32  the strategy's state record
//   3  report  storage, read_write  f32  the loss the generation reports, at reportOff
//   4  p       uniform              Params
//
// Dispatch: ceil(P / WG) workgroups, one invocation per candidate. P is an override constant
// (a loop bound: Mesa's lavapipe recompiles shaders whose loop bounds come from the uniform).

override P: u32 = 2u;
override WG: u32 = 64u;

struct Params {
  lossOff: u32,
  perRow: u32,
  candSlot: u32,
  meansOff: u32,
  utilOff: u32,
  bestAt: u32,
  reportOff: u32,
  raw: u32,
}

@group(0) @binding(0) var<storage, read> losses: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;
@group(0) @binding(3) var<storage, read_write> report: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn is_bad(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

@compute @workgroup_size(WG)
fn row_means(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x;
  if (k >= P) { return; }
  let base = p.lossOff + (p.candSlot + k) * p.perRow;
  var sum = 0.0;
  var c = 0.0;
  for (var i = 0u; i < p.perRow; i++) {
    let v = losses[base + i];
    let t = sum + v;
    if (abs(sum) >= abs(v)) { c += (sum - t) + v; } else { c += (v - t) + sum; }
    sum = t;
  }
  let total = select(sum + c, sum, is_bad(sum));
  state[p.meansOff + k] = total / f32(p.perRow);
}

fn key(k: u32) -> f32 {
  let v = state[p.meansOff + k];
  return select(v, 3.0e38, is_bad(v));
}

@compute @workgroup_size(WG)
fn utilities(@builtin(global_invocation_id) gid: vec3u) {
  let k = gid.x;
  if (k >= P) { return; }
  let own = key(k);
  var rank = 0u;
  for (var j = 0u; j < P; j++) {
    let other = key(j);
    if (other < own || (other == own && j < k)) { rank += 1u; }
  }
  if (p.raw != 0u) {
    var worst = 0.0;
    for (var j = 0u; j < P; j++) {
      let v = state[p.meansOff + j];
      if (!is_bad(v) && (j == 0u || v > worst)) { worst = v; }
    }
    let v = state[p.meansOff + k];
    state[p.utilOff + k] = -select(v, worst, is_bad(v));
  } else {
    state[p.utilOff + k] = table[rank];
  }
  if (rank == 0u) { state[p.bestAt] = f32(k); }
  if (k == 0u) {
    var sum = 0.0;
    var n = 0u;
    for (var j = 0u; j < P; j++) {
      let v = state[p.meansOff + j];
      if (!is_bad(v)) { sum += v; n += 1u; }
    }
    report[p.reportOff] = select(sum / f32(n), quiet_nan(), n == 0u);
  }
}
