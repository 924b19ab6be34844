//! Batched transpose `[batch, rows, cols] → [batch, cols, rows]`: the token layout changes of
//! the spatial transformers (`[n, c, h·w] ↔ [n, h·w, c]`) and of the motion modules
//! (`[b, f·c, h·w] ↔ [b, h·w, f·c]`). Burn's flex materialises such permuted views through a
//! per-element strided iterator; this copies tiles, reading contiguous row segments and writing
//! each output row segment in cache.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::{flex_f32, flex_tensor, is_flex_f32, values};

/// Output rows (input columns) per tile.
const TILE: usize = 16;

/// `x` `[batch, rows, cols]` → `[batch, cols, rows]` (row-major both).
pub fn transpose(x: &[f32], batch: usize, rows: usize, cols: usize) -> Vec<f32> {
    assert_eq!(
        x.len(),
        batch * rows * cols,
        "transpose: {} values",
        x.len()
    );
    let mut out = vec![0f32; x.len()];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(rows * cols)
        .zip(x.par_chunks(rows * cols))
        .for_each(|(ob, xb)| {
            ob.par_chunks_mut(TILE * rows)
                .enumerate()
                .for_each(|(t, o)| {
                    let c0 = t * TILE;
                    let tc = o.len() / rows;
                    for (i, xr) in xb.chunks_exact(cols).enumerate() {
                        for (k, &v) in xr[c0..c0 + tc].iter().enumerate() {
                            o[k * rows + i] = v;
                        }
                    }
                });
        });
    out
}

/// The last two dims of `x` swapped, as a contiguous tensor on burn-flex (a view elsewhere).
pub fn swap_last2<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    if !is_flex_f32(&x) {
        return x.swap_dims(1, 2);
    }
    let [b, r, c] = x.dims();
    let t = flex_f32(x);
    flex_tensor(transpose(values(&t), b, r, c), [b, c, r])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use burn::tensor::Distribution;

    #[test]
    fn transposes_every_batch_with_ragged_tiles() {
        let (b, r, c) = (3, 5, 37);
        let x: Vec<f32> = (0..b * r * c).map(|i| i as f32).collect();
        let y = transpose(&x, b, r, c);
        for bi in 0..b {
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(y[(bi * c + j) * r + i], x[(bi * r + i) * c + j]);
                }
            }
        }
    }

    #[test]
    fn swap_last2_equals_swap_dims() {
        let x = Tensor::<Cpu, 3>::random([2, 33, 20], Distribution::Default, &Default::default());
        let d: f32 = (swap_last2(x.clone()) - x.swap_dims(1, 2))
            .abs()
            .max()
            .into_scalar();
        assert_eq!(d, 0.0);
    }
}
