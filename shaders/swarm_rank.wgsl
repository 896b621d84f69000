// swarm_rank.wgsl — SwarmOfOptimizers' ranking, aging and death, decided on the GPU from the
// losses the members reported, so a swarm step never waits for the GPU.
//
// Swarm state (f32), laid out by TypeScript (the StateLayout in swarm.ts) and located by the
// uniforms: best at bestAt, second at secondAt, and per member i < N its age at ageOff + i, its
// bad streak at streakOff + i, its death flag (0 or 1) at deadOff + i.
//
//   best = argmin of the reported losses (a NaN or infinite loss never ranks best; ties go to
//   the lower index), second = argmin of the others
//   age += 1;  old = age > oldSteps (never when noOld)
//   streak = (old && i != best) ? streak + 1 : 0;  dead = streak > dieAfter
//   on death, unless `original`: age = 0, streak = 0 (a respawned member must age again)
//   report = loss of the best member
//
// Bindings:
//   0  reports  storage, read        f32  [n] losses reported by the members
//   1  state    storage, read_write  f32  swarm state (layout above)
//   2  report   storage, read_write  f32  the loss the swarm step returns, at reportOff
//   3  p        uniform              Params
//
// Dispatch: one workgroup of one invocation. The member count is the override constant N, not
// a uniform: Mesa's lavapipe (22.x) recompiles a shader on every dispatch when a loop bound
// comes from the uniform buffer (~7 ms each; see bench/step_profile.ts).

override N: u32 = 1u;

struct Params {
  oldSteps: u32,
  noOld: u32,
  dieAfter: u32,
  original: u32,
  reportOff: u32,
  bestAt: u32,
  secondAt: u32,
  ageOff: u32,
  streakOff: u32,
  deadOff: u32,
}

@group(0) @binding(0) var<storage, read> reports: array<f32>;
@group(0) @binding(1) var<storage, read_write> state: array<f32>;
@group(0) @binding(2) var<storage, read_write> report: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn is_bad(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// Loss used for ranking: bad losses rank last.
fn rank_loss(i: u32) -> f32 {
  let v = reports[i];
  return select(v, 3.0e38, is_bad(v));
}

@compute @workgroup_size(1)
fn rank() {
  var best = 0u;
  for (var i = 1u; i < N; i++) {
    if (rank_loss(i) < rank_loss(best)) { best = i; }
  }
  var second = select(0u, 1u, best == 0u);
  for (var i = 0u; i < N; i++) {
    if (i != best && rank_loss(i) < rank_loss(second)) { second = i; }
  }
  state[p.bestAt] = f32(best);
  state[p.secondAt] = f32(second);
  for (var i = 0u; i < N; i++) {
    let age = state[p.ageOff + i] + 1.0;
    let old = p.noOld == 0u && age > f32(p.oldSteps);
    var streak = 0.0;
    if (old && i != best) { streak = state[p.streakOff + i] + 1.0; }
    let dead = streak > f32(p.dieAfter);
    state[p.deadOff + i] = select(0.0, 1.0, dead);
    if (dead && p.original == 0u) {
      state[p.ageOff + i] = 0.0;
      state[p.streakOff + i] = 0.0;
    } else {
      state[p.ageOff + i] = age;
      state[p.streakOff + i] = streak;
    }
  }
  report[p.reportOff] = reports[best];
}
