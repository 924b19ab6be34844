//! The GEGLU gate of the transformers' feed-forward: rows `[hidden | gate]` of width `2·inner`
//! → `hidden · gelu(gate)` (exact, erf-based GELU, as diffusers' `GEGLU`), in one pass over the
//! projection instead of a split, a scalar-`erf` GELU and a product with a temporary each.

use multiversion::multiversion;
use rayon::prelude::*;

use super::math::gelu;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 32;

/// `h` `[rows, 2·inner]` → `[rows, inner]`.
pub fn geglu(h: &[f32], inner: usize) -> Vec<f32> {
    assert!(
        inner > 0 && h.len().is_multiple_of(2 * inner),
        "geglu: {} values, inner {inner}",
        h.len()
    );
    let mut out = vec![0f32; h.len() / 2];
    out.par_chunks_mut(ROWS_PER_TASK * inner)
        .zip(h.par_chunks(ROWS_PER_TASK * 2 * inner))
        .for_each(|(o, hs)| gate_rows(hs, o, inner));
    out
}

#[multiversion(targets(
    "x86_64+avx512f+avx512vl+avx512bw+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
fn gate_rows(h: &[f32], out: &mut [f32], inner: usize) {
    for (hr, or) in h.chunks(2 * inner).zip(out.chunks_mut(inner)) {
        let (hidden, gate) = hr.split_at(inner);
        for ((o, &x), &g) in or.iter_mut().zip(hidden).zip(gate) {
            *o = x * gelu(g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_each_row() {
        let inner = 19;
        let h: Vec<f32> = (0..5 * 2 * inner)
            .map(|i| (i as f32 * 0.37).sin() * 3.0)
            .collect();
        let y = geglu(&h, inner);
        for (r, yr) in y.chunks(inner).enumerate() {
            for i in 0..inner {
                let (x, g) = (
                    h[r * 2 * inner + i] as f64,
                    h[r * 2 * inner + inner + i] as f64,
                );
                let erf = libm_erf(g / 2f64.sqrt());
                let want = x * 0.5 * g * (1.0 + erf);
                assert!((yr[i] as f64 - want).abs() < 2e-6, "{} vs {want}", yr[i]);
            }
        }
    }

    /// erf by its Taylor series (|x| ≤ 3 here), an independent check of the kernel's erf.
    fn libm_erf(x: f64) -> f64 {
        let (mut term, mut sum) = (x, x);
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
