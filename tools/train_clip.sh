#!/usr/bin/env bash
# Trains the in-domain CLIP on ChronoMagic-Synth (CPU) and writes it into model/assets/clip/ (the
# files the `default-model` feature embeds). The recorded run (model/assets/clip/README.md) used
# exactly this command; step counts are fixed, so a rerun reproduces data, batches and order.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-model/assets/clip}
cargo run --release -p magictime-model --no-default-features --example train_clip -- \
  --out "$OUT" --clips "${CLIPS:-3000}" --clips-64 "${CLIPS_64:-1500}" --seed 0 \
  --steps "${STEPS:-2000}" --batch "${BATCH:-64}" "$@"
