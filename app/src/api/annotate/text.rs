//! Caption text helpers shared by the browser (word count, diff against the draft) and the
//! server (agreement between annotators' captions).

/// The ChronoMagic guideline: captions of at most this many words (upstream's summary limit).
pub const MAX_WORDS: usize = 70;

/// Words as the guideline counts them (whitespace-separated).
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Lower-case word tokens without surrounding punctuation, for comparisons.
pub fn tokens(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// One piece of a word diff.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DiffPart {
    Same(String),
    Added(String),
    Removed(String),
}

/// Word-level diff of `new` against `old` (longest common subsequence over whitespace words).
pub fn word_diff(old: &str, new: &str) -> Vec<DiffPart> {
    let a: Vec<&str> = old.split_whitespace().collect();
    let b: Vec<&str> = new.split_whitespace().collect();
    // Captions are short (~70 words): the O(n·m) table is tiny.
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![0u16; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[at(i, j)] = if a[i] == b[j] {
                lcs[at(i + 1, j + 1)] + 1
            } else {
                lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out: Vec<DiffPart> = Vec::new();
    let mut push = |p: DiffPart| out.push(p);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            push(DiffPart::Same(a[i].to_owned()));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[at(i, j + 1)] >= lcs[at(i + 1, j)]) {
            push(DiffPart::Added(b[j].to_owned()));
            j += 1;
        } else {
            push(DiffPart::Removed(a[i].to_owned()));
            i += 1;
        }
    }
    out
}

/// Levenshtein distance between token sequences.
pub fn token_edit_distance(a: &[String], b: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(x != y);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Edit distance normalised to [0, 1] by the longer caption (0 = same tokens).
pub fn normalized_edit_distance(a: &str, b: &str) -> f64 {
    let (ta, tb) = (tokens(a), tokens(b));
    let n = ta.len().max(tb.len());
    if n == 0 {
        return 0.0;
    }
    token_edit_distance(&ta, &tb) as f64 / n as f64
}

/// Sentence BLEU of `hyp` against one reference: geometric mean of clipped 1..4-gram
/// precisions with add-one smoothing for n > 1 (Lin & Och 2004) and the brevity penalty.
pub fn bleu(reference: &str, hyp: &str) -> f64 {
    let (r, h) = (tokens(reference), tokens(hyp));
    if h.is_empty() || r.is_empty() {
        return if h.is_empty() && r.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let mut log_sum = 0.0;
    for n in 1..=4usize {
        let (rc, hc) = (ngram_counts(&r, n), ngram_counts(&h, n));
        let matched: usize = hc
            .iter()
            .map(|(g, c)| (*c).min(rc.get(g).copied().unwrap_or(0)))
            .sum();
        let total = h.len().saturating_sub(n - 1);
        let p = if n == 1 {
            if matched == 0 {
                return 0.0;
            }
            matched as f64 / total as f64
        } else {
            (matched as f64 + 1.0) / (total as f64 + 1.0)
        };
        log_sum += p.ln() / 4.0;
    }
    let bp = if h.len() >= r.len() {
        1.0
    } else {
        (1.0 - r.len() as f64 / h.len() as f64).exp()
    };
    bp * log_sum.exp()
}

fn ngram_counts(t: &[String], n: usize) -> std::collections::HashMap<&[String], usize> {
    let mut m = std::collections::HashMap::new();
    for g in t.windows(n) {
        *m.entry(g).or_default() += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_tokens() {
        assert_eq!(word_count("  A rose  blooms.\n"), 3);
        assert_eq!(tokens("A Rose, blooms!"), vec!["a", "rose", "blooms"]);
    }

    #[test]
    fn diff_marks_added_and_removed_words() {
        let d = word_diff("a red rose opens", "a white rose opens slowly");
        assert_eq!(
            d,
            vec![
                DiffPart::Same("a".into()),
                DiffPart::Added("white".into()),
                DiffPart::Removed("red".into()),
                DiffPart::Same("rose".into()),
                DiffPart::Same("opens".into()),
                DiffPart::Added("slowly".into()),
            ]
        );
        assert!(word_diff("", "").is_empty());
    }

    #[test]
    fn edit_distance_and_bleu() {
        let t = |s: &str| tokens(s);
        assert_eq!(token_edit_distance(&t("a b c"), &t("a x c d")), 2);
        assert_eq!(normalized_edit_distance("a b c", "a b c"), 0.0);
        assert!((normalized_edit_distance("a b c d", "a b") - 0.5).abs() < 1e-12);
        assert!((bleu("the ice melts into water", "the ice melts into water") - 1.0).abs() < 1e-12);
        assert_eq!(bleu("the ice melts", "flowers bloom"), 0.0);
        // Hand-computed: hyp "the ice melts" vs ref "the ice melts into water":
        // p1 = 3/3, p2 = (2+1)/(2+1), p3 = (1+1)/(1+1), p4 = (0+1)/(0+1) → 1; BP = e^(1-5/3).
        let b = bleu("the ice melts into water", "the ice melts");
        assert!((b - (1.0f64 - 5.0 / 3.0).exp()).abs() < 1e-12, "{b}");
    }
}
