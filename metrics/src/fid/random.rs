//! Closed-form pseudo-random FID Inception weights, bit-identical to `generate` in
//! `tools/metrics/make_fid_fixture.py` (integer hashing only): value i of tensor `key` is
//! `u = splitmix64(fnv1a64(key) + i)` mapped to [−1, 1) from its top 53 bits; conv weights
//! `u·√(6/fan_in)`, BatchNorm `weight = 1 + 0.1u`, `bias = running_mean = 0.1u`,
//! `running_var = 1 + 0.25(u + 1)`. Lets the parity test check the whole network against
//! pytorch-fid's code without committing 95 MB of random weights.

use std::path::PathBuf;

use super::loader::TensorSource;
use crate::error::{MetricsError, Result};

fn fnv1a64(text: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` values in [−1, 1) for `key`.
pub fn uniform(key: &str, n: usize) -> Vec<f64> {
    let base = fnv1a64(key);
    (0..n as u64)
        .map(|i| (splitmix64(base.wrapping_add(i)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        .collect()
}

/// A state dict generated on demand from each requested key and shape.
pub struct GeneratedWeights;

impl TensorSource for GeneratedWeights {
    fn tensor(&self, key: &str, shape: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
        let n: usize = shape.iter().product();
        let u = uniform(key, n);
        let v: Vec<f64> = if key.ends_with("conv.weight") {
            let fan_in: usize = shape[1..].iter().product();
            let a = (6.0 / fan_in as f64).sqrt();
            u.into_iter().map(|u| u * a).collect()
        } else if key.ends_with("bn.weight") {
            u.into_iter().map(|u| 1.0 + 0.1 * u).collect()
        } else if key.ends_with("bn.bias") || key.ends_with("bn.running_mean") {
            u.into_iter().map(|u| 0.1 * u).collect()
        } else if key.ends_with("bn.running_var") {
            u.into_iter().map(|u| 1.0 + 0.25 * (u + 1.0)).collect()
        } else {
            return Err(MetricsError::BadTensor {
                path: self.origin(),
                key: key.to_string(),
                detail: "no generator for this key".into(),
            });
        };
        Ok((v.into_iter().map(|x| x as f32).collect(), shape.to_vec()))
    }

    fn origin(&self) -> PathBuf {
        PathBuf::from("<generated FID Inception weights>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_reference_values() {
        // splitmix64 reference: first outputs of the generator seeded with 0
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(fnv1a64(""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xAF63_DC4C_8601_EC8C);
    }
}
