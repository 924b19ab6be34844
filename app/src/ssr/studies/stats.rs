//! The statistics of a user study: Wilson score intervals, exact two-sided binomial (sign) tests
//! with Holm's step-down correction, Bradley–Terry scores (Hunter's MM algorithm) with
//! percentile-bootstrap intervals, Krippendorff's α (nominal) and Fleiss' κ.
//!
//! Checked against scipy / statsmodels / the `krippendorff` package by the fixtures that
//! `tools/stats/make_fixtures.py` writes to `app/tests/fixtures/stats.json`.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{Binomial, Discrete};

/// z for a two-sided 95 % interval (scipy.stats.norm.ppf(0.975)).
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `k` successes out of `n` (statsmodels `proportion_confint(method="wilson")`).
pub fn wilson(k: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Exact two-sided binomial test p-value, as `scipy.stats.binomtest(k, n, p).pvalue`
/// (sums the probabilities of outcomes no more likely than the observed one).
pub fn binom_test(k: u64, n: u64, p: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let Ok(b) = Binomial::new(p, n) else {
        return f64::NAN;
    };
    let d = b.pmf(k);
    let rerr = 1.0 + 1e-7;
    let total: f64 = (0..=n).map(|i| b.pmf(i)).filter(|&q| q <= d * rerr).sum();
    total.min(1.0)
}

/// Holm's step-down adjusted p-values (statsmodels `multipletests(method="holm")`), same order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

/// Bradley–Terry log-strengths (mean 0) from a win matrix `w[i][j]` = times i beat j (ties
/// counted as half a win each way). Hunter's (2004) MM iterations to the maximum-likelihood
/// estimate; a small prior (0.01 wins each way on compared pairs) keeps undefeated or winless
/// items finite.
pub fn bradley_terry(w: &[Vec<f64>]) -> Vec<f64> {
    let n = w.len();
    if n == 0 {
        return vec![];
    }
    let eps = 0.01;
    let mut ww = w.to_vec();
    for i in 0..n {
        for j in 0..n {
            if i != j && (w[i][j] + w[j][i]) > 0.0 {
                ww[i][j] += eps;
            }
        }
    }
    let wins: Vec<f64> = ww.iter().map(|r| r.iter().sum()).collect();
    let mut s = vec![1.0; n];
    for _ in 0..10_000 {
        let mut next = vec![0.0; n];
        for i in 0..n {
            let mut denom = 0.0;
            for j in 0..n {
                let nij = ww[i][j] + ww[j][i];
                if i != j && nij > 0.0 {
                    denom += nij / (s[i] + s[j]);
                }
            }
            next[i] = if denom > 0.0 { wins[i] / denom } else { s[i] };
        }
        let g = next.iter().map(|x: &f64| x.ln()).sum::<f64>() / n as f64;
        next.iter_mut().for_each(|x| *x /= g.exp());
        let diff = next
            .iter()
            .zip(&s)
            .map(|(a, b)| (a.ln() - b.ln()).abs())
            .fold(0.0, f64::max);
        s = next;
        if diff < 1e-12 {
            break;
        }
    }
    s.iter().map(|x| x.ln()).collect()
}

/// One pairwise outcome: `winner` beat `loser`, or a tie between them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Outcome {
    pub a: usize,
    pub b: usize,
    /// 1.0: a won; 0.0: b won; 0.5: tie.
    pub score_a: f64,
}

pub fn win_matrix(n: usize, outcomes: &[Outcome]) -> Vec<Vec<f64>> {
    let mut w = vec![vec![0.0; n]; n];
    for o in outcomes {
        w[o.a][o.b] += o.score_a;
        w[o.b][o.a] += 1.0 - o.score_a;
    }
    w
}

/// Percentile-bootstrap 95 % intervals of the Bradley–Terry log-strengths (`reps` resamples of
/// the outcomes, seeded).
pub fn bt_bootstrap(n: usize, outcomes: &[Outcome], reps: usize, seed: u64) -> Vec<(f64, f64)> {
    if outcomes.is_empty() {
        return vec![(0.0, 0.0); n];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(reps); n];
    let mut sample = Vec::with_capacity(outcomes.len());
    for _ in 0..reps {
        sample.clear();
        for _ in 0..outcomes.len() {
            sample.push(outcomes[rng.random_range(0..outcomes.len())]);
        }
        let s = bradley_terry(&win_matrix(n, &sample));
        for (d, v) in draws.iter_mut().zip(s) {
            d.push(v);
        }
    }
    draws
        .into_iter()
        .map(|mut d| {
            d.sort_by(f64::total_cmp);
            (percentile(&d, 2.5), percentile(&d, 97.5))
        })
        .collect()
}

