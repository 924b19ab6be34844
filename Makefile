# MagicTime-rs: the two entry points are `make run` and `make test`.
# Everything they need is installed idempotently (skipped when already present).
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
APT_PACKAGES := pkg-config clang ffmpeg libavcodec-dev libavformat-dev libavutil-dev \
  libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev chromium chromium-driver
PIP_PACKAGES := numpy
TEST_PREREQS :=

# Area fragments (data, model, metrics, ...) append to the variables above.
-include mk/*.mk

.PHONY: help
help:
	@echo "make run   - build and serve the app (prints the URL)"
	@echo "make test  - every test, including end2end in headless chromium"
