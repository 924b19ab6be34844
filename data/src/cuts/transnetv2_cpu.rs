//! TransNetV2's convolution stack (the three `StackedDDCNNV2` blocks) on the CPU, channels-last.
//!
//! The Burn module in [`super::transnetv2`] is the reference and runs on any backend. On the CPU
//! its convolutions go through burn-flex's generic conv3d/conv2d, which converts every input to
//! NHWC with element-by-element strided copies, builds im2col tiles and converts back; with
//! TransNetV2's small frames (48×27) those copies took more time than the arithmetic (perf:
//! ~35% strided iteration vs ~30% GEMM), and one 100-frame window took ~2.4 s against PyTorch's
//! 0.5 s. No crate offers a channels-last 3-D convolution with these shapes, so this file keeps
//! activations as `[frames, h, w, c]` (the layout upstream's final flatten wants anyway) and
//! calls the `gemm` crate (the same GEMM burn-flex uses) directly:
//! - the (1,3,3) spatial convolutions of the four branches: one im2col per frame and one GEMM
//!   with the four branches' kernels side by side;
//! - the dilated (3,1,1) temporal convolutions: three GEMMs per branch on time-shifted row
//!   ranges of the same buffer (a shift in time is a contiguous offset in this layout), no
//!   copies; eval-mode BatchNorm is folded into their weights and a per-channel shift.
//!
//! Weights are packed once from the loaded Burn module.

use burn::tensor::backend::Backend;
use rayon::prelude::*;

use super::transnetv2::{to_vec as values, DilatedDCNNV2, TransNetV2Net};

/// Temporal dilations of the four branches (`Conv3D_1/2/4/8`).
const DILATIONS: [usize; 4] = [1, 2, 4, 8];
/// BatchNorm3d's epsilon in upstream.
const BN_EPS: f32 = 1e-3;

/// One `DilatedDCNNV2`, packed.
#[derive(Debug, Clone)]
struct Layer {
    cin: usize,
    /// Filters per branch (F); the spatial conv has 2F outputs per branch, the temporal F.
    f: usize,
    /// Spatial kernels `[9·cin, 8F]`, row `(kh·3 + kw)·cin + c`, branches side by side.
    spatial: Vec<f32>,
    /// Per branch, per tap k (time offset (k − 1)·d): `[2F, F]`, BatchNorm scale folded in.
    temporal: [Vec<f32>; 4],
    /// BatchNorm shift per output channel `[4F]`.
    shift: Vec<f32>,
}

/// The packed convolution stack.
#[derive(Debug, Clone)]
pub struct CpuConvStack {
    /// `blocks[i]` = the DDCNN layers of `SDDCNN.i`.
    blocks: Vec<Vec<Layer>>,
}

/// What the stack produces for `n` frames.
pub struct StackOutput {
    /// `[n, h·w·c]` of the last block, flattened in (h, w, c) order like upstream.
    pub features: Vec<f32>,
    pub feature_dim: usize,
    /// Per block: spatial means `[n, c_i]` of its (pooled) output.
    pub means: Vec<(Vec<f32>, usize)>,
}

