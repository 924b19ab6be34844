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

/// OpenCV `COLOR_RGB2HSV` for 8-bit images: H in 0..180, S and V in 0..255.
pub fn rgb_to_hsv_u8(r: u8, g: u8, b: u8) -> [u8; 3] {
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    let v = r.max(g).max(b);
    let min = r.min(g).min(b);
    let diff = v - min;
    let s = if v == 0 { 0 } else { (diff * 255 + v / 2) / v };
    let h = if diff == 0 {
        0.0
    } else {
        let d = diff as f32;
        let mut h = if v == r {
            60.0 * (g - b) as f32 / d
        } else if v == g {
            120.0 + 60.0 * (b - r) as f32 / d
        } else {
            240.0 + 60.0 * (r - g) as f32 / d
        };
        if h < 0.0 {
            h += 360.0;
        }
        h
    };
    [((h / 2.0).round() as i32 % 180) as u8, s as u8, v as u8]
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
        let n = rgb.len() / 3;
        self.hsv.resize(n * 3, 0);
        for (px, out) in rgb.chunks_exact(3).zip(self.hsv.chunks_exact_mut(3)) {
            out.copy_from_slice(&rgb_to_hsv_u8(px[0], px[1], px[2]));
        }
        let scores = if self.prev_hsv.len() == self.hsv.len() && n > 0 {
            let mut d = [0u64; 3];
            for (a, b) in self.hsv.chunks_exact(3).zip(self.prev_hsv.chunks_exact(3)) {
                d[0] += u64::from(a[0].abs_diff(b[0]));
                d[1] += u64::from(a[1].abs_diff(b[1]));
                d[2] += u64::from(a[2].abs_diff(b[2]));
            }
            let mad: u64 = rgb
                .iter()
                .zip(&self.prev_rgb)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            let nf = n as f32;
            let (dh, ds, dv) = (d[0] as f32 / nf, d[1] as f32 / nf, d[2] as f32 / nf);
            PixelScores {
                content_val: (dh + ds + dv) / 3.0,
                delta_hue: dh,
                delta_sat: ds,
                delta_lum: dv,
                mean_abs_diff: mad as f32 / (3.0 * nf),
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
