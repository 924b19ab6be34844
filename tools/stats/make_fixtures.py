"""Reference values for the study statistics (app/src/ssr/studies/stats.rs).

Writes app/tests/fixtures/stats.json from scipy, statsmodels and the `krippendorff` package:
    /work/venvs/studies/bin/python tools/stats/make_fixtures.py
(venv: pip install numpy scipy statsmodels krippendorff). Not run in CI; the output is committed.
"""
import json
import pathlib

import krippendorff
import numpy as np
from scipy import optimize, stats
from statsmodels.stats.inter_rater import fleiss_kappa
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

rng = np.random.default_rng(20261125)
out = {}

out["wilson"] = []
for k, n in [(0, 10), (10, 10), (7, 10), (52, 100), (1, 3), (333, 1000), (5, 7.5)]:
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    out["wilson"].append({"k": k, "n": n, "lo": float(lo), "hi": float(hi)})

out["binomtest"] = []
for k, n, p in [(7, 10, 0.5), (0, 10, 0.5), (50, 100, 0.5), (61, 100, 0.5), (3, 20, 0.3),
                (15, 20, 0.3), (480, 1000, 0.5), (1, 1, 0.5), (12, 40, 0.25)]:
    out["binomtest"].append({"k": k, "n": n, "p": p,
                             "pvalue": float(stats.binomtest(k, n, p).pvalue)})

out["holm"] = []
for p in [[0.01, 0.04, 0.03, 0.2], [0.5, 0.001, 0.02], list(rng.uniform(0, 0.1, 6))]:
    _, adj, _, _ = multipletests(p, method="holm")
    out["holm"].append({"p": [float(x) for x in p], "adjusted": [float(x) for x in adj]})


def bt_mle(w, eps=0.01):
    """MLE of Bradley-Terry log-strengths (mean 0) with the same 0.01 pseudo-wins as the Rust code."""
    w = np.array(w, dtype=float)
    n = len(w)
    comp = (w + w.T) > 0
    w = w + eps * comp * (1 - np.eye(n))

    def nll(theta):
        theta = np.concatenate([[0.0], theta])
        d = theta[:, None] - theta[None, :]
        return -np.sum(w * (d - np.logaddexp(0, d)))

    res = optimize.minimize(nll, np.zeros(n - 1), method="BFGS", options={"gtol": 1e-10})
    theta = np.concatenate([[0.0], res.x])
    return theta - theta.mean()


out["bradley_terry"] = []
for strengths, m in [([0.0, 0.5, 1.0], 40), ([0.0, -0.3, 0.8, 1.5], 25), ([0.2, 0.1], 100)]:
    s = np.array(strengths)
    n = len(s)
    w = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            p = 1 / (1 + np.exp(s[j] - s[i]))
            k = rng.binomial(m, p)
            w[i, j] += k
            w[j, i] += m - k
    out["bradley_terry"].append({"wins": w.tolist(), "log_strength": bt_mle(w).tolist()})

out["krippendorff"] = []
for _ in range(3):
    n_units, n_coders, cats = 30, 5, 3
    truth = rng.integers(0, cats, n_units)
    data = np.where(rng.uniform(size=(n_coders, n_units)) < 0.7, truth,
                    rng.integers(0, cats, (n_coders, n_units))).astype(float)
    data[rng.uniform(size=data.shape) < 0.25] = np.nan  # missing ratings
    alpha = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    units = [[int(v) for v in data[:, u] if not np.isnan(v)] for u in range(n_units)]
    out["krippendorff"].append({"units": units, "alpha": float(alpha)})

out["fleiss"] = []
for _ in range(3):
    table = rng.multinomial(6, [0.5, 0.3, 0.2], size=20)
    out["fleiss"].append({"table": table.tolist(), "kappa": float(fleiss_kappa(table, method="fleiss"))})

path = pathlib.Path(__file__).resolve().parents[2] / "app/tests/fixtures/stats.json"
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
