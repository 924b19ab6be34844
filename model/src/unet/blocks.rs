//! Down, mid and up blocks of the inflated UNet (ports diffusers `unets/unet_motion_model.py`
//! `CrossAttnDownBlockMotion`/`DownBlockMotion`/`CrossAttnUpBlockMotion`/`UpBlockMotion` and
//! `unet_2d_blocks.UNetMidBlock2DCrossAttn`; AnimateDiff `unet_blocks.py` is the same layout).
//! One struct per direction: `attentions` is empty in the blocks without cross-attention and
//! `motion_modules` is empty in a UNet without motion modules. Activations are `[b·f, c, h, w]`.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::attention::{Transformer2DModel, Transformer2DModelConfig};
use super::resnet::{Downsample2D, ResnetBlock2D, ResnetBlock2DConfig, Upsample2D};
use crate::motion::{MotionModule, MotionModuleConfig};

/// What every block of one UNet shares.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    /// Time embedding width.
    pub temb: usize,
    /// GroupNorm groups.
    pub groups: usize,
    /// Resnet GroupNorm epsilon.
    pub eps: f64,
    /// Spatial attention heads.
    pub heads: usize,
    /// Text context width.
    pub cross_attention_dim: usize,
    /// Motion modules (their `in_channels` is replaced per block), or none.
    pub motion: Option<MotionModuleConfig>,
}

impl BlockSpec {
    fn resnet<B: Backend>(&self, cin: usize, cout: usize, device: &B::Device) -> ResnetBlock2D<B> {
        ResnetBlock2DConfig::new(cin, cout, self.temb)
            .with_groups(self.groups)
            .with_eps(self.eps)
            .init(device)
    }

    fn attention<B: Backend>(&self, c: usize, device: &B::Device) -> Transformer2DModel<B> {
        Transformer2DModelConfig::new(c, self.heads, self.cross_attention_dim)
            .with_norm_num_groups(self.groups)
            .init(device)
    }

    fn motion<B: Backend>(&self, c: usize, device: &B::Device) -> Option<MotionModule<B>> {
        self.motion.as_ref().map(|m| {
            let mut m = m.clone();
            m.in_channels = c;
            m.init(device)
        })
    }
}

/// A down block: `layers` × (resnet → [attention] → [motion module]), then an optional
/// stride-2 downsampler.
#[derive(Module, Debug)]
pub struct DownBlock<B: Backend> {
    /// Resnets.
    pub resnets: Vec<ResnetBlock2D<B>>,
    /// Spatial transformers (empty for `DownBlockMotion`).
    pub attentions: Vec<Transformer2DModel<B>>,
    /// Motion modules (empty without AnimateDiff).
    pub motion_modules: Vec<MotionModule<B>>,
    /// `downsamplers.0` (empty in the last block).
    pub downsamplers: Vec<Downsample2D<B>>,
}

impl<B: Backend> DownBlock<B> {
    /// Builds a down block.
    pub fn new(
        spec: &BlockSpec,
        cin: usize,
        cout: usize,
        layers: usize,
        cross_attn: bool,
        downsample: bool,
        device: &B::Device,
    ) -> Self {
        Self {
            resnets: (0..layers)
                .map(|i| spec.resnet(if i == 0 { cin } else { cout }, cout, device))
                .collect(),
            attentions: if cross_attn {
                (0..layers).map(|_| spec.attention(cout, device)).collect()
            } else {
                vec![]
            },
            motion_modules: (0..layers)
                .filter_map(|_| spec.motion(cout, device))
                .collect(),
            downsamplers: if downsample {
                vec![Downsample2D::new(cout, device)]
            } else {
                vec![]
            },
        }
    }

    /// Returns the output and the skip states (one per layer, plus the downsampled one).
    pub fn forward(
        &self,
        mut x: Tensor<B, 4>,
        temb: &Tensor<B, 2>,
        context: &Tensor<B, 3>,
        frames: usize,
    ) -> (Tensor<B, 4>, Vec<Tensor<B, 4>>) {
        let mut states = Vec::with_capacity(self.resnets.len() + 1);
        for (i, resnet) in self.resnets.iter().enumerate() {
            x = resnet.forward(x, temb.clone());
            if let Some(attn) = self.attentions.get(i) {
                x = attn.forward(x, context.clone());
            }
            if let Some(mm) = self.motion_modules.get(i) {
                x = mm.forward(x, frames);
            }
            states.push(x.clone());
        }
        for down in &self.downsamplers {
            x = down.forward(x);
            states.push(x.clone());
        }
        (x, states)
    }
}

