// zo_walk.wgsl — the n-th order random walk (RandomWalk), prefixed with RANDOM_WGSL and
// zo_noise.wgsl. The walk keeps D = order − 1 direction rows (dir_0 velocity, dir_1
// acceleration, …) in one buffer `dirs` [D, stride]; the top order is fresh noise s_b per
// candidate b (id b, counter = step), regenerated when it is needed again:
//
//   walk_propose   candidate b: c_{D} = lr·s_b, c_d = dir_d + c_{d+1} (d = D−1 … 0),
//                  rows[cand + b] = (rows[home] + c_0) · keep           (keep = 1 − weightDecay)
//   walk_accept    m = state[chosenAt] (the candidate a decide kernel accepted, or −1),
//                  w = state[worstAt] (the worst candidate):
//                    m ≥ 0: dir_d ← c_d of m (d < D), rows[home] ← rows[cand + m]
//                    m < 0 and MOVE_OPPOSITE:
//                      D = 0: rows[home] −= lr·s_w
//                      D > 0: dir_{D−1} −= lr·s_w; with PROPAGATE dir_d += dir_{d+1}
//                             for d = D−2 … 0
//   walk_reg       the L1/L2 penalty of one parameter tensor for each evaluated row y:
//                    out[outOff + y] = (accumulate ? out[outOff + y] : 0)
//                                      + weight · (l1 · mean|x| + l2 · mean x²)
//                  rows y < K are the candidates cand + y, row y = K is home.
//
// The sums in walk_propose are formed in the order of the original (top order first), so a
// candidate and the directions it is accepted with are the same floats in both kernels.
//
// Bindings of walk_propose and walk_accept:
//   0  state      storage, read        f32  optimizer state (the decision; unused by propose)
//   1  zo_stored  storage, read        f32  noise of a user-supplied sampler (kind 3), else unused
//   2  dirs       storage, read_write  f32  [D, stride] directions (≥ 4 floats when D = 0)
//   3  rows       storage, read_write  f32  the parameter buffer [rows, stride]
//   4  p          uniform              Params
// Bindings of walk_reg:
//   0  src    storage, read        f32  the parameter buffer
//   1  out    storage, read_write  f32  optimizer state (penalties at outOff + y)
//   2  rp     uniform              RegParams
//
// Dispatch: walk_propose and walk_accept: one invocation per block of 4 elements of a span,
// x·z = ceil(ceil(count / 4) / WG) workgroups (x ≤ 65535), y = K candidates (propose) or 1
// (accept). walk_reg: one workgroup of RWG invocations per evaluated row (y = rows).

override WG: u32 = 64u;
const RWG: u32 = 64u;

// Flags (TypeScript reads these values: src/optim/zeroth_order/random_walk.ts).
const MOVE_OPPOSITE: u32 = 1u;
const PROPAGATE: u32 = 2u;

struct Params {
  homeOff: u32,
  candOff: u32,
  stride: u32,
  start: u32,
  count: u32,
  seed: u32,
  stream: u32,
  counter: u32,
  kind: u32,
  depth: u32,
  flags: u32,
  chosenAt: u32,
  worstAt: u32,
  lr: f32,
  keep: f32,
}

@group(0) @binding(0) var<storage, read> state: array<f32>;
@group(0) @binding(1) var<storage, read> zo_stored: array<f32>;
@group(0) @binding(2) var<storage, read_write> dirs: array<f32>;
@group(0) @binding(3) var<storage, read_write> rows: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn block_index(wid: vec3u, lid: vec3u, nwg: vec3u) -> u32 {
  return (wid.x + wid.z * nwg.x) * WG + lid.x;
}

@compute @workgroup_size(WG)
fn walk_propose(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = block_index(wid, lid, nwg);
  if (4u * b >= p.count) { return; }
  let first = p.start + 4u * b;
  let k = wid.y;
  let s = zo_noise4(p.kind, p.seed, p.stream, first >> 2u, k, p.counter);
  let dst = p.candOff + k * p.stride;
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j < end) {
      var c = p.lr * s[lane];
      for (var d = p.depth; d > 0u; d--) { c = dirs[(d - 1u) * p.stride + j] + c; }
      rows[dst + j] = (rows[p.homeOff + j] + c) * p.keep;
    }
  }
}

@compute @workgroup_size(WG)
fn walk_accept(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let b = block_index(wid, lid, nwg);
  if (4u * b >= p.count) { return; }
  let m = i32(state[p.chosenAt]);
  let w = i32(state[p.worstAt]);
  if (m < 0 && ((p.flags & MOVE_OPPOSITE) == 0u || w < 0)) { return; }
  let first = p.start + 4u * b;
  let id = u32(select(w, m, m >= 0));
  let s = zo_noise4(p.kind, p.seed, p.stream, first >> 2u, id, p.counter);
  let end = p.start + p.count;
  for (var lane = 0u; lane < 4u; lane++) {
    let j = first + lane;
    if (j >= end) { break; }
    let a = p.lr * s[lane];
    if (m >= 0) {
      var c = a;
      for (var d = p.depth; d > 0u; d--) {
        let at = (d - 1u) * p.stride + j;
        c = dirs[at] + c;
        dirs[at] = c;
      }
      rows[p.homeOff + j] = rows[p.candOff + u32(m) * p.stride + j];
    } else if (p.depth == 0u) {
      rows[p.homeOff + j] = rows[p.homeOff + j] - a;
    } else {
      let top = (p.depth - 1u) * p.stride + j;
      dirs[top] = dirs[top] - a;
      if ((p.flags & PROPAGATE) != 0u) {
        for (var d = p.depth - 1u; d > 0u; d--) {
          let at = (d - 1u) * p.stride + j;
          dirs[at] = dirs[at] + dirs[at + p.stride];
        }
      }
    }
  }
}

struct RegParams {
  candOff: u32,
  homeOff: u32,
  stride: u32,
  k: u32,
  start: u32,
  count: u32,
  outOff: u32,
  accumulate: u32,
  l1: f32,
  l2: f32,
  weight: f32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> rp: RegParams;

var<workgroup> partial: array<vec2f, RWG>;

@compute @workgroup_size(RWG)
fn walk_reg(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let y = wid.y;
  var base = rp.homeOff;
  if (y < rp.k) { base = rp.candOff + y * rp.stride; }
  base += rp.start;
  var acc = vec2f(0.0);
  for (var i = lid.x; i < rp.count; i += RWG) {
    let v = src[base + i];
    acc += vec2f(abs(v), v * v);
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  if (lid.x == 0u) {
    var total = vec2f(0.0);
    for (var t = 0u; t < RWG; t++) { total += partial[t]; }
    let n = f32(rp.count);
    let penalty = rp.weight * (rp.l1 * (total.x / n) + rp.l2 * (total.y / n));
    let o = rp.outOff + y;
    out[o] = select(0.0, out[o], rp.accumulate != 0u) + penalty;
  }
}
