# MagicTime-rs: the two entry points are `make run` and `make test`.
# Everything they need is installed idempotently (each step is skipped when already present).
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(abspath .)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
CARGO_TARGET_DIR ?= $(ROOT)/target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/release/magictime
SITE := $(CARGO_TARGET_DIR)/site
ADDR ?= 127.0.0.1:3000
DATA_DIR ?= $(ROOT)/var
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
WASM_BINDGEN_VERSION := 0.2.130

APT_PACKAGES := pkg-config clang brotli ffmpeg libavcodec-dev libavformat-dev libavutil-dev \
  libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev chromium chromium-driver \
  python3-venv postgresql
PIP_PACKAGES := numpy
TEST_PREREQS :=

# Area fragments (data, model, metrics, ...) append to the variables above and add targets.
-include mk/*.mk

.PHONY: help deps deps-apt deps-rust deps-npm venv build run test test-prereqs test-rust test-e2e

help:
	@echo "make run   - build and serve the app at http://$(ADDR) (data in $(DATA_DIR))"
	@echo "make test  - every test, including end2end in headless chromium"

deps: deps-apt deps-rust deps-npm

deps-apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  $(SUDO) apt-get -o DPkg::Lock::Timeout=600 update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -q $$missing; \
	fi

deps-rust:
	@rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" || \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

deps-npm: node_modules/.installed
node_modules/.installed: package.json
	npm install --no-audit --no-fund
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: Makefile $(wildcard mk/*.mk)
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q $(PIP_PACKAGES)
	@touch $@

build: deps
	tools/build_site.sh

run: build transnetv2-weights
	@mkdir -p $(DATA_DIR)
	$(BIN) serve --addr $(ADDR) --data-dir $(DATA_DIR) --site-root $(SITE) --insecure-http

test-prereqs: $(TEST_PREREQS)

# Every test on SQLite, then the integration tests of tests/ (each of its files) again on a
# PostgreSQL server of their own (tools/with_postgres.sh starts and stops it). The second run
# selects the same packages as the first (--workspace), so nothing is built again.
PG_TESTS := $(patsubst tests/tests/%.rs,--test %,$(wildcard tests/tests/*.rs))
test-rust: build test-prereqs
	cargo test --release --workspace
	tools/with_postgres.sh cargo test --release --workspace $(PG_TESTS)

test-e2e: build
	end2end/run.sh

test: test-rust test-e2e
	@echo "all tests passed"
