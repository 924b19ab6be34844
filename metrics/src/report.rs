//! The human-readable side of an evaluation: a Markdown summary and two SVG plots (feature PCA
//! scatter of real vs generated I3D features, per-prompt CLIPSIM bars).
//!
//! The plots are drawn with `plotters` into SVG (its SVG backend writes text as `<text>`
//! elements, so no font files or system libraries are needed; the bytes are deterministic).

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

/// An RGB colour of a plotted set.
pub type Rgb = (u8, u8, u8);

fn plot_error(e: impl std::fmt::Display) -> MetricsError {
    MetricsError::Numerical {
        what: "plot",
        detail: e.to_string(),
    }
}

/// Scatter plot SVG of point sets (name, colour, points), with a legend and axis labels.
pub fn scatter_svg(title: &str, sets: &[(&str, Rgb, &[[f64; 2]])]) -> Result<String> {
    use plotters::prelude::*;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in sets.iter().flat_map(|s| s.2.iter()) {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |a: f64, b: f64| ((b - a) * 0.05).max(1e-9);
    let (px, py) = (pad(x0, x1), pad(y0, y1));
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (520, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x0 - px..x1 + px, y0 - py..y1 + py)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("PC 1")
            .y_desc("PC 2")
            .light_line_style(WHITE)
            .draw()
            .map_err(plot_error)?;
        for (name, (r, g, b), pts) in sets {
            let colour = RGBColor(*r, *g, *b);
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p[0], p[1]), 3, colour.mix(0.7).filled())),
                )
                .map_err(plot_error)?
                .label(format!("{name} ({})", pts.len()))
                .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}

/// Horizontal bar chart SVG of labelled values (e.g. CLIPSIM per prompt), value axis from 0
/// (or from the most negative value).
pub fn bars_svg(title: &str, bars: &[(String, f64)]) -> Result<String> {
    use plotters::prelude::*;
    let n = bars.len().max(1);
    let vmax = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1e-9) * 1.1;
    let vmin = bars.iter().map(|b| b.1).fold(0.0f64, f64::min) * 1.1;
    let labels: Vec<String> = bars
        .iter()
        .map(|(l, _)| l.chars().take(48).collect())
        .collect();
    let mut out = String::new();
    {
        let height = 80 + 20 * n as u32;
        let root = SVGBackend::with_string(&mut out, (720, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(330)
            .build_cartesian_2d(vmin..vmax, (0..n).into_segmented())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(plot_error)?;
        let blue = RGBColor(0x4a, 0x7b, 0xd0);
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                let mut r = Rectangle::new(
                    [
                        (0.0f64.min(*v), SegmentValue::Exact(i)),
                        (0.0f64.max(*v), SegmentValue::Exact(i + 1)),
                    ],
                    blue.filled(),
                );
                r.set_margin(3, 3, 0, 0);
                r
            }))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}

/// Writes `bytes` to `path` through a temporary file in the same folder renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |e: std::io::Error| MetricsError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    // tempfile creates 0600; reports get the usual 0644
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Writes `<stem>.md` and the SVG plots next to `json_out`; returns the files written.
pub fn write_summary(report: &EvalReport, json_out: &Path) -> Result<Vec<PathBuf>> {
    let dir = json_out.parent().unwrap_or(Path::new("."));
    let stem = json_out
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("report");
    let write = |p: &Path, text: &str| write_atomic(p, text.as_bytes());
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
    if let Some(pr) = &report.probe {
        let _ = writeln!(md, "\n## Synth probe\n\n{}", pr.markdown());
        let bars = vec![
            ("scene".to_string(), pr.scene.accuracy),
            ("object colour".to_string(), pr.object_colour.accuracy),
            (
                "background colour".to_string(),
                pr.background_colour.accuracy,
            ),
            ("metamorphic vs general".to_string(), pr.kind.accuracy),
            ("caption→video R@1".to_string(), pr.r1_caption_to_video),
        ];
        let path = dir.join(format!("{stem}_probe.svg"));
        write(
            &path,
            &bars_svg(&format!("Synth probe ({})", pr.model), &bars)?,
        )?;
        let _ = writeln!(md, "![Synth probe]({stem}_probe.svg)\n");
        files.push(path);
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
            &[
                ("real", (0x1b, 0x9e, 0x77), &r),
                ("generated", (0xd9, 0x5f, 0x02), &f),
            ],
        )?;
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
            &bars_svg(&format!("CLIPSIM per prompt ({})", v.model), &bars)?,
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
        let svg = scatter_svg("t", &[("a", (255, 0, 0), &ra), ("b", (0, 0, 255), &rb)]).unwrap();
        // 20 + 20 points and one legend marker per set.
        assert_eq!(svg.matches("<circle").count(), 42, "{svg}");
        assert!(svg.contains("a (20)") && svg.contains("PC 1"));
        let bars = bars_svg("t", &[("x < y".into(), 0.5), ("z".into(), -0.25)]).unwrap();
        assert!(bars.contains("x &lt; y"), "{bars}");
        // One filled rectangle per bar, in the bar colour.
        assert_eq!(bars.matches("fill=\"#4A7BD0\"").count(), 2, "{bars}");
    }
}
