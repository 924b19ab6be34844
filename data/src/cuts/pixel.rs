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
    // h < 0 → h + 180, without a branch (its sign is close to random on real frames)
    h += (h >> 31) & 180;
    [h as u8, s as u8, v as u8]
}

/// OpenCV `COLOR_RGB2HSV` for 8-bit images (integer port of its `RGB2HSV_b`): H in 0..180,
/// S and V in 0..255.
pub fn rgb_to_hsv_u8(r: u8, g: u8, b: u8) -> [u8; 3] {
    hsv_with(tables(), r, g, b)
}

/// OpenCV's 8-bit RGB→HSV of `rgb` (packed) into three planes (the per-channel sums of
/// absolute differences then run over contiguous bytes). On x86-64 with AVX2, eight pixels at a
/// time with the same integer arithmetic (so the same bytes); the rest, scalar.
fn hsv_planes(t: &HsvTables, rgb: &[u8], hp: &mut [u8], sp: &mut [u8], vp: &mut [u8]) {
    let n = hp.len().min(sp.len()).min(vp.len()).min(rgb.len() / 3);
    let (rgb, hp, sp, vp) = (&rgb[..3 * n], &mut hp[..n], &mut sp[..n], &mut vp[..n]);
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked above); the slices hold n pixels each.
        done = unsafe { hsv_planes_avx2(t, rgb, hp, sp, vp) };
    }
    for i in done..n {
        let [h, s, v] = hsv_with(t, rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
        hp[i] = h;
        sp[i] = s;
        vp[i] = v;
    }
}

/// The AVX2 body of [`hsv_planes`]: whole groups of 8 pixels; returns how many pixels it did.
/// Hand-written because LLVM keeps the two table lookups (and so the whole loop) scalar, which
/// made the HSV conversion the cut detector's largest cost after decoding (~3 ns/pixel); no
/// crate converts to OpenCV's exact 8-bit HSV.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn hsv_planes_avx2(
    t: &HsvTables,
    rgb: &[u8],
    hp: &mut [u8],
    sp: &mut [u8],
    vp: &mut [u8],
) -> usize {
    use std::arch::x86_64::*;
    let n = hp.len().min(sp.len()).min(vp.len()).min(rgb.len() / 3);
    let groups = n / 8;
    // byte shuffles that pull R, G, B of 8 packed pixels out of two overlapping 16-byte loads
    // (bytes 0..16 and 8..24); -1 writes zero
    let pick = |lo: [i8; 8], hi: [i8; 8]| {
        let m = |v: [i8; 8]| {
            _mm_setr_epi8(
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], -1, -1, -1, -1, -1, -1, -1, -1,
            )
        };
        (m(lo), m(hi))
    };
    let (r_lo, r_hi) = pick(
        [0, 3, 6, 9, 12, 15, -1, -1],
        [-1, -1, -1, -1, -1, -1, 10, 13],
    );
    let (g_lo, g_hi) = pick(
        [1, 4, 7, 10, 13, -1, -1, -1],
        [-1, -1, -1, -1, -1, 8, 11, 14],
    );
    let (b_lo, b_hi) = pick(
        [2, 5, 8, 11, 14, -1, -1, -1],
        [-1, -1, -1, -1, -1, 9, 12, 15],
    );
    let half = _mm256_set1_epi32(1 << (HSV_SHIFT - 1));
    let c180 = _mm256_set1_epi32(180);
    // i32 lanes (0..=255) → 8 bytes at `dst`
    let store8 = |x: __m256i, dst: *mut u8| {
        let w = _mm256_permute4x64_epi64(_mm256_packus_epi32(x, x), 0b1000);
        let b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_castsi256_si128(w));
        _mm_storel_epi64(dst.cast(), b);
    };
    for k in 0..groups {
        let p = rgb.as_ptr().add(24 * k);
        let lo = _mm_loadu_si128(p.cast());
        let hi = _mm_loadu_si128(p.add(8).cast());
        let chan = |a: __m128i, b: __m128i| {
            _mm256_cvtepu8_epi32(_mm_or_si128(
                _mm_shuffle_epi8(lo, a),
                _mm_shuffle_epi8(hi, b),
            ))
        };
        let (r, g, b) = (chan(r_lo, r_hi), chan(g_lo, g_hi), chan(b_lo, b_hi));
        let v = _mm256_max_epi32(_mm256_max_epi32(r, g), b);
        let diff = _mm256_sub_epi32(v, _mm256_min_epi32(_mm256_min_epi32(r, g), b));
        let sdiv = _mm256_i32gather_epi32::<4>(t.sdiv.as_ptr(), v);
        let hdiv = _mm256_i32gather_epi32::<4>(t.hdiv.as_ptr(), diff);
        let s =
            _mm256_srai_epi32::<HSV_SHIFT>(_mm256_add_epi32(_mm256_mullo_epi32(diff, sdiv), half));
        let vr = _mm256_cmpeq_epi32(v, r);
        let vg = _mm256_cmpeq_epi32(v, g);
        let d2 = _mm256_add_epi32(diff, diff);
        let from_g = _mm256_add_epi32(_mm256_sub_epi32(b, r), d2);
        let from_b = _mm256_add_epi32(_mm256_sub_epi32(r, g), _mm256_add_epi32(d2, d2));
        let not_r = _mm256_add_epi32(
            _mm256_and_si256(vg, from_g),
            _mm256_andnot_si256(vg, from_b),
        );
        let h = _mm256_add_epi32(
            _mm256_and_si256(vr, _mm256_sub_epi32(g, b)),
            _mm256_andnot_si256(vr, not_r),
        );
        let h = _mm256_srai_epi32::<HSV_SHIFT>(_mm256_add_epi32(_mm256_mullo_epi32(h, hdiv), half));
        let h = _mm256_add_epi32(h, _mm256_and_si256(_mm256_srai_epi32::<31>(h), c180));
        store8(h, hp.as_mut_ptr().add(8 * k));
        store8(s, sp.as_mut_ptr().add(8 * k));
        store8(v, vp.as_mut_ptr().add(8 * k));
    }
    groups * 8
}

