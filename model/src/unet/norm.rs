//! GroupNorm and LayerNorm with torch's parameter names (`weight`, `bias`), so checkpoint keys map
//! one to one (ports `torch.nn.GroupNorm` / `torch.nn.LayerNorm` as diffusers uses them).
//!
//! GroupNorm is computed as one reshape to `[n, groups, rest]` and a single mean/variance pass,
//! which is what makes it cheaper on burn-flex than the generic `burn::nn::GroupNorm`.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

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
}
