// special_values.wgsl — NaN and −∞ for kernels that store them (a prelude: src/ops/_util.ts
// exports it as SPECIAL_VALUES_WGSL and kernel specs prepend it). They are made at run time from
// a variable: Chrome's WGSL compiler (Tint) refuses NaN and infinity as the value of a constant
// expression such as bitcast<f32>(0x7fc00000u).

fn quiet_nan() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

fn negative_infinity() -> f32 {
  var bits = 0xff800000u;
  return bitcast<f32>(bits);
}