/// Linear-interpolated percentile of sorted data (numpy's default).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Krippendorff's α for nominal data. `units[u]` holds the values the coders gave unit u
/// (missing values simply absent); units with fewer than two values are not pairable. None when
/// there is nothing to compare or no variation at all (α undefined). Any category type: the
/// studies pass answer indices, caption annotation its flags. Ordered maps, so the sums (and the
/// exported α) are the same on every run.
pub fn krippendorff_alpha_nominal<T: Ord + Clone>(units: &[Vec<T>]) -> Option<f64> {
    // Coincidences o_ck = Σ_u (pairs of values c, k in u from different coders) / (m_u − 1).
    let mut o: std::collections::BTreeMap<(T, T), f64> = Default::default();
    for vals in units.iter().filter(|v| v.len() >= 2) {
        let w = 1.0 / (vals.len() as f64 - 1.0);
        for (i, a) in vals.iter().enumerate() {
            for (j, b) in vals.iter().enumerate() {
                if i != j {
                    *o.entry((a.clone(), b.clone())).or_default() += w;
                }
            }
        }
    }
    let mut n_c: std::collections::BTreeMap<T, f64> = Default::default();
    for ((c, _), v) in &o {
        *n_c.entry(c.clone()).or_default() += v;
    }
    let n: f64 = n_c.values().sum();
    if n <= 1.0 {
        return None;
    }
    let d_o: f64 = o.iter().filter(|((c, k), _)| c != k).map(|(_, v)| v).sum();
    let sum_sq: f64 = n_c.values().map(|v| v * v).sum();
    let d_e = n * n - sum_sq; // Σ_{c≠k} n_c n_k
    if d_e <= 0.0 {
        return None;
    }
    Some(1.0 - (n - 1.0) * d_o / d_e)
}

