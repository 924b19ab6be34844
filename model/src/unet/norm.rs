//! GroupNorm and LayerNorm with torch's parameter names (`weight`, `bias`), so checkpoint keys map
//! one to one (ports `torch.nn.GroupNorm` / `torch.nn.LayerNorm` as diffusers uses them).
//!
//! On burn-flex (`f32`) both run as the fused kernels of [`crate::kernels::norm`] (GroupNorm
//! optionally with the SiLU that follows it in every resnet block); elsewhere GroupNorm is one
//! reshape to `[n, groups, rest]` and a single mean/variance pass.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::kernels;

/// Config of a [`GroupNorm`].
#[derive(Config, Debug)]
pub struct GroupNormConfig {
    /// Number of groups the channels are split into.
    pub num_groups: usize,
    /// Number of channels (dim 1 of the input).
    pub num_channels: usize,
    /// Added to the variance.
    #[config(default = 1e-5)]
    pub eps: f64,
}

/// Group normalisation over dim 1 of `[n, c, ...]` with an affine per channel.
#[derive(Module, Debug)]
pub struct GroupNorm<B: Backend> {
    /// Scale, `[c]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Shift, `[c]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Number of groups.
    pub num_groups: usize,
    /// Epsilon.
    pub eps: f64,
}

impl GroupNormConfig {
    /// Builds the module: weight 1, bias 0.
    pub fn init<B: Backend>(&self, device: &B::Device) -> GroupNorm<B> {
        assert!(
            self.num_channels.is_multiple_of(self.num_groups),
            "GroupNorm: {} channels are not divisible into {} groups",
            self.num_channels,
            self.num_groups
        );
        GroupNorm {
            weight: Param::from_tensor(Tensor::ones([self.num_channels], device)),
            bias: Param::from_tensor(Tensor::zeros([self.num_channels], device)),
            num_groups: self.num_groups,
            eps: self.eps,
        }
    }
}

impl<B: Backend> GroupNorm<B> {
    /// Normalises `[n, c, d2, ...]` (any rank >= 3) per sample and group.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.fused(x, 1, false)
            .unwrap_or_else(|x| self.forward_generic(x))
    }

    /// `silu(self.forward(x))`, in one pass on burn-flex.
    pub fn forward_silu<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.fused(x, 1, true)
            .unwrap_or_else(|x| silu(self.forward_generic(x)))
    }

    /// The fused kernel when the backend is burn-flex with `f32` values; `x` `[n·frames, c, …]`
    /// with the statistics of each run of `frames` samples taken together (1: per sample).
    fn fused<const D: usize>(
        &self,
        x: Tensor<B, D>,
        frames: usize,
        with_silu: bool,
    ) -> Result<Tensor<B, D>, Tensor<B, D>> {
        if !kernels::is_flex_f32(&x) {
            return Err(x);
        }
        let dims = x.dims();
        let c = dims[1];
        let rest: usize = dims[2..].iter().product();
        let (x, w, b) = (
            kernels::flex_f32(x),
            kernels::flex_f32(self.weight.val()),
            kernels::flex_f32(self.bias.val()),
        );
        let y = kernels::norm::group_norm(
            kernels::values(&x),
            frames,
            c,
            rest,
            self.num_groups,
            kernels::values(&w),
            kernels::values(&b),
            self.eps,
            with_silu,
        );
        Ok(kernels::flex_tensor(y, dims))
    }

    /// `x` `[b·f, c, h, w]` (frame-major videos of `frames` frames) normalised per video over
    /// `(c, f, h, w)`, as diffusers' motion modules do; same layout out.
    pub fn forward_video(&self, x: Tensor<B, 4>, frames: usize) -> Tensor<B, 4> {
        self.fused(x, frames, false).unwrap_or_else(|x| {
            let dims = x.dims();
            let [bf, c, h, w] = dims;
            let v = x.reshape([bf / frames, frames, c, h * w]).swap_dims(1, 2);
            self.forward_generic(v).swap_dims(1, 2).reshape(dims)
        })
    }

    /// Burn's ops (every backend; the reference of the fused kernel).
    pub fn forward_generic<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dims = x.dims();
        let (n, c) = (dims[0], dims[1]);
        let rest: usize = dims[2..].iter().product();
        let g = self.num_groups;
        // [n, g, c/g * rest]: statistics over each group.
        let xg = x.reshape([n, g, (c / g) * rest]);
        let (var, mean) = xg.clone().var_mean_bias(2);
        let xg = (xg - mean) / (var + self.eps).sqrt();
        // affine per channel: [1, c, rest] broadcast.
        let xc = xg.reshape([n, c, rest]);
        let w = self.weight.val().reshape([1, c, 1]);
        let b = self.bias.val().reshape([1, c, 1]);
        (xc * w + b).reshape(dims)
    }
}

