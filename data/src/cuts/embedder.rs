//! The pluggable embedding network of detector 2: anything that maps frames to unit vectors.
//! The cosine similarity of consecutive embeddings feeds the `embed_min_similarity` rule. The
//! default is TransNetV2 (its frame-similarity projection, 128-d); a CLIP image tower from the
//! model crate can implement this trait once CLIP weights are available.

use crate::error::Result;

/// A frame embedder for cut detection.
pub trait FrameEmbedder: Send + Sync {
    fn name(&self) -> String;
    /// The (width, height) of the packed RGB frames [`embed`](Self::embed) takes.
    fn input_size(&self) -> (u32, u32);
    /// Embeddings of `n` packed RGB frames, `n × dim` values, each row L2-normalised.
    fn embed(&self, frames: &[u8], n: usize) -> Result<(Vec<f32>, usize)>;
}

/// Cosine similarity of each unit row to the previous one (1.0 for the first row).
pub fn consecutive_similarity(emb: &[f32], n: usize, dim: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            if i == 0 {
                1.0
            } else {
                let (a, b) = (&emb[(i - 1) * dim..i * dim], &emb[i * dim..(i + 1) * dim]);
                a.iter().zip(b).map(|(x, y)| x * y).sum()
            }
        })
        .collect()
}

/// Area-downscale a packed RGB frame of (w, h) to (ow, oh), appending to `out`.
pub fn area_resize_into(rgb: &[u8], w: u32, h: u32, ow: u32, oh: u32, out: &mut Vec<u8>) {
    let (w, h, ow, oh) = (w as usize, h as usize, ow as usize, oh as usize);
    for oy in 0..oh {
        let (y0, y1) = (oy * h / oh, ((oy + 1) * h / oh).max(oy * h / oh + 1).min(h));
        for ox in 0..ow {
            let (x0, x1) = (ox * w / ow, ((ox + 1) * w / ow).max(ox * w / ow + 1).min(w));
            let mut acc = [0u32; 3];
            for y in y0..y1 {
                for x in x0..x1 {
                    let p = (y * w + x) * 3;
                    acc[0] += u32::from(rgb[p]);
                    acc[1] += u32::from(rgb[p + 1]);
                    acc[2] += u32::from(rgb[p + 2]);
                }
            }
            let cnt = ((y1 - y0) * (x1 - x0)) as u32;
            out.extend(acc.map(|a| ((a + cnt / 2) / cnt) as u8));
        }
    }
}
