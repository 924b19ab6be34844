//! Elementwise math the kernels vectorise: `exp`, `erf`, GELU and SiLU on `f32` slices.
//!
//! Written here because no kept crate offers a vectorisable `exp` with *runtime* CPU selection:
//! `wide`'s `exp` is chosen at compile time (SSE2 unless the whole build sets
//! `target-cpu`), `sleef` needs nightly `portable_simd`, and `libm`/`f32::exp` are scalar calls
//! the compiler cannot vectorise. These are branch-free polynomial forms (Cephes `expf`,
//! Abramowitz–Stegun 7.1.26 `erf`) so that a loop over a slice compiles to SIMD code inside
//! the `multiversion` functions that call them.

/// `e^x` for `f32`: Cephes' `expf` range reduction and degree-6 polynomial, relative error
/// below 2e-7 over the clamped range; `x` is clamped to [−87.3, 88.3] (so the result is finite
/// and normal), NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.3, 88.3);
    let fx = (x * LOG2E + 0.5).floor();
    let r = x - fx * LN2_HI - fx * LN2_LO;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * z + r + 1.0;
    y * pow2i(fx)
}

/// `2^n` for an integer-valued `n` in [−126, 127], from the bits of `n + 127 + 2^23`: the biased
/// exponent lands in the low mantissa bits, with no float→int conversion (whose saturating `as`
/// keeps loops scalar).
#[inline(always)]
fn pow2i(n: f32) -> f32 {
    let biased = (n + 127.0 + 8_388_608.0)
        .to_bits()
        .wrapping_sub(0x4B00_0000);
    f32::from_bits(biased << 23)
}

/// `2^x` for `f32`: rounding to the nearest integer `n`, the degree-6 Taylor polynomial of
/// `2^f` on `f ∈ [−½, ½]` (relative error below 2e-7), and `2^n` built in the exponent bits;
/// `x` is clamped to [−126, 127]. The attention kernel works in base 2 (log₂e folded into the
/// query scale), which saves the range reduction's multiplies of [`exp`].
#[inline(always)]
pub fn exp2(x: f32) -> f32 {
    let x = x.clamp(-126.0, 127.0);
    let n = x.round_ties_even();
    let f = x - n;
    let p = (((((1.540_353e-4 * f + 1.333_355_8e-3) * f + 9.618_129e-3) * f + 5.550_411e-2) * f
        + 0.240_226_5)
        * f
        + std::f32::consts::LN_2)
        * f
        + 1.0;
    p * pow2i(n)
}

/// `erf(x)` (Abramowitz–Stegun 7.1.26, absolute error below 1.5e-7).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let e = 1.0 - poly * exp(-a * a);
    e.copysign(x)
}

/// Exact (erf) GELU, as `torch.nn.functional.gelu` with `approximate="none"`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `x · sigmoid(x)`.
#[inline(always)]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// `a·b + c`, fused where the CPU has FMA (the kernels are only built for such targets).
#[inline(always)]
pub fn madd(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_to_float_precision() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
        assert!(exp(1000.0).is_finite());
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn exp2_matches_std_to_float_precision() {
        let mut worst = 0f64;
        let mut x = -125.0f32;
        while x < 126.0 {
            let (got, want) = (exp2(x) as f64, (x as f64).exp2());
            worst = worst.max(((got - want) / want).abs());
            x += 0.0173;
        }
        assert!(worst < 3e-7, "relative error {worst:e}");
        assert_eq!(exp2(0.0), 1.0);
        assert_eq!(exp2(3.0), 8.0);
        assert!(exp2(f32::NEG_INFINITY) < 1e-37);
        assert!(exp2(f32::NAN).is_nan());
    }

    #[test]
    fn erf_gelu_silu_match_reference_values() {
        for (x, want) in [
            (0.0f32, 0.0f64),
            (0.5, 0.520_499_877_813_046_5),
            (-1.0, -0.842_700_792_949_714_9),
            (2.5, 0.999_593_047_982_555),
            (-4.0, -0.999_999_984_582_742),
        ] {
            assert!((erf(x) as f64 - want).abs() < 2e-7, "erf({x}) = {}", erf(x));
        }
        // torch.nn.functional.gelu(torch.tensor([-3., -0.5, 0.7, 2.]))
        for (x, want) in [
            (-3.0f32, -0.004_049_694f32),
            (-0.5, -0.154_268_49),
            (0.7, 0.530_625_4),
            (2.0, 1.954_5),
        ] {
            assert!((gelu(x) - want).abs() < 1e-5, "gelu({x}) = {}", gelu(x));
        }
        assert!((silu(1.5) - 1.5 / (1.0 + (-1.5f32).exp())).abs() < 1e-6);
        assert!(silu(-200.0).abs() < 1e-30);
    }
}
