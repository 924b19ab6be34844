#!/usr/bin/env bash
# Trains the project's default model on ChronoMagic-Synth (CPU) with MagicTime's recipe and writes
# its weights into model/assets/default/ (the files the `default-model` feature embeds):
#   a  VAE, then text encoder + spatial UNet on single frames of all clips
#   b  motion modules on general clips (base frozen)
#   c  Magic Adapter S on keyframes of metamorphic clips (motion modules removed)
#   d  Magic Adapter T + Magic Text-Encoder on metamorphic videos (base + S frozen)
# STAGE=a|b|c|d|all picks the stages (b–d read the earlier stages' weights from $OUT);
# RESUME=1 continues from $OUT/checkpoints. Step counts are fixed, so a rerun on the same backend
# reproduces the same data, batches, noise and timesteps.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-model/assets/default}
RESUME_FLAG=()
if [ "${RESUME:-0}" = 1 ]; then RESUME_FLAG=(--resume); fi
cargo run --release -p magictime-model --no-default-features --example train_default -- \
  --out "$OUT" --stage "${STAGE:-all}" --preset "${PRESET:-s32}" --clips "${CLIPS:-256}" --seed 0 \
  --vae-steps "${VAE_STEPS:-120}" --vae-batch 8 \
  --unet-steps "${UNET_STEPS:-170}" --unet-batch "${UNET_BATCH:-4}" \
  --motion-steps "${MOTION_STEPS:-170}" --adapter-s-steps "${ADAPTER_S_STEPS:-100}" \
  --adapter-t-steps "${ADAPTER_T_STEPS:-100}" \
  "${RESUME_FLAG[@]}" "$@"