/// Σ |a − b| over two byte slices (in 64 bits; LLVM turns the 32-bit chunk sums into SAD).
fn sum_abs_diff(a: &[u8], b: &[u8]) -> u64 {
    a.chunks(1 << 16)
        .zip(b.chunks(1 << 16))
        .map(|(x, y)| {
            let s: u32 = x
                .iter()
                .zip(y)
                .map(|(u, v)| u32::from(u.abs_diff(*v)))
                .sum();
            u64::from(s)
        })
        .sum()
}

/// Streaming scorer: feed packed RGB frames of one size, get scores against the previous one.
#[derive(Debug, Default)]
pub struct PixelScorer {
    /// H, S, V planes of the previous and the current frame.
    prev: [Vec<u8>; 3],
    cur: [Vec<u8>; 3],
    prev_rgb: Vec<u8>,
}

impl PixelScorer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Score `rgb` (packed RGB24) against the previous frame fed.
    pub fn push(&mut self, rgb: &[u8]) -> PixelScores {
        let n = rgb.len() / 3;
        let [hp, sp, vp] = &mut self.cur;
        for p in [&mut *hp, &mut *sp, &mut *vp] {
            p.resize(n, 0);
        }
        hsv_planes(tables(), rgb, hp, sp, vp);
        let scores = if self.prev[0].len() == n && n > 0 {
            let nf = n as f64;
            let d: [f64; 3] =
                std::array::from_fn(|k| sum_abs_diff(&self.cur[k], &self.prev[k]) as f64 / nf);
            let mad = sum_abs_diff(rgb, &self.prev_rgb) as f64 / (3.0 * nf);
            PixelScores {
                content_val: ((d[0] + d[1] + d[2]) / 3.0) as f32,
                delta_hue: d[0] as f32,
                delta_sat: d[1] as f32,
                delta_lum: d[2] as f32,
                mean_abs_diff: mad as f32,
            }
        } else {
            PixelScores::default()
        };
        std::mem::swap(&mut self.prev, &mut self.cur);
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

    #[test]
    fn scores_are_the_means_of_per_pixel_hsv_and_rgb_differences() {
        // odd pixel count, so no loop length lines up with a power of two
        let n = 1001;
        let a: Vec<u8> = (0..3 * n)
            .map(|i| ((i * 2_654_435_761usize) >> 9) as u8)
            .collect();
        let b: Vec<u8> = (0..3 * n).map(|i| ((i * 40_503usize) >> 3) as u8).collect();
        let mut want = [0f64; 4];
        for (p, q) in a.chunks_exact(3).zip(b.chunks_exact(3)) {
            let (hp, hq) = (
                rgb_to_hsv_u8(p[0], p[1], p[2]),
                rgb_to_hsv_u8(q[0], q[1], q[2]),
            );
            for k in 0..3 {
                want[k] += f64::from(hp[k].abs_diff(hq[k])) / n as f64;
                want[3] += f64::from(p[k].abs_diff(q[k])) / (3 * n) as f64;
            }
        }
        let mut s = PixelScorer::new();
        s.push(&a);
        let got = s.push(&b);
        let got_all = [
            got.delta_hue,
            got.delta_sat,
            got.delta_lum,
            got.mean_abs_diff,
        ];
        for (g, w) in got_all.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
        let content = (want[0] + want[1] + want[2]) / 3.0;
        assert!((f64::from(got.content_val) - content).abs() < 1e-4);
        assert!(got.content_val > 10.0, "the frames differ: {got:?}");
    }

    #[test]
    fn plane_conversion_is_byte_exact_with_the_per_pixel_one() {
        // every gray level and primary, then pseudo-random pixels; 8-pixel groups plus a tail
        let mut rgb: Vec<u8> = Vec::new();
        for v in 0..=255u8 {
            rgb.extend([v, v, v, v, 0, 0, 0, v, 0, 0, 0, v, v, v / 2, 255 - v]);
        }
        rgb.extend((0..3 * 40_003).map(|i| ((i * 2_654_435_761usize) >> 11) as u8));
        let n = rgb.len() / 3;
        let (mut h, mut s, mut v) = (vec![0; n], vec![0; n], vec![0; n]);
        hsv_planes(tables(), &rgb, &mut h, &mut s, &mut v);
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            assert_eq!(
                [h[i], s[i], v[i]],
                rgb_to_hsv_u8(px[0], px[1], px[2]),
                "pixel {i}: {px:?}"
            );
        }
    }
}
