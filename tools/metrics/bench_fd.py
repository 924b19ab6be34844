#!/usr/bin/env python3
"""Reference side of the Fréchet-distance benchmark (called by `magictime_metrics::bench`).

Reads mu1, sigma1, mu2, sigma2 (float64) from a safetensors file written by the Rust side and
times, on the same data:
  - pytorch-fid `calculate_frechet_distance` (scipy.linalg.sqrtm of Σ₁Σ₂), when importable,
    otherwise the same formula written out with scipy.linalg.sqrtm;
  - the numpy eigvals form: tr √(Σ₁Σ₂) = Σ √λ over `np.linalg.eigvals(Σ₁ @ Σ₂)`;
  - the symmetric form with scipy.linalg.eigh (what the Rust side does).
Prints one JSON object: {"name": {"seconds": s, "value": fd}, ...}.
Usage: bench_fd.py STATS.safetensors [--skip-sqrtm]
"""
import json
import sys
import time

import numpy as np
import scipy.linalg


def load(path):
    from safetensors.numpy import load_file

    d = load_file(path)
    return d["mu1"], d["sigma1"], d["mu2"], d["sigma2"]


def sqrtm_form(mu1, s1, mu2, s2):
    try:
        from pytorch_fid.fid_score import calculate_frechet_distance

        return float(calculate_frechet_distance(mu1, s1, mu2, s2))
    except ImportError:
        covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
        covmean = covmean.real
        diff = mu1 - mu2
        return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def eigvals_form(mu1, s1, mu2, s2):
    ev = np.linalg.eigvals(s1 @ s2)
    tr = np.sqrt(np.clip(ev.real, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr)


def eigh_form(mu1, s1, mu2, s2):
    w, v = scipy.linalg.eigh(s1)
    b = np.sqrt(np.clip(w, 0, None))[:, None] * v.T
    m = b @ s2 @ b.T
    e = scipy.linalg.eigvalsh((m + m.T) / 2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(e, 0, None)).sum())


def main():
    stats = load(sys.argv[1])
    forms = [("numpy_eigvals", eigvals_form), ("scipy_eigh", eigh_form)]
    if "--skip-sqrtm" not in sys.argv:
        forms.insert(0, ("pytorch_fid_sqrtm", sqrtm_form))
    out = {}
    for name, fn in forms:
        t0 = time.perf_counter()
        value = fn(*stats)
        out[name] = {"seconds": time.perf_counter() - t0, "value": value}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
