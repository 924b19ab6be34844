//! The human-readable side of an evaluation: a Markdown summary and two SVG plots (feature PCA
//! scatter of real vs generated I3D features, per-prompt CLIPSIM bars).
//!
//! The SVGs are written directly (a few dozen elements each): deterministic bytes, no font files
//! or system libraries needed, viewable in any browser.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use faer::{Mat, Side};

use crate::error::{MetricsError, Result};
use crate::eval::EvalReport;

/// 2-D points of one set.
pub type Points = Vec<[f64; 2]>;

/// Projects the rows of two sets (`dim`-d) onto the first two principal components of their
/// union. Returns `(real_xy, fake_xy)`.
pub fn pca_2d(a: &[f32], b: &[f32], dim: usize) -> Result<(Points, Points)> {
    let rows: Vec<&[f32]> = a.chunks_exact(dim).chain(b.chunks_exact(dim)).collect();
    let n = rows.len();
    if n < 3 {
        return Err(MetricsError::TooFewSamples {
            what: "a PCA plot",
            needed: 3,
            got: n,
        });
    }
    let mean: Vec<f64> = (0..dim)
        .map(|j| rows.iter().map(|r| r[j] as f64).sum::<f64>() / n as f64)
        .collect();
    let x = Mat::<f64>::from_fn(n, dim, |i, j| rows[i][j] as f64 - mean[j]);
    let cov = x.transpose() * &x;
    let evd = cov
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| MetricsError::Numerical {
            what: "PCA",
            detail: format!("{e:?}"),
        })?;
    let u = evd.U();
    let (c1, c2) = (dim - 1, dim.saturating_sub(2));
    let project = |i: usize| {
        let p = |c: usize| (0..dim).map(|j| x[(i, j)] * u[(j, c)]).sum::<f64>();
        [p(c1), p(c2)]
    };
    let na = a.len() / dim;
    Ok((
        (0..na).map(project).collect(),
        (na..n).map(project).collect(),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Scatter plot SVG of two point sets.
pub fn scatter_svg(title: &str, sets: &[(&str, &str, &[[f64; 2]])]) -> String {
    let (w, h, m) = (480.0, 400.0, 40.0);
    let all: Vec<[f64; 2]> = sets.iter().flat_map(|s| s.2.iter().copied()).collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in &all {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    let (sx, sy) = ((x1 - x0).max(1e-12), (y1 - y0).max(1e-12));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"{}\" y=\"20\" text-anchor=\"middle\">{}</text>\
<rect x=\"{m}\" y=\"{m}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>",
        w / 2.0,
        escape(title),
        w - 2.0 * m,
        h - 2.0 * m
    );
    for (k, (name, colour, pts)) in sets.iter().enumerate() {
        for p in pts.iter() {
            let px = m + (p[0] - x0) / sx * (w - 2.0 * m);
            let py = h - m - (p[1] - y0) / sy * (h - 2.0 * m);
            let _ = write!(s, "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"{colour}\" fill-opacity=\"0.7\"/>");
        }
        let ly = m + 16.0 * (k as f64 + 1.0);
        let _ = write!(
            s,
            "<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{} ({})</text>",
            w - m - 110.0,
            ly - 4.0,
            w - m - 100.0,
            ly,
            escape(name),
            pts.len()
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">PC 1</text>",
        w / 2.0,
        h - 10.0
    );
    s.push_str("</svg>\n");
    s
}

/// Horizontal bar chart SVG (labels and values in [−1, 1] or [0, 1]).
pub fn bars_svg(title: &str, bars: &[(String, f64)]) -> String {
    let (w, row, m, label_w) = (640.0, 18.0, 30.0, 360.0);
    let h = m * 2.0 + row * bars.len() as f64;
    let vmax = bars.iter().map(|b| b.1.abs()).fold(1e-12, f64::max);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"{}\" y=\"18\" text-anchor=\"middle\">{}</text>",
        w / 2.0,
        escape(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = m + row * i as f64;
        let len = v.abs() / vmax * (w - label_w - 80.0);
        let short: String = label.chars().take(58).collect();
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{}\" width=\"{len:.1}\" height=\"{}\" fill=\"#4a7bd0\"/><text x=\"{}\" y=\"{}\">{v:.4}</text>",
            label_w - 6.0,
            y + 12.0,
            escape(&short),
            y + 2.0,
            row - 4.0,
            label_w + len + 4.0,
            y + 12.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Writes `<stem>.md` and the SVG plots next to `json_out`; returns the files written.
pub fn write_summary(report: &EvalReport, json_out: &Path) -> Result<Vec<PathBuf>> {
    let dir = json_out.parent().unwrap_or(Path::new("."));
    let stem = json_out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("report");
    let write = |p: &Path, text: &str| {
        std::fs::write(p, text).map_err(|e| MetricsError::Io {
            path: p.to_path_buf(),
            detail: e.to_string(),
        })
    };
    let mut files = Vec::new();
    let p = &report.protocol;
    let mut md = format!(
        "# Evaluation\n\nN real = {}, N fake = {}, {} frames ({:?} sampling). FD is biased by N: \
         compare numbers only at equal N.\n\n| metric | value | details |\n|---|---|---|\n",
        p.n_real, p.n_fake, p.frames, p.sampling
    );
    if let Some(f) = &report.fvd {
        let _ = writeln!(
            md,
            "| FVD (I3D logits) | {:.4} | mean term {:.4}, cov term {:.4}, n {}/{} |",
            f.value, f.mean_term, f.cov_term, f.n1, f.n2
        );
    }
    if let Some(k) = &report.kvd {
        let _ = writeln!(
            md,
            "| KVD (I3D logits) | {:.6} ± {:.6} | {} subsets × {} |",
            k.mean, k.std, k.num_subsets, k.subset_size
        );
    }
    if let Some(f) = &report.fid {
        let _ = writeln!(
            md,
            "| FID (pool3, {} frames/video) | {:.4} | n {}/{} frames |",
            p.fid_frames_per_video, f.value, f.n1, f.n2
        );
    }
    if let Some(k) = &report.kid {
        let _ = writeln!(
            md,
            "| KID (pool3) | {:.6} ± {:.6} | {} subsets × {} |",
            k.mean, k.std, k.num_subsets, k.subset_size
        );
    }
    if let Some(v) = &report.video_text {
        let _ = writeln!(
            md,
            "| CLIPSIM ({}) | {:.4} (×100: {:.2}) | n {} |",
            v.model, v.clipsim, v.clipsim_x100, v.n
        );
        let _ = writeln!(
            md,
            "| Metamorphic score | {:.4} | embedding amplitude {:.4}, pixel amplitude {:.4} |",
            v.metamorphic, v.embedding_amplitude, v.pixel_amplitude
        );
    }
    let _ = writeln!(
        md,
        "\nProtocol: FVD resize {}; FID resize {}; I3D weights {} (sha256 {}).\n",
        p.fvd_resize,
        p.fid_resize,
        p.i3d_weights.as_deref().unwrap_or("-"),
        p.i3d_weights_sha256.as_deref().unwrap_or("-")
    );
    if !report.i3d_real.is_empty() && !report.i3d_fake.is_empty() {
        let (r, f) = pca_2d(&report.i3d_real, &report.i3d_fake, 400)?;
        let svg = scatter_svg(
            "I3D logits, PCA",
            &[("real", "#1b9e77", &r), ("generated", "#d95f02", &f)],
        );
        let path = dir.join(format!("{stem}_pca.svg"));
        write(&path, &svg)?;
        let _ = writeln!(md, "![I3D feature PCA]({stem}_pca.svg)\n");
        files.push(path);
    }
    if let Some(v) = &report.video_text {
        let bars: Vec<(String, f64)> = v
            .videos
            .iter()
            .map(|s| (s.prompt.clone(), s.clipsim))
            .collect();
        let path = dir.join(format!("{stem}_clipsim.svg"));
        write(
            &path,
            &bars_svg(&format!("CLIPSIM per prompt ({})", v.model), &bars),
        )?;
        let _ = writeln!(md, "![CLIPSIM per prompt]({stem}_clipsim.svg)\n");
        files.push(path);
    }
    let md_path = dir.join(format!("{stem}.md"));
    write(&md_path, &md)?;
    files.push(md_path);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pca_separates_two_clusters_along_first_component() {
        let dim = 5;
        let a: Vec<f32> = (0..20)
            .flat_map(|i| (0..dim).map(move |j| ((i * 7 + j * 3) % 5) as f32 * 0.1))
            .collect();
        let b: Vec<f32> = a
            .iter()
            .enumerate()
            .map(|(k, v)| v + if k % dim == 2 { 10.0 } else { 0.0 })
            .collect();
        let (ra, rb) = pca_2d(&a, &b, dim).unwrap();
        let ma = ra.iter().map(|p| p[0]).sum::<f64>() / ra.len() as f64;
        let mb = rb.iter().map(|p| p[0]).sum::<f64>() / rb.len() as f64;
        assert!((ma - mb).abs() > 9.0, "{ma} vs {mb}");
        let svg = scatter_svg("t", &[("a", "red", &ra), ("b", "blue", &rb)]);
        assert_eq!(svg.matches("<circle").count(), 42);
        let bars = bars_svg("t", &[("x < y".into(), 0.5)]);
        assert!(bars.contains("x &lt; y"));
    }
}
