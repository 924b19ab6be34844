//! A closed-form test video, identical to `pattern_video` in `tools/metrics/make_i3d_fixture.py`
//! (the I3D parity fixture stores only outputs; both sides compute this input).

/// `v[t,h,w,c] = sin(0.37 t + 0.021 h (1+c) + 0.017 w (3−c) + 1.3 b) · cos(0.011 (h−w) + 0.5 c)`,
/// computed in f64 and rounded to f32, returned channels-first `[3, t, h, w]`.
pub fn pattern_video(b: usize, t: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; 3 * t * h * w];
    for c in 0..3 {
        for ti in 0..t {
            for y in 0..h {
                for x in 0..w {
                    let (tf, yf, xf, cf) = (ti as f64, y as f64, x as f64, c as f64);
                    let v = (0.37 * tf
                        + 0.021 * yf * (1.0 + cf)
                        + 0.017 * xf * (3.0 - cf)
                        + 1.3 * b as f64)
                        .sin()
                        * (0.011 * (yf - xf) + 0.5 * cf).cos();
                    out[((c * t + ti) * h + y) * w + x] = v as f32;
                }
            }
        }
    }
    out
}
