#!/usr/bin/env bash
# Trains the project's default model on ChronoMagic-Synth (CPU) and writes its weights into
# model/assets/default/ (the files the `default-model` feature embeds).
#
# The recorded run (see model/assets/default/README.md) used exactly this command; the step counts
# are fixed, so a rerun on the same backend reproduces the same data, batches, noise and
# timesteps. (The wall-time caps only stop a run early on a slower machine; the recorded run's
# train_log.json lists the steps it actually took.)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-model/assets/default}
cargo run --release -p magictime-model --no-default-features --example train_default -- \
  --out "$OUT" --clips 256 --seed 0 \
  --vae-steps "${VAE_STEPS:-120}" --vae-batch 8 --vae-max-seconds "${VAE_MAX_SECONDS:-330}" \
  --unet-steps "${UNET_STEPS:-170}" --unet-batch 4 --unet-max-seconds "${UNET_MAX_SECONDS:-840}" \
  "$@"
