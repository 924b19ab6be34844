//! `Linear` on token batches `[b, l, in]` as one `[b·l, in] × [in, out]` product.
//!
//! Burn's `Linear` on a rank-3 input broadcasts the weight to a batched matmul, which burn-flex
//! runs as `b` separate GEMMs: 8,192 products of 16 rows each in a motion module at 64×64
//! latents. Folding the batch into the rows gives the GEMM one large, well-shaped problem; on
//! other backends the reshape is free and the result the same.

use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `lin` applied to every row of `x` `[b, l, in]` → `[b, l, out]`.
pub fn linear_rows<B: Backend>(lin: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, l, d] = x.dims();
    let y = lin.forward(x.reshape([b * l, d]));
    let out = y.dims()[1];
    y.reshape([b, l, out])
}
