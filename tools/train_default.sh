#!/usr/bin/env bash
# Trains the project's default model on ChronoMagic-Synth (CPU) with MagicTime's recipe and writes
# its weights into $OUT (default model/assets/default/, the files the `default-model` feature
# embeds). The recorded run (model/assets/default/README.md) is exactly this script's defaults:
#   a  VAE (32² crops of the 64² frames, then whole frames), then the spatial UNet on single
#      frames of all clips, conditioned by the in-domain CLIP's text tower (frozen, as SD keeps
#      its CLIP text encoder)
#   b  motion modules on general clips (base frozen)
#   c  Magic Adapter S on keyframes of metamorphic clips (motion modules removed)
#   d  Magic Adapter T + Magic Text-Encoder on metamorphic videos (base + S frozen)
# The temporal stages b and d weigh the ε-loss by min(1/ᾱ_t, 20) (--v-loss-cap): with the plain
# ε-MSE the motion modules learned to hold a video still and Adapter T (rank 8 or 16) did not
# raise the metamorphic amplitude at all (model/assets/default/README.md, "Temporal stages").
# STAGES="a b c d" picks the stages (b–d read the earlier stages' weights from $OUT). Every loop
# checkpoints into $OUT/checkpoints and a rerun continues from there (--resume): a killed run loses
# at most a few minutes. Step counts are fixed, so a rerun reproduces the same data, batches,
# noise and timesteps.
# It runs the `magictime` binary (`magictime model train-default`), which embeds the in-domain
# CLIP that stage a starts the text encoder from.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-model/assets/default}
cargo build --release -p magictime-server --bin magictime
BIN=${CARGO_TARGET_DIR:-target}/release/magictime
common=(--out "$OUT" --preset s64 --clips "${CLIPS:-512}" --seed 0 --resume
  --checkpoint-every-minutes 5)
for stage in ${STAGES:-a b c d}; do
  case $stage in
    a) "$BIN" model train-default "${common[@]}" --stage a \
         --vae-steps "${VAE_STEPS:-9000}" --vae-batch 8 --vae-crop 32 --vae-crop-steps 8400 \
         --unet-steps "${UNET_STEPS:-16000}" --unet-batch 8 --text-encoder-init in-domain ;;
    b) "$BIN" model train-default "${common[@]}" --stage b --unet-batch 4 \
         --motion-steps "${MOTION_STEPS:-3000}" --v-loss-cap 20 ;;
    c) "$BIN" model train-default "${common[@]}" --stage c --unet-batch 4 \
         --adapter-s-steps "${ADAPTER_S_STEPS:-300}" ;;
    d) "$BIN" model train-default "${common[@]}" --stage d --unet-batch 4 \
         --adapter-t-steps "${ADAPTER_T_STEPS:-1500}" --rank-t 64 --adapter-lr 2e-3 --v-loss-cap 20 ;;
    *) echo "unknown stage $stage (a, b, c or d)" >&2; exit 2 ;;
  esac
done
