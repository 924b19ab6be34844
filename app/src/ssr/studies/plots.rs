//! SVG plots of a criterion's results, drawn with `plotters` (its SVG backend writes text as
//! escaped `<text>` elements: no font files, deterministic bytes): win rates with Wilson 95 %
//! intervals, and the win-matrix heatmap.
use plotters::{
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use super::analysis::CriterionResult;

fn plot_error(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// The longest condition name a plot shows (longer ones are cut with `…`).
const MAX_LABEL: usize = 28;

fn label(s: &str) -> String {
    if s.chars().count() > MAX_LABEL {
        let mut t: String = s.chars().take(MAX_LABEL - 1).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

const BLUE: RGBColor = RGBColor(0x4c, 0x78, 0xa8);

/// Horizontal bars (win rate) with Wilson interval whiskers, one row per condition (the first
/// at the top), the value beside each bar.
pub fn win_rate_bars(r: &CriterionResult) -> Result<String, String> {
    let n = r.conditions.len().max(1);
    let names: Vec<String> = r.conditions.iter().map(|c| label(&c.condition)).collect();
    // Row i of the results is drawn at y = n - 1 - i (plotters' y grows upwards).
    let row = |i: usize| n - 1 - i;
    let height = 70 + 30 * n as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (560, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Win rates: {}", r.criterion), ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(170)
            .build_cartesian_2d(0.0f64..1.1f64, (0..n).into_segmented())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(5)
            .y_labels(n)
            .x_label_formatter(&|v| {
                if *v <= 1.0 {
                    format!("{v:.2}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => (n - 1)
                    .checked_sub(*i)
                    .and_then(|j| names.get(j))
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(r.conditions.iter().enumerate().map(|(i, c)| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(row(i))),
                        (c.win_rate.clamp(0.0, 1.0), SegmentValue::Exact(row(i) + 1)),
                    ],
                    BLUE.filled(),
                );
                bar.set_margin(5, 5, 0, 0);
                bar
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(r.conditions.iter().enumerate().map(|(i, c)| {
                PathElement::new(
                    vec![
                        (c.wilson_lo, SegmentValue::CenterOf(row(i))),
                        (c.wilson_hi, SegmentValue::CenterOf(row(i))),
                    ],
                    BLACK.stroke_width(2),
                )
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(r.conditions.iter().enumerate().map(|(i, c)| {
                Text::new(
                    format!("{:.2}", c.win_rate),
                    (1.02, SegmentValue::CenterOf(row(i))),
                    ("sans-serif", 11),
                )
            }))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}

/// The colour of a win share: blue (the row loses) → white (0.5) → orange (the row wins);
/// light grey where the pair never met (`v < 0`).
fn share_colour(v: f64) -> RGBColor {
    if v < 0.0 {
        return RGBColor(0xee, 0xee, 0xee);
    }
    let t = (v.clamp(0.0, 1.0) - 0.5) * 2.0;
    let (r, g, b) = if t >= 0.0 {
        (255.0, 255.0 - 90.0 * t, 255.0 - 200.0 * t)
    } else {
        (255.0 + 180.0 * t, 255.0 + 110.0 * t, 255.0)
    };
    RGBColor(r.round() as u8, g.round() as u8, b.round() as u8)
}

/// Heatmap: cell (i, j) is the share of i-vs-j comparisons that row i won, with its value.
pub fn win_matrix_heatmap(r: &CriterionResult) -> Result<String, String> {
    let n = r.conditions.len().max(1);
    let names: Vec<String> = r.conditions.iter().map(|c| label(&c.condition)).collect();
    let size = 60 * n as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (size + 190, size + 70)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Win matrix: {}", r.criterion), ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(170)
            .build_cartesian_2d((0..n).into_segmented(), (0..n).into_segmented())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(j) => names.get(*j).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => (n - 1)
                    .checked_sub(*i)
                    .and_then(|j| names.get(j))
                    .cloned()
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(plot_error)?;
        let cells: Vec<(usize, usize, f64)> = r
            .win_matrix
            .iter()
            .enumerate()
            .flat_map(|(i, row)| row.iter().enumerate().map(move |(j, &v)| (i, j, v)))
            .filter(|&(i, j, _)| i < n && j < n)
            .collect();
        chart
            .draw_series(cells.iter().map(|&(i, j, v)| {
                Rectangle::new(
                    [
                        (SegmentValue::Exact(j), SegmentValue::Exact(n - 1 - i)),
                        (SegmentValue::Exact(j + 1), SegmentValue::Exact(n - i)),
                    ],
                    share_colour(v).filled(),
                )
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(cells.iter().map(|&(i, j, v)| {
                Text::new(
                    if v < 0.0 {
                        "–".to_owned()
                    } else {
                        format!("{v:.2}")
                    },
                    (SegmentValue::CenterOf(j), SegmentValue::CenterOf(n - 1 - i)),
                    TextStyle::from(("sans-serif", 11).into_font())
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )
            }))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::analysis::{ConditionResult, CriterionResult};
    use super::*;

    fn result(names: &[&str]) -> CriterionResult {
        CriterionResult {
            criterion: "Visual <quality>".into(),
            n_answers: 10,
            conditions: names
                .iter()
                .enumerate()
                .map(|(i, n)| ConditionResult {
                    condition: (*n).into(),
                    win_rate: 0.2 + 0.3 * i as f64,
                    wilson_lo: 0.1 + 0.3 * i as f64,
                    wilson_hi: 0.3 + 0.3 * i as f64,
                    appearances: 10.0,
                    wins: 2.0,
                    bt_score: 0.0,
                    bt_lo: 0.0,
                    bt_hi: 0.0,
                    mean_rating: None,
                })
                .collect(),
            pairs: vec![],
            win_matrix: vec![vec![-1.0, 0.25], vec![0.75, -1.0]],
            krippendorff_alpha: None,
            fleiss_kappa: None,
        }
    }

    /// The contents of the SVG's `<text>` elements (plotters puts each on a line of its own).
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect()
    }

    #[test]
    fn bars_name_every_condition_and_escape_text() {
        let svg = win_rate_bars(&result(&["ModelA", "Model<B>"])).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        let t = texts(&svg);
        assert!(t.contains(&"ModelA"), "{t:?}");
        assert!(t.contains(&"Model&lt;B&gt;"), "{t:?}");
        assert!(!svg.contains("Model<B>"), "{svg}");
        assert!(t.contains(&"Win rates: Visual &lt;quality&gt;"), "{t:?}");
        // the values beside the bars
        assert!(t.contains(&"0.20") && t.contains(&"0.50"), "{t:?}");
    }

    #[test]
    fn heatmap_shows_each_share_and_marks_pairs_that_never_met() {
        let svg = win_matrix_heatmap(&result(&["ModelA", "ModelB"])).unwrap();
        let t = texts(&svg);
        assert!(t.contains(&"0.25") && t.contains(&"0.75"), "{t:?}");
        assert_eq!(t.iter().filter(|x| **x == "–").count(), 2, "{t:?}");
        assert!(t.contains(&"ModelA") && t.contains(&"ModelB"), "{t:?}");
        // orange where the row wins, blue where it loses, grey where never compared
        let hex = |c: RGBColor| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
        for v in [0.75, 0.25, -1.0] {
            assert!(svg.contains(&hex(share_colour(v))), "{v}: {svg}");
        }
        assert_ne!(share_colour(0.75), share_colour(0.25));
        assert_eq!(share_colour(0.5), RGBColor(255, 255, 255));
        assert_eq!(share_colour(-1.0), RGBColor(0xee, 0xee, 0xee));
    }

    #[test]
    fn long_names_are_cut() {
        let long = "x".repeat(100);
        assert_eq!(label(&long).chars().count(), MAX_LABEL);
        assert_eq!(label("short"), "short");
    }
}
