#!/usr/bin/env python3
"""Fixtures for the Fréchet distance and KID parity tests of `magictime-metrics`.

Not run in CI: its outputs are committed under metrics/tests/fixtures/.
Needs numpy, scipy, safetensors, pytorch-fid (for `calculate_frechet_distance`, the reference)
and clean-fid (for `kernel_distance`, the KID reference). Both reference packages import torch,
so run it with a venv that has torch, e.g.:

    python -m venv /work/venvs/metrics-torch   # layered on the ref venv via a .pth file
    /work/venvs/metrics-torch/bin/pip install --no-deps pytorch-fid==0.3.0 torchvision clean-fid==0.1.35
    /work/venvs/metrics-torch/bin/python tools/metrics/make_fd_fixtures.py

Every fixture stores its inputs (features in float32, statistics in float64) next to the reference outputs, so the Rust
test recomputes everything from the same numbers.
"""
import os
import sys

import numpy as np
import scipy.linalg
from safetensors.numpy import save_file

from pytorch_fid.fid_score import calculate_frechet_distance

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "metrics", "tests", "fixtures")


def stats(x):
    # exactly pytorch-fid's calculate_activation_statistics
    return np.mean(x, axis=0), np.cov(x, rowvar=False)


def fd_eigh(mu1, s1, mu2, s2):
    """Independent reference: symmetric form tr sqrt(sqrt(S1) S2 sqrt(S1)) with eigh, clamped."""
    w, v = scipy.linalg.eigh(s1)
    r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r @ s2 @ r
    e = scipy.linalg.eigvalsh((m + m.T) / 2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(e, 0, None)).sum())


def correlated(rng, n, d, scale, shift):
    a = rng.standard_normal((d, d)) * scale / np.sqrt(d)
    return rng.standard_normal((n, d)) @ (np.eye(d) + a) + shift


def fd_case(name, x1, x2):
    # features as the networks emit them (float32); statistics in float64 like pytorch-fid
    x1 = x1.astype(np.float32)
    x2 = x2.astype(np.float32)
    mu1, s1 = stats(x1.astype(np.float64))
    mu2, s2 = stats(x2.astype(np.float64))
    fd_ref = float(calculate_frechet_distance(mu1, s1, mu2, s2))
    fd_e = fd_eigh(mu1, s1, mu2, s2)
    print(f"{name}: n=({len(x1)},{len(x2)}) d={x1.shape[1]} pytorch-fid FD = {fd_ref!r}, eigh FD = {fd_e!r}")
    save_file(
        {
            "x1": x1, "x2": x2, "mu1": mu1, "sigma1": s1, "mu2": mu2, "sigma2": s2,
            "fd_pytorch_fid": np.array([fd_ref]), "fd_eigh": np.array([fd_e]),
        },
        os.path.join(OUT, f"fd_{name}.safetensors"),
    )


def kid_case(name, f1, f2, num_subsets, max_subset_size, seed):
    from cleanfid.fid import kernel_distance

    # float32 like network features; the kernels are computed in float64 on both sides
    f1 = f1.astype(np.float32).astype(np.float64)
    f2 = f2.astype(np.float32).astype(np.float64)

    # Record the subsets clean-fid draws so the Rust test can use the very same ones.
    drawn = []
    orig_choice = np.random.choice

    def recording_choice(a, size=None, replace=True, p=None):
        idx = orig_choice(a, size, replace=replace, p=p)
        drawn.append(np.asarray(idx, dtype=np.int64))
        return idx

    np.random.seed(seed)
    np.random.choice = recording_choice
    try:
        kid_ref = float(kernel_distance(f1, f2, num_subsets=num_subsets, max_subset_size=max_subset_size))
    finally:
        np.random.choice = orig_choice
    # clean-fid draws x from feats2 then y from feats1, per subset
    idx2 = np.stack(drawn[0::2])
    idx1 = np.stack(drawn[1::2])
    # per-subset values (for the standard deviation), written from the formula independently
    n = f1.shape[1]
    m = idx1.shape[1]
    per = []
    for s in range(num_subsets):
        x, y = f2[idx2[s]], f1[idx1[s]]
        kxx = (x @ x.T / n + 1) ** 3
        kyy = (y @ y.T / n + 1) ** 3
        kxy = (x @ y.T / n + 1) ** 3
        per.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))
    per = np.array(per)
    print(f"kid {name}: clean-fid = {kid_ref!r}, mean per-subset = {per.mean()!r}, std = {per.std()!r}")
    save_file(
        {
            "f1": f1.astype(np.float32), "f2": f2.astype(np.float32), "idx1": idx1, "idx2": idx2,
            "kid_clean_fid": np.array([kid_ref]), "kid_per_subset": per,
        },
        os.path.join(OUT, f"kid_{name}.safetensors"),
    )


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261125)
    # 1. small, well conditioned
    fd_case("d8_n64", rng.standard_normal((64, 8)), rng.standard_normal((64, 8)) * 1.2 + 0.3)
    # 2. correlated, different covariances
    fd_case("d64_n256", correlated(rng, 256, 64, 1.0, 0.0), correlated(rng, 256, 64, 2.0, 0.5))
    # 3. rank deficient: n < d, singular covariances (pytorch-fid falls back to an eps offset here)
    fd_case("d48_n20", correlated(rng, 20, 48, 1.0, 0.0), correlated(rng, 20, 48, 1.0, 0.2))
    # 4. larger, feature-like (non-negative, like Inception pool3 activations)
    fd_case("d128_n400", np.abs(correlated(rng, 400, 128, 1.5, 0.0)), np.abs(correlated(rng, 400, 128, 1.5, 0.1)))
    # KID: 10 subsets of 100 out of 300 / 250 features, 16-d
    kid_case("d16", np.abs(rng.standard_normal((300, 16))), np.abs(rng.standard_normal((250, 16))) * 1.1, 10, 100, 7)
    # KID where max_subset_size exceeds the smaller set (m = min(n1, n2) = 120)
    kid_case("d32_small", rng.standard_normal((150, 32)), rng.standard_normal((120, 32)) + 0.1, 5, 1000, 11)


if __name__ == "__main__":
    sys.exit(main())