/// The mid block: resnet → attention → resnet (no motion module in AnimateDiff v3).
#[derive(Module, Debug)]
pub struct MidBlock<B: Backend> {
    /// Two resnets.
    pub resnets: Vec<ResnetBlock2D<B>>,
    /// One spatial transformer.
    pub attentions: Vec<Transformer2DModel<B>>,
}

impl<B: Backend> MidBlock<B> {
    /// Builds the mid block for `c` channels.
    pub fn new(spec: &BlockSpec, c: usize, device: &B::Device) -> Self {
        Self {
            resnets: vec![spec.resnet(c, c, device), spec.resnet(c, c, device)],
            attentions: vec![spec.attention(c, device)],
        }
    }

    /// `[n, c, h, w]` → same.
    pub fn forward(
        &self,
        x: Tensor<B, 4>,
        temb: &Tensor<B, 2>,
        context: &Tensor<B, 3>,
    ) -> Tensor<B, 4> {
        let mut x = self.resnets[0].forward(x, temb.clone());
        for (attn, resnet) in self.attentions.iter().zip(&self.resnets[1..]) {
            x = attn.forward(x, context.clone());
            x = resnet.forward(x, temb.clone());
        }
        x
    }
}

/// An up block: `layers + 1` × (concat skip → resnet → [attention] → [motion module]), then an
/// optional nearest ×2 upsampler.
#[derive(Module, Debug)]
pub struct UpBlock<B: Backend> {
    /// Resnets.
    pub resnets: Vec<ResnetBlock2D<B>>,
    /// Spatial transformers (empty for `UpBlockMotion`).
    pub attentions: Vec<Transformer2DModel<B>>,
    /// Motion modules.
    pub motion_modules: Vec<MotionModule<B>>,
    /// `upsamplers.0` (empty in the last block).
    pub upsamplers: Vec<Upsample2D<B>>,
}

impl<B: Backend> UpBlock<B> {
    /// Builds an up block. `skip_in` is the width of the deepest skip (the level below),
    /// `prev` the width coming from the previous up block.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: &BlockSpec,
        skip_in: usize,
        prev: usize,
        cout: usize,
        layers: usize,
        cross_attn: bool,
        upsample: bool,
        device: &B::Device,
    ) -> Self {
        let resnets = (0..layers)
            .map(|i| {
                let res_skip = if i == layers - 1 { skip_in } else { cout };
                let res_in = if i == 0 { prev } else { cout };
                spec.resnet(res_in + res_skip, cout, device)
            })
            .collect();
        Self {
            resnets,
            attentions: if cross_attn {
                (0..layers).map(|_| spec.attention(cout, device)).collect()
            } else {
                vec![]
            },
            motion_modules: (0..layers)
                .filter_map(|_| spec.motion(cout, device))
                .collect(),
            upsamplers: if upsample {
                vec![Upsample2D::new(cout, device)]
            } else {
                vec![]
            },
        }
    }

    /// `skips` are consumed from the end (deepest first).
    pub fn forward(
        &self,
        mut x: Tensor<B, 4>,
        skips: &mut Vec<Tensor<B, 4>>,
        temb: &Tensor<B, 2>,
        context: &Tensor<B, 3>,
        frames: usize,
    ) -> Tensor<B, 4> {
        for (i, resnet) in self.resnets.iter().enumerate() {
            let skip = skips.pop().expect("one skip state per up resnet");
            x = resnet.forward(Tensor::cat(vec![x, skip], 1), temb.clone());
            if let Some(attn) = self.attentions.get(i) {
                x = attn.forward(x, context.clone());
            }
            if let Some(mm) = self.motion_modules.get(i) {
                x = mm.forward(x, frames);
            }
        }
        for up in &self.upsamplers {
            // the next skip fixes the size when the latent is not a multiple of the total stride
            let size = skips.last().map(|s| {
                let d = s.dims();
                [d[2], d[3]]
            });
            x = up.forward(x, size);
        }
        x
    }
}