/// Fleiss' κ from a subjects × categories count table where every subject has the same number
/// of ratings (statsmodels `fleiss_kappa(table, method="fleiss")`).
pub fn fleiss_kappa(table: &[Vec<f64>]) -> Option<f64> {
    let n_sub = table.len() as f64;
    let r = table.first()?.iter().sum::<f64>();
    if r < 2.0
        || table
            .iter()
            .any(|row| (row.iter().sum::<f64>() - r).abs() > 1e-9)
    {
        return None;
    }
    let cats = table[0].len();
    let total = n_sub * r;
    let p_cat: Vec<f64> = (0..cats)
        .map(|c| table.iter().map(|row| row[c]).sum::<f64>() / total)
        .collect();
    let p_rat: Vec<f64> = table
        .iter()
        .map(|row| (row.iter().map(|x| x * x).sum::<f64>() - r) / (r * (r - 1.0)))
        .collect();
    let p_mean = p_rat.iter().sum::<f64>() / n_sub;
    let p_e: f64 = p_cat.iter().map(|p| p * p).sum();
    if (1.0 - p_e).abs() < 1e-15 {
        return None;
    }
    Some((p_mean - p_e) / (1.0 - p_e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn fixtures() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stats.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect(path)).expect("stats.json")
    }

    fn f(v: &Value) -> f64 {
        v.as_f64().expect("number")
    }

    fn close(a: f64, b: f64, tol: f64, what: &str) {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: got {a}, want {b}"
        );
    }

    #[test]
    fn wilson_matches_statsmodels() {
        for case in fixtures()["wilson"].as_array().unwrap() {
            let (lo, hi) = wilson(f(&case["k"]), f(&case["n"]), Z95);
            close(lo, f(&case["lo"]), 1e-9, "wilson lo");
            close(hi, f(&case["hi"]), 1e-9, "wilson hi");
        }
    }

    #[test]
    fn binomtest_matches_scipy() {
        for case in fixtures()["binomtest"].as_array().unwrap() {
            let p = binom_test(
                case["k"].as_u64().unwrap(),
                case["n"].as_u64().unwrap(),
                f(&case["p"]),
            );
            close(p, f(&case["pvalue"]), 1e-8, "binomtest");
        }
    }

    #[test]
    fn holm_matches_statsmodels() {
        for case in fixtures()["holm"].as_array().unwrap() {
            let p: Vec<f64> = case["p"].as_array().unwrap().iter().map(f).collect();
            let want: Vec<f64> = case["adjusted"].as_array().unwrap().iter().map(f).collect();
            let got = holm(&p);
            assert_eq!(got.len(), want.len(), "holm: one value per p");
            for (a, b) in got.into_iter().zip(want) {
                close(a, b, 1e-12, "holm");
            }
        }
    }

    #[test]
    fn bradley_terry_matches_scipy_mle() {
        for case in fixtures()["bradley_terry"].as_array().unwrap() {
            let w: Vec<Vec<f64>> = case["wins"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_array().unwrap().iter().map(f).collect())
                .collect();
            let want: Vec<f64> = case["log_strength"]
                .as_array()
                .unwrap()
                .iter()
                .map(f)
                .collect();
            let got = bradley_terry(&w);
            assert_eq!(
                got.len(),
                want.len(),
                "bradley-terry: one strength per item"
            );
            for (a, b) in got.into_iter().zip(want) {
                close(a, b, 1e-4, "bradley-terry");
            }
        }
    }

    #[test]
    fn krippendorff_and_fleiss_match_reference() {
        let fx = fixtures();
        for case in fx["krippendorff"].as_array().unwrap() {
            let units: Vec<Vec<usize>> = case["units"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| {
                    u.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_u64().unwrap() as usize)
                        .collect()
                })
                .collect();
            close(
                krippendorff_alpha_nominal(&units).unwrap(),
                f(&case["alpha"]),
                1e-9,
                "krippendorff",
            );
        }
        for case in fx["fleiss"].as_array().unwrap() {
            let t: Vec<Vec<f64>> = case["table"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_array().unwrap().iter().map(f).collect())
                .collect();
            close(fleiss_kappa(&t).unwrap(), f(&case["kappa"]), 1e-9, "fleiss");
        }
    }

    #[test]
    fn bootstrap_interval_brackets_estimate_and_is_seeded() {
        let mut outcomes = vec![];
        for i in 0..60 {
            outcomes.push(Outcome {
                a: 0,
                b: 1,
                score_a: if i % 3 == 0 { 0.0 } else { 1.0 },
            });
            outcomes.push(Outcome {
                a: 1,
                b: 2,
                score_a: if i % 4 == 0 { 0.0 } else { 1.0 },
            });
            outcomes.push(Outcome {
                a: 0,
                b: 2,
                score_a: if i % 5 == 0 { 0.5 } else { 1.0 },
            });
        }
        let est = bradley_terry(&win_matrix(3, &outcomes));
        let ci = bt_bootstrap(3, &outcomes, 300, 7);
        assert_eq!(ci, bt_bootstrap(3, &outcomes, 300, 7));
        assert_eq!((est.len(), ci.len()), (3, 3));
        for (e, (lo, hi)) in est.iter().zip(&ci) {
            assert!(lo < e && e < hi, "{lo} < {e} < {hi}");
        }
        assert!(est[0] > est[1] && est[1] > est[2]);
    }

    /// Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 coders × 12
    /// units example with missing values: nominal α = 0.743421 (the `krippendorff` PyPI package
    /// gives 0.743421; tools/bench/annotate_alpha.py recomputes it and the cases below).
    #[test]
    fn alpha_matches_krippendorffs_worked_example() {
        let m = None;
        let coders: [[Option<u8>; 12]; 4] = [
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(1),
                Some(4),
                Some(1),
                Some(2),
                m,
                m,
                m,
            ],
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(2),
                Some(4),
                Some(1),
                Some(2),
                Some(5),
                m,
                Some(3),
            ],
            [
                m,
                Some(3),
                Some(3),
                Some(3),
                Some(2),
                Some(3),
                Some(4),
                Some(2),
                Some(2),
                Some(5),
                Some(1),
                m,
            ],
            [
                Some(1),
                Some(2),
                Some(3),
                Some(3),
                Some(2),
                Some(4),
                Some(4),
                Some(1),
                Some(2),
                Some(5),
                Some(1),
                m,
            ],
        ];
        let units: Vec<Vec<u8>> = (0..12)
            .map(|u| coders.iter().filter_map(|c| c[u]).collect())
            .collect();
        let a = krippendorff_alpha_nominal(&units).unwrap();
        assert!((a - 0.743421).abs() < 1e-6, "{a}");
    }

    #[test]
    fn alpha_edge_cases() {
        // Perfect agreement with variation: 1.
        assert_eq!(
            krippendorff_alpha_nominal(&[vec![true, true], vec![false, false]]),
            Some(1.0)
        );
        // No variation at all: undefined.
        assert_eq!(
            krippendorff_alpha_nominal(&[vec![false, false], vec![false, false]]),
            None
        );
        // Nothing pairable.
        assert_eq!(
            krippendorff_alpha_nominal::<bool>(&[vec![true], vec![]]),
            None
        );
        // Systematic disagreement: −0.5 (krippendorff.alpha on [[1, 0], [0, 1]]).
        assert!(
            (krippendorff_alpha_nominal(&[vec![true, false], vec![false, true]]).unwrap() + 0.5)
                .abs()
                < 1e-12
        );
    }
}
