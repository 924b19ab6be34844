#!/usr/bin/env python3
"""FID Inception parity fixture: pytorch-fid's own model code on closed-form pseudo-random weights.

Not run in CI; writes metrics/tests/fixtures/fid_inception_random.safetensors (outputs only).

Why closed-form weights: the real `pt_inception-2015-12-05-6726825d.pth` is not obtainable from
a package registry, and a full random state dict (~24M values, 95 MB) is far too big to commit.
Instead every tensor of the state dict is filled by a generator both sides implement exactly
with integer arithmetic: value i of tensor `key` is `u = splitmix64(fnv1a64(key) + i)` mapped to
[-1, 1) (top 53 bits), then conv weights `u·√(6/fan_in)` (He-uniform), BatchNorm
`weight = 1 + 0.1u`, `bias = 0.1u`, `running_mean = 0.1u`, `running_var = 1 + 0.25(u + 1)`,
fc `0.01u`. The Rust test (metrics/src/fid/random.rs) regenerates the same state dict and
runs it through the same loader that reads the real weights, so the whole network — every
block, padding, pooling, the resize to 299 and the [-1, 1] scaling — is checked, not a subset.

pytorch-fid builds the model with `fid_inception_v3()`, which downloads the weights; this script
patches that one download to return the generated state dict and otherwise runs pytorch-fid
unchanged. Needs torch, torchvision, pytorch-fid==0.3.0, safetensors:

    /work/venvs/metrics-torch/bin/python tools/metrics/make_fid_fixture.py
"""
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

import pytorch_fid.inception as pfi

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "metrics", "tests", "fixtures")
MASK = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def uniform(key, n):
    """splitmix64(fnv1a64(key) + i) for i < n, mapped to [-1, 1), as float64."""
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(key)) + np.arange(n, dtype=np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53) * 2.0 - 1.0


def generate(key, shape):
    n = int(np.prod(shape))
    u = uniform(key, n)
    if key.endswith("conv.weight"):
        fan_in = int(np.prod(shape[1:]))
        v = u * np.sqrt(6.0 / fan_in)
    elif key.endswith("bn.weight"):
        v = 1.0 + 0.1 * u
    elif key.endswith("bn.bias") or key.endswith("bn.running_mean"):
        v = 0.1 * u
    elif key.endswith("bn.running_var"):
        v = 1.0 + 0.25 * (u + 1.0)
    elif key.startswith("fc."):
        v = 0.01 * u
    else:
        raise KeyError(key)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def input_images():
    """Two 3×64×48 images in [0, 1] (then resized to 299 by pytorch-fid)."""
    u = uniform("input", 2 * 3 * 64 * 48)
    return ((u + 1.0) / 2.0).astype(np.float32).reshape(2, 3, 64, 48)


def main():
    orig_load = torch.nn.Module.load_state_dict

    def generated_load(self, state_dict, *args, **kwargs):
        if isinstance(state_dict, str) and state_dict == "GENERATE":
            state_dict = {
                k: (t if k.endswith("num_batches_tracked") else generate(k, tuple(t.shape)))
                for k, t in self.state_dict().items()
            }
            print(f"generated {len(state_dict)} tensors")
        return orig_load(self, state_dict, *args, **kwargs)

    pfi.load_state_dict_from_url = lambda *a, **k: "GENERATE"
    torch.nn.Module.load_state_dict = generated_load
    try:
        model = pfi.InceptionV3(output_blocks=(0, 1, 2, 3)).eval()
    finally:
        torch.nn.Module.load_state_dict = orig_load

    names = [
        ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1"],
        ["Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2"],
        ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"],
        ["Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool"],
    ]
    out = {}
    for block, block_names in zip(model.blocks, names):
        for layer, name in zip(block, block_names):
            layer.register_forward_hook(
                lambda _m, _i, o, name=name: out.__setitem__(f"mean/{name}", o.mean(dim=(2, 3)).numpy().copy())
            )
    x = torch.from_numpy(input_images())
    with torch.no_grad():
        feats = model(x)
    out["pool"] = feats[3].reshape(2, 2048).numpy()
    out["resized"] = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)[
        0, 0, 100:104, 100:108
    ].numpy().copy()
    print("pool[0,:5]", out["pool"][0, :5], "mean", out["pool"].mean())
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()},
              os.path.join(OUT, "fid_inception_random.safetensors"))


if __name__ == "__main__":
    sys.exit(main())