impl Layer {
    fn pack<B: Backend>(m: &DilatedDCNNV2<B>) -> Self {
        let branches = [&m.Conv3D_1, &m.Conv3D_2, &m.Conv3D_4, &m.Conv3D_8];
        let [o2, cin, _, _, _] = branches[0].layers[0].weight.dims();
        let f = o2 / 2;
        // spatial: [2F, cin, 1, 3, 3] per branch → columns i·2F + o of [9·cin, 8F]
        let mut spatial = vec![0f32; 9 * cin * 8 * f];
        for (i, br) in branches.iter().enumerate() {
            let w = values(br.layers[0].weight.val());
            for o in 0..2 * f {
                for c in 0..cin {
                    for k in 0..9 {
                        spatial[(k * cin + c) * 8 * f + i * 2 * f + o] = w[(o * cin + c) * 9 + k];
                    }
                }
            }
        }
        // BatchNorm (eval): y = scale·x + shift
        let g = values(m.bn.weight.val());
        let beta = values(m.bn.bias.val());
        let mean = values(m.bn.running_mean.val());
        let var = values(m.bn.running_var.val());
        let scale: Vec<f32> = g
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + BN_EPS).sqrt())
            .collect();
        let shift: Vec<f32> = (0..4 * f).map(|j| beta[j] - mean[j] * scale[j]).collect();
        // temporal: [F, 2F, 3, 1, 1] per branch → per tap [2F, F] (scaled columns)
        let temporal = std::array::from_fn(|i| {
            let w = values(branches[i].layers[1].weight.val());
            let mut t = vec![0f32; 3 * 2 * f * f];
            for k in 0..3 {
                for c in 0..2 * f {
                    for j in 0..f {
                        t[(k * 2 * f + c) * f + j] = w[(j * 2 * f + c) * 3 + k] * scale[i * f + j];
                    }
                }
            }
            t
        });
        Self {
            cin,
            f,
            spatial,
            temporal,
            shift,
        }
    }

    /// x: `[n, h, w, cin]` → `[n, h, w, 4F]` (b windows of t frames each, n = b·t).
    fn forward(&self, x: &[f32], b: usize, t: usize, h: usize, w: usize, relu: bool) -> Vec<f32> {
        let y = self.spatial_conv(x, b * t, h, w);
        self.temporal_conv(&y, b, t, h * w, relu)
    }

    /// The four branches' (1,3,3) convolutions, padding 1: `[n, h, w, cin]` → `[n, h, w, 8F]`.
    fn spatial_conv(&self, x: &[f32], n: usize, h: usize, w: usize) -> Vec<f32> {
        let (c, o) = (self.cin, 8 * self.f);
        let (hw, kdim) = (h * w, 9 * self.cin);
        let mut y = vec![0f32; n * hw * o];
        // image rows per GEMM: about 256 output pixels
        let rows = (256 / w).clamp(1, h);
        y.par_chunks_mut(hw * o).enumerate().for_each_init(
            || vec![0f32; rows * w * kdim],
            |col, (fi, yf)| {
                let xf = &x[fi * hw * c..(fi + 1) * hw * c];
                for y0 in (0..h).step_by(rows) {
                    let y1 = (y0 + rows).min(h);
                    for yy in y0..y1 {
                        for xx in 0..w {
                            let r = (yy - y0) * w + xx;
                            let dst = &mut col[r * kdim..(r + 1) * kdim];
                            for kh in 0..3 {
                                for kw in 0..3 {
                                    let seg = &mut dst[(kh * 3 + kw) * c..(kh * 3 + kw + 1) * c];
                                    let (sy, sx) =
                                        ((yy + kh).wrapping_sub(1), (xx + kw).wrapping_sub(1));
                                    if sy < h && sx < w {
                                        let s = (sy * w + sx) * c;
                                        seg.copy_from_slice(&xf[s..s + c]);
                                    } else {
                                        seg.fill(0.0);
                                    }
                                }
                            }
                        }
                    }
                    let m = (y1 - y0) * w;
                    // SAFETY: dst is the m×o block of `yf` starting at row y0·w (row stride o),
                    // lhs the m×kdim im2col tile, rhs the kdim×o kernel matrix; all in bounds.
                    unsafe {
                        gemm::gemm(
                            m,
                            o,
                            kdim,
                            yf[y0 * w * o..].as_mut_ptr(),
                            1,
                            o as isize,
                            false,
                            col.as_ptr(),
                            1,
                            kdim as isize,
                            self.spatial.as_ptr(),
                            1,
                            o as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
            },
        );
        y
    }

    /// Each branch's dilated (3,1,1) convolution (padding = dilation) on its 2F channels of
    /// `y` `[b·t, hw, 8F]`, then BatchNorm and optionally ReLU: → `[b·t, hw, 4F]`.
    fn temporal_conv(&self, y: &[f32], b: usize, t: usize, hw: usize, relu: bool) -> Vec<f32> {
        let f = self.f;
        let (yc, zc) = (8 * f, 4 * f);
        let mut z = vec![0f32; b * t * hw * zc];
        // frames per task: GEMMs of at least ~2048 rows
        let chunk = (2048 / hw).clamp(1, t);
        let tasks: Vec<(usize, usize)> = (0..b)
            .flat_map(|bi| (0..t).step_by(chunk).map(move |t0| (bi, t0)))
            .collect();
        // split z into the tasks' disjoint frame ranges
        let mut parts: Vec<(&mut [f32], usize, usize)> = Vec::with_capacity(tasks.len());
        let mut rest: &mut [f32] = &mut z;
        for &(bi, t0) in &tasks {
            let len = (chunk.min(t - t0)) * hw * zc;
            let (head, tail) = rest.split_at_mut(len);
            parts.push((head, bi, t0));
            rest = tail;
        }
        parts.into_par_iter().for_each(|(zp, bi, t0)| {
            let t1 = t0 + zp.len() / (hw * zc);
            for (i, &d) in DILATIONS.iter().enumerate() {
                // tap 1 (no shift) first: it covers every frame and initialises the output
                for (k, first) in [(1usize, true), (0, false), (2, false)] {
                    let s = (k as isize - 1) * d as isize;
                    // destination frames whose source frame t + s lies in [0, t)
                    let lo = (t0 as isize).max(-s) as usize;
                    let hi = (t1 as isize).min(t as isize - s);
                    if hi <= lo as isize {
                        continue;
                    }
                    let hi = hi as usize;
                    let m = (hi - lo) * hw;
                    let src = ((bi * t) as isize + lo as isize + s) as usize * hw * yc + i * 2 * f;
                    let dst = (lo - t0) * hw * zc + i * f;
                    let taps = &self.temporal[i][k * 2 * f * f..(k + 1) * 2 * f * f];
                    // SAFETY: dst rows lo..hi of this task's part (row stride 4F, F columns at
                    // i·F), lhs the source rows of `y` (row stride 8F, 2F columns at i·2F),
                    // rhs the 2F×F tap matrix; all ranges were bounded above.
                    unsafe {
                        gemm::gemm(
                            m,
                            f,
                            2 * f,
                            zp[dst..].as_mut_ptr(),
                            1,
                            zc as isize,
                            !first,
                            y[src..].as_ptr(),
                            1,
                            yc as isize,
                            taps.as_ptr(),
                            1,
                            f as isize,
                            1.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
            }
            for row in zp.chunks_exact_mut(zc) {
                for (v, s) in row.iter_mut().zip(&self.shift) {
                    *v += s;
                    if relu {
                        *v = v.max(0.0);
                    }
                }
            }
        });
        z
    }
}

impl CpuConvStack {
    /// Pack the convolution weights of a loaded network.
    pub fn pack<B: Backend>(net: &TransNetV2Net<B>) -> Self {
        Self {
            blocks: net
                .SDDCNN
                .iter()
                .map(|s| s.DDCNN.iter().map(Layer::pack).collect())
                .collect(),
        }
    }

    /// frames: uint8 `[b, t, h, w, 3]` (b windows of t frames) → features and block means.
    pub fn forward(&self, frames: &[u8], b: usize, t: usize, h: usize, w: usize) -> StackOutput {
        let n = b * t;
        let mut x: Vec<f32> = frames.iter().map(|&v| f32::from(v) / 255.0).collect();
        let (mut h, mut w, mut c) = (h, w, 3);
        let mut means = Vec::new();
        for block in &self.blocks {
            let mut shortcut: Option<Vec<f32>> = None;
            let last = block.len() - 1;
            for (j, layer) in block.iter().enumerate() {
                debug_assert_eq!(layer.cin, c);
                x = layer.forward(&x, b, t, h, w, j != last);
                c = 4 * layer.f;
                if shortcut.is_none() {
                    shortcut = Some(x.clone());
                }
            }
            // relu(x) + shortcut, then AvgPool (1,2,2) (floor) and the per-frame spatial mean
            let s = shortcut.expect("a block has at least one layer");
            let (ph, pw) = (h / 2, w / 2);
            let mut pooled = vec![0f32; n * ph * pw * c];
            let mut mean = vec![0f32; n * c];
            pooled
                .par_chunks_mut(ph * pw * c)
                .zip(mean.par_chunks_mut(c))
                .enumerate()
                .for_each(|(fi, (pf, mf))| {
                    let base = fi * h * w * c;
                    let at = |yy: usize, xx: usize, k: usize| {
                        let i = base + (yy * w + xx) * c + k;
                        x[i].max(0.0) + s[i]
                    };
                    for py in 0..ph {
                        for px in 0..pw {
                            let o = &mut pf[(py * pw + px) * c..(py * pw + px + 1) * c];
                            for (k, v) in o.iter_mut().enumerate() {
                                *v = 0.25
                                    * (at(2 * py, 2 * px, k)
                                        + at(2 * py, 2 * px + 1, k)
                                        + at(2 * py + 1, 2 * px, k)
                                        + at(2 * py + 1, 2 * px + 1, k));
                                mf[k] += *v;
                            }
                        }
                    }
                    let inv = 1.0 / (ph * pw) as f32;
                    mf.iter_mut().for_each(|v| *v *= inv);
                });
            x = pooled;
            (h, w) = (ph, pw);
            means.push((mean, c));
        }
        StackOutput {
            features: x,
            feature_dim: h * w * c,
            means,
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::module::{Module, ModuleMapper, Param};
    use burn::tensor::Distribution;
    use burn::tensor::Tensor;

    use super::*;
    use crate::cuts::transnetv2::{Cpu, TransNetV2Config};

    /// Every parameter uniform in [-1, 1).
    struct Randomise;
    impl<B: Backend> ModuleMapper<B> for Randomise {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            let (id, t, mapper) = p.consume();
            let r = Tensor::random(t.shape(), Distribution::Uniform(-1.0, 1.0), &t.device());
            Param::from_mapped_value(id, r, mapper)
        }
    }

    #[test]
    fn packed_stack_matches_the_burn_module() {
        // small filters, the published block layout (3 blocks of 2), two windows of 12 frames:
        // every branch's dilation reaches past both ends of a window
        let cfg = TransNetV2Config {
            f: 4,
            ..Default::default()
        };
        let dev = Default::default();
        <Cpu as Backend>::seed(&dev, 7);
        let mut net = cfg.init::<Cpu>(&dev).map(&mut Randomise);
        for layer in net.SDDCNN.iter_mut().flat_map(|s| s.DDCNN.iter_mut()) {
            let var = layer.bn.running_var.val().abs() + 0.1;
            layer.bn.running_var = Param::from_tensor(var);
        }
        let (b, t, h, w) = (
            2,
            12,
            super::super::transnetv2::H,
            super::super::transnetv2::W,
        );
        let frames: Vec<u8> = (0..b * t * h * w * 3)
            .map(|i| ((i * 2_654_435_761usize) >> 7) as u8)
            .collect();
        let (want_x, want_means) = net.conv_stack(&frames, b, t, &dev);
        let got = CpuConvStack::pack(&net).forward(&frames, b, t, h, w);
        let close = |got: &[f32], want: Vec<f32>, what: &str| {
            assert_eq!(got.len(), want.len(), "{what}");
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (g, w)| m.max((g - w).abs()));
            assert!(scale > 1.0, "{what}: degenerate test values ({scale})");
            assert!(
                err <= 1e-5 * scale,
                "{what}: max |Δ| {err} at scale {scale}"
            );
        };
        close(&got.features, values(want_x), "features");
        assert_eq!(got.means.len(), want_means.len());
        for (i, ((m, c), want)) in got.means.iter().zip(want_means).enumerate() {
            assert_eq!(*c, want.dims()[2]);
            close(m, values(want), &format!("means of block {i}"));
        }
    }
}
