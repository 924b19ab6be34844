//! Server-rendered SVG plots of a criterion's results: win rates with Wilson 95 % intervals,
//! and the win-matrix heatmap.
use super::analysis::CriterionResult;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Horizontal bars (win rate) with interval whiskers, one row per condition.
pub fn win_rate_bars(r: &CriterionResult) -> String {
    let row_h = 28.0;
    let (left, width) = (170.0, 300.0);
    let h = 40.0 + row_h * r.conditions.len() as f64;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><title>Win rates: {t}</title>"#,
        w = left + width + 70.0,
        t = esc(&r.criterion)
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let x = left + tick * width;
        s += &format!(
            r##"<line x1="{x}" y1="10" x2="{x}" y2="{y2}" stroke="#ccc"/><text x="{x}" y="{ty}" font-size="10" text-anchor="middle">{tick}</text>"##,
            y2 = h - 20.0,
            ty = h - 6.0
        );
    }
    for (i, c) in r.conditions.iter().enumerate() {
        let y = 14.0 + row_h * i as f64;
        s += &format!(
            r##"<text x="{tx}" y="{ty}" font-size="12" text-anchor="end">{name}</text><rect x="{left}" y="{y}" width="{bw:.1}" height="18" fill="#4c78a8"><title>{name}: {wr:.3} [{lo:.3}, {hi:.3}]</title></rect><line x1="{x1:.1}" y1="{cy}" x2="{x2:.1}" y2="{cy}" stroke="#000" stroke-width="1.5"/><line x1="{x1:.1}" y1="{a}" x2="{x1:.1}" y2="{b}" stroke="#000"/><line x1="{x2:.1}" y1="{a}" x2="{x2:.1}" y2="{b}" stroke="#000"/><text x="{vx}" y="{ty}" font-size="11">{wr:.2}</text>"##,
            tx = left - 6.0,
            ty = y + 13.0,
            name = esc(&c.condition),
            bw = c.win_rate * width,
            wr = c.win_rate,
            lo = c.wilson_lo,
            hi = c.wilson_hi,
            x1 = left + c.wilson_lo * width,
            x2 = left + c.wilson_hi * width,
            cy = y + 9.0,
            a = y + 4.0,
            b = y + 14.0,
            vx = left + width + 8.0,
        );
    }
    s + "</svg>"
}

/// Heatmap: cell (i, j) is the share of i-vs-j comparisons that row i won.
pub fn win_matrix_heatmap(r: &CriterionResult) -> String {
    let n = r.conditions.len();
    let cell = 56.0;
    let left = 150.0;
    let top = 30.0;
    let size = left + cell * n as f64 + 10.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" viewBox="0 0 {size} {hs}" width="{size}" height="{hs}"><title>Win matrix: {t}</title>"#,
        hs = top + cell * n as f64 + 10.0,
        t = esc(&r.criterion)
    );
    for (j, c) in r.conditions.iter().enumerate() {
        s += &format!(
            r#"<text x="{x}" y="{y}" font-size="10" text-anchor="middle">{name}</text>"#,
            x = left + cell * (j as f64 + 0.5),
            y = top - 8.0,
            name = esc(&c.condition)
        );
    }
    for (i, row) in r.win_matrix.iter().enumerate() {
        let y = top + cell * i as f64;
        s += &format!(
            r#"<text x="{x}" y="{ty}" font-size="11" text-anchor="end">{name}</text>"#,
            x = left - 6.0,
            ty = y + cell / 2.0 + 4.0,
            name = esc(&r.conditions[i].condition)
        );
        for (j, &v) in row.iter().enumerate() {
            let x = left + cell * j as f64;
            let (fill, label) = if v < 0.0 {
                ("#eee".to_owned(), "–".to_owned())
            } else {
                // Blue (row loses) → white (0.5) → orange (row wins).
                let t = (v - 0.5) * 2.0;
                let (r0, g0, b0) = if t >= 0.0 {
                    (255.0, 255.0 - 90.0 * t, 255.0 - 200.0 * t)
                } else {
                    (255.0 + 180.0 * t, 255.0 + 110.0 * t, 255.0)
                };
                (
                    format!("rgb({:.0},{:.0},{:.0})", r0, g0, b0),
                    format!("{v:.2}"),
                )
            };
            s += &format!(
                r##"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="#fff"/><text x="{tx}" y="{ty}" font-size="11" text-anchor="middle">{label}</text>"##,
                tx = x + cell / 2.0,
                ty = y + cell / 2.0 + 4.0
            );
        }
    }
    s + "</svg>"
}
