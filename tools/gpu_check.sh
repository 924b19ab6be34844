#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, runs the project's three kinds of work on CUDA
# and the same work on its CPU, and prints one table (seconds, and how far CUDA's results are from
# the CPU's):
#   1. generate   the built-in model, the Generate page's defaults (64², 16 frames, DDIM 25,
#                 guidance 4, seed 42), `magictime generate --device`; the two MP4s compared
#                 frame by frame (mean and max absolute difference of the 8-bit pixels);
#   2. train      one optimizer step of every loop of every stage of the recipe (VAE, base UNet,
#                 motion modules, Magic Adapter S, Adapter T + Text-Encoder) on 8 ChronoMagic-Synth
#                 clips, `magictime model train-default --device`; the first loss of each loop;
#   3. fvd        FVD (real I3D, Kinetics-400) between two sets of 16 ChronoMagic-Synth clips
#                 (seeds 1 and 2), `magictime eval --metrics fvd --device`;
#   4. bench      (when BENCH is given) the UNet3D at SD1.5 size, Burn against PyTorch fp16 on the
#                 same GPU (`bench_unet --preset sd15`; its reference side needs diffusers).
#
# Usage: BIN=<magictime built with --features cuda> I3D=<i3d-kinetics-400.safetensors> \
#        [BENCH=<bench_unet example built with --features cuda>] [PY=python3] [DEVICE=cuda] \
#        tools/gpu_check.sh OUT_DIR
# DEVICE=cpu runs every step on the CPU alone (a dry run of this script on a machine without a
# GPU). Build the binaries with `make build-cuda` (it compiles without a CUDA toolkit; the GPU
# machine needs the NVIDIA driver and libnvrtc) and, for the bench, `cargo build --release -p
# magictime-model --example bench_unet --features cuda`.
set -euo pipefail
OUT=${1:?usage: tools/gpu_check.sh OUT_DIR (see the header)}
BIN=${BIN:?BIN: the magictime binary}
I3D=${I3D:?I3D: the I3D weights (make i3d-weights)}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
mkdir -p "$OUT"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
devices=(cpu)
[ "$DEVICE" = cpu ] || devices+=("$DEVICE")
[ "$DEVICE" = cpu ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
  | tee "$OUT/gpu.txt"

# seconds of a command (its output to $OUT/<name>.log)
timed() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  if ! "$@" > "$OUT/$name.log" 2>&1; then
    echo "FAILED: $name (see $OUT/$name.log)" >&2
    tail -20 "$OUT/$name.log" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

declare -A secs
PROMPT="Time-lapse of a red flower blooming, its petals opening against a blue background"
"$BIN" data synth --out "$W/real" --count 16 --size 64 --frames 16 --seed 1 > /dev/null
"$BIN" data synth --out "$W/fake" --count 16 --size 64 --frames 16 --seed 2 > /dev/null
for d in "${devices[@]}"; do
  secs[generate,$d]=$(timed "generate_$d" "$BIN" generate --device "$d" --prompt "$PROMPT" \
    --seed 42 --out "$OUT/generate_$d.mp4")
  secs[train,$d]=$(timed "train_$d" "$BIN" model train-default --device "$d" \
    --out "$W/train_$d" --preset s32 --clips 8 --seed 0 \
    --vae-steps 1 --vae-batch 2 --unet-steps 1 --unet-batch 2 --motion-steps 1 \
    --adapter-s-steps 1 --adapter-t-steps 1)
  secs[fvd,$d]=$(timed "fvd_$d" "$BIN" eval --device "$d" --metrics fvd --real "$W/real" \
    --fake "$W/fake" --n 16 --i3d-weights "$I3D" --out "$OUT/fvd_$d.json")
done

# the loss of each loop's one step, and FVD, per device
loss() { grep -o "\[$2\] step 1/1 loss [0-9.e-]*" "$OUT/train_$1.log" | awk '{print $NF}'; }
fvd() { "$PY" -c "import json,sys; print('%.4f' % json.load(open(sys.argv[1]))['fvd'])" "$OUT/fvd_$1.json"; }
{
  printf '%-28s' "step"; for d in "${devices[@]}"; do printf '%14s' "$d"; done; echo
  for s in generate train fvd; do
    printf '%-28s' "$s (s)"; for d in "${devices[@]}"; do printf '%14.2f' "${secs[$s,$d]}"; done; echo
  done
  for l in vae unet motion adapter_s adapter_t; do
    printf '%-28s' "first loss: $l"; for d in "${devices[@]}"; do printf '%14s' "$(loss "$d" $l)"; done; echo
  done
  printf '%-28s' "FVD (16 vs 16)"; for d in "${devices[@]}"; do printf '%14s' "$(fvd "$d")"; done; echo
} | tee "$OUT/table.txt"

# the generated videos, CUDA against CPU, pixel by pixel
if [ "$DEVICE" != cpu ]; then
  "$PY" - "$OUT/generate_cpu.mp4" "$OUT/generate_$DEVICE.mp4" <<'EOF' | tee -a "$OUT/table.txt"
import subprocess, sys
import numpy as np
def frames(p):
    raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", p, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).astype(np.int16)
a, b = frames(sys.argv[1]), frames(sys.argv[2])
d = np.abs(a - b)
print(f"generated video, cuda vs cpu: mean |diff| {d.mean():.3f}, max {d.max()} (of 255)")
EOF
fi

if [ -n "${BENCH:-}" ] && [ "$DEVICE" != cpu ]; then
  "$BENCH" --preset sd15 --device "$DEVICE" --python "$PY" --script tools/parity/bench_unet.py \
    --ref-device "$DEVICE" --ref-dtype f16 2>&1 | tee "$OUT/bench_sd15.txt"
fi
echo "GPU CHECK DONE ($OUT)"
