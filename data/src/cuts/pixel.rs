//! Detector 1, pixel intensity: per consecutive frame pair the mean absolute RGB difference and
//! PySceneDetect's ContentDetector score (mean |Δ| of OpenCV-style 8-bit H, S, V, averaged),
//! on frames downscaled to ~256 px wide as PySceneDetect does.
//! Port of the scoring in scenedetect/detectors/content_detector.py (0.6/0.7).

/// Scores of frame `i` against frame `i − 1` (all zero for frame 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PixelScores {
    /// (Δhue + Δsat + Δlum) / 3 — PySceneDetect's `content_val`, threshold ≈ 27.
    pub content_val: f32,
    pub delta_hue: f32,
    pub delta_sat: f32,
    pub delta_lum: f32,
    /// Mean |ΔR|, |ΔG|, |ΔB| over all pixels (0..255).
    pub mean_abs_diff: f32,
}

const HSV_SHIFT: i32 = 12;

/// OpenCV's division tables for 8-bit RGB→HSV (hue range 180): `sdiv[v] = 255·2¹²/v`,
/// `hdiv[d] = 180·2¹²/(6·d)`, rounded.
struct HsvTables {
    sdiv: [i32; 256],
    hdiv: [i32; 256],
}

fn tables() -> &'static HsvTables {
    static T: std::sync::OnceLock<HsvTables> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = HsvTables {
            sdiv: [0; 256],
            hdiv: [0; 256],
        };
        for i in 1..256 {
            t.sdiv[i] = ((255 << HSV_SHIFT) as f64 / i as f64).round() as i32;
            t.hdiv[i] = ((180 << HSV_SHIFT) as f64 / (6.0 * i as f64)).round() as i32;
        }
        t
    })
}

#[inline(always)]
fn hsv_with(t: &HsvTables, r: u8, g: u8, b: u8) -> [u8; 3] {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let v = r.max(g).max(b);
    let diff = v - r.min(g).min(b);
    let vr = if v == r { -1 } else { 0 };
    let vg = if v == g { -1 } else { 0 };
    let s = (diff * t.sdiv[v as usize] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    let mut h = (vr & (g - b)) + (!vr & ((vg & (b - r + 2 * diff)) + ((!vg) & (r - g + 4 * diff))));
    h = (h * t.hdiv[diff as usize] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    if h < 0 {
        h += 180;
    }
    [h as u8, s as u8, v as u8]
}

/// OpenCV `COLOR_RGB2HSV` for 8-bit images (integer port of its `RGB2HSV_b`): H in 0..180,
/// S and V in 0..255.
pub fn rgb_to_hsv_u8(r: u8, g: u8, b: u8) -> [u8; 3] {
    hsv_with(tables(), r, g, b)
}

/// Streaming scorer: feed packed RGB frames of one size, get scores against the previous one.
#[derive(Debug, Default)]
pub struct PixelScorer {
    prev_hsv: Vec<u8>,
    prev_rgb: Vec<u8>,
    hsv: Vec<u8>,
}

impl PixelScorer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Score `rgb` (packed RGB24) against the previous frame fed.
    pub fn push(&mut self, rgb: &[u8]) -> PixelScores {
        let t = tables();
        let n = rgb.len() / 3;
        self.hsv.resize(n * 3, 0);
        for (px, out) in rgb.chunks_exact(3).zip(self.hsv.chunks_exact_mut(3)) {
            out.copy_from_slice(&hsv_with(t, px[0], px[1], px[2]));
        }
        let scores = if self.prev_hsv.len() == self.hsv.len() && n > 0 {
            let mut d = [0u32; 3];
            let mut mad = 0u32;
            // 32-bit sums per chunk (at most 2^24 / 255 pixels), folded into 64 bits
            let (mut dt, mut madt) = ([0u64; 3], 0u64);
            for ((a, b), (x, y)) in self
                .hsv
                .chunks(3 * 4096)
                .zip(self.prev_hsv.chunks(3 * 4096))
                .zip(rgb.chunks(3 * 4096).zip(self.prev_rgb.chunks(3 * 4096)))
            {
                for (p, q) in a.chunks_exact(3).zip(b.chunks_exact(3)) {
                    d[0] += u32::from(p[0].abs_diff(q[0]));
                    d[1] += u32::from(p[1].abs_diff(q[1]));
                    d[2] += u32::from(p[2].abs_diff(q[2]));
                }
                mad += x
                    .iter()
                    .zip(y)
                    .map(|(u, v)| u32::from(u.abs_diff(*v)))
                    .sum::<u32>();
                for k in 0..3 {
                    dt[k] += u64::from(d[k]);
                    d[k] = 0;
                }
                madt += u64::from(mad);
                mad = 0;
            }
            let nf = n as f32;
            let (dh, ds, dv) = (dt[0] as f32 / nf, dt[1] as f32 / nf, dt[2] as f32 / nf);
            PixelScores {
                content_val: (dh + ds + dv) / 3.0,
                delta_hue: dh,
                delta_sat: ds,
                delta_lum: dv,
                mean_abs_diff: madt as f32 / (3.0 * nf),
            }
        } else {
            PixelScores::default()
        };
        std::mem::swap(&mut self.prev_hsv, &mut self.hsv);
        self.prev_rgb.clear();
        self.prev_rgb.extend_from_slice(rgb);
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_matches_opencv_reference_values() {
        // Values from cv2.cvtColor(np.uint8([[[r, g, b]]]), cv2.COLOR_RGB2HSV).
        assert_eq!(rgb_to_hsv_u8(255, 0, 0), [0, 255, 255]);
        assert_eq!(rgb_to_hsv_u8(0, 255, 0), [60, 255, 255]);
        assert_eq!(rgb_to_hsv_u8(0, 0, 255), [120, 255, 255]);
        assert_eq!(rgb_to_hsv_u8(128, 128, 128), [0, 0, 128]);
        assert_eq!(rgb_to_hsv_u8(0, 0, 0), [0, 0, 0]);
        assert_eq!(rgb_to_hsv_u8(255, 128, 0), [15, 255, 255]);
        assert_eq!(rgb_to_hsv_u8(255, 0, 128), [165, 255, 255]);
        assert_eq!(rgb_to_hsv_u8(13, 200, 77), [70, 238, 200]);
        assert_eq!(rgb_to_hsv_u8(90, 30, 200), [131, 217, 200]);
    }

    #[test]
    fn identical_frames_score_zero_and_inverse_scores_high() {
        let a: Vec<u8> = (0..300).map(|i| (i * 7 % 256) as u8).collect();
        let b: Vec<u8> = a.iter().map(|v| 255 - v).collect();
        let mut s = PixelScorer::new();
        assert_eq!(s.push(&a), PixelScores::default());
        assert_eq!(s.push(&a).content_val, 0.0);
        let hi = s.push(&b);
        assert!(hi.mean_abs_diff > 60.0 && hi.content_val > 20.0, "{hi:?}");
    }
}