/// Config of a [`LayerNorm`].
#[derive(Config, Debug)]
pub struct LayerNormConfig {
    /// Size of the last dimension.
    pub d_model: usize,
    /// Added to the variance.
    #[config(default = 1e-5)]
    pub eps: f64,
}

/// Layer normalisation over the last dimension with an affine.
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// Scale, `[d]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Shift, `[d]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Epsilon.
    pub eps: f64,
}

impl LayerNormConfig {
    /// Builds the module: weight 1, bias 0.
    pub fn init<B: Backend>(&self, device: &B::Device) -> LayerNorm<B> {
        LayerNorm {
            weight: Param::from_tensor(Tensor::ones([self.d_model], device)),
            bias: Param::from_tensor(Tensor::zeros([self.d_model], device)),
            eps: self.eps,
        }
    }
}

impl<B: Backend> LayerNorm<B> {
    /// Normalises the last dimension of `[b, l, d]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if kernels::is_flex_f32(&x) {
            let dims = x.dims();
            let (x, w, b) = (
                kernels::flex_f32(x),
                kernels::flex_f32(self.weight.val()),
                kernels::flex_f32(self.bias.val()),
            );
            let y = kernels::norm::layer_norm(
                kernels::values(&x),
                dims[2],
                kernels::values(&w),
                kernels::values(&b),
                self.eps,
            );
            return kernels::flex_tensor(y, dims);
        }
        self.forward_generic(x)
    }

    /// Burn's ops (every backend; the reference of the fused kernel).
    pub fn forward_generic(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let (var, mean) = x.clone().var_mean_bias(2);
        let x = (x - mean) / (var + self.eps).sqrt();
        let d = self.weight.dims()[0];
        x * self.weight.val().reshape([1, 1, d]) + self.bias.val().reshape([1, 1, d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use burn::tensor::TensorData;

    #[test]
    fn group_norm_normalises_each_group() {
        let dev = Default::default();
        let gn = GroupNormConfig::new(2, 4).with_eps(0.0).init::<Cpu>(&dev);
        let x = Tensor::<Cpu, 1>::from_floats(
            [
                1., 2., 3., 4., 10., 20., 30., 40., 5., 5., 5., 7., -1., 0., 1., 2.,
            ],
            &dev,
        )
        .reshape([1, 4, 2, 2]);
        let y = gn.forward(x).reshape([2, 8]);
        let (var, mean) = y.var_mean_bias(1);
        let m: Vec<f32> = mean.into_data().to_vec().unwrap();
        let v: Vec<f32> = var.into_data().to_vec().unwrap();
        for (m, v) in m.iter().zip(&v) {
            assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-4, "mean {m} var {v}");
        }
        let _ = TensorData::from([0f32]);
    }

    #[test]
    fn fused_norms_equal_generic() {
        use burn::tensor::Distribution;
        let dev = Default::default();
        let mut gn = GroupNormConfig::new(4, 8).with_eps(1e-6).init::<Cpu>(&dev);
        gn.weight = Param::from_tensor(Tensor::random([8], Distribution::Normal(1.0, 0.3), &dev));
        gn.bias = Param::from_tensor(Tensor::random([8], Distribution::Normal(0.0, 0.3), &dev));
        let x = Tensor::<Cpu, 5>::random([2, 8, 3, 5, 7], Distribution::Normal(2.0, 3.0), &dev);
        let d = |a: Tensor<Cpu, 5>, b: Tensor<Cpu, 5>| -> f32 { (a - b).abs().max().into_scalar() };
        assert!(d(gn.forward(x.clone()), gn.forward_generic(x.clone())) < 1e-5);
        assert!(
            d(
                gn.forward_silu(x.clone()),
                silu(gn.forward_generic(x.clone()))
            ) < 1e-5
        );
        // a non-contiguous input (the motion module's [b, c, f, hw] view)
        let xt = x.clone().swap_dims(1, 2).swap_dims(1, 2);
        assert!(d(gn.forward(xt), gn.forward_generic(x)) < 1e-5);
        let mut ln = LayerNormConfig::new(12).init::<Cpu>(&dev);
        ln.weight = Param::from_tensor(Tensor::random([12], Distribution::Normal(1.0, 0.3), &dev));
        let y = Tensor::<Cpu, 3>::random([3, 9, 12], Distribution::Normal(-1.0, 2.0), &dev);
        let e: f32 = (ln.forward(y.clone()) - ln.forward_generic(y))
            .abs()
            .max()
            .into_scalar();
        assert!(e < 1e-5, "{e}");
    }
}
