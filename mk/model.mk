# --- model-a: CLIP / VAE / schedulers / tokenizer -------------------------------------------
# The parity fixtures in model/tests/fixtures/clip_vae/ are committed; this regenerates them with
# the reference env (torch CPU, diffusers, transformers). Not part of `make test`.
REF_PY ?= /work/venvs/ref/bin/python
.PHONY: model-clip-vae-fixtures
model-clip-vae-fixtures:
	$(REF_PY) tools/parity/make_clip_vae_fixtures.py

# --- model-b: UNet3D + motion modules / pipeline / generate / bench --------------------------
# Regenerate the committed UNet + pipeline parity fixtures (model/tests/fixtures/unet/); needs the
# clip_vae fixtures (the pipeline run reuses their tiny CLIP and VAE). Not part of `make test`.
.PHONY: model-unet-fixtures model-bench
model-unet-fixtures:
	$(REF_PY) tools/parity/make_unet_fixtures.py
# Burn CPU vs diffusers/torch CPU on the same UNet weights (channels 64/128/256, 16 frames,
# 64x64 latents); prints seconds per step, peak RSS, attention share and their ratios.
model-bench:
	MAGICTIME_REF_PYTHON=$(REF_PY) cargo run --release -p magictime-model --example bench_unet
