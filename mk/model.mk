# --- model-a: CLIP / VAE / schedulers / tokenizer -------------------------------------------
# The parity fixtures in model/tests/fixtures/clip_vae/ are committed; this regenerates them with
# the reference env (torch CPU, diffusers, transformers). Not part of `make test`.
REF_PY ?= /work/venvs/ref/bin/python
.PHONY: model-clip-vae-fixtures
model-clip-vae-fixtures:
	$(REF_PY) tools/parity/make_clip_vae_fixtures.py
