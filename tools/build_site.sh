#!/usr/bin/env bash
# Builds the server binary and the hydrated site without cargo-leptos (works offline):
#   target/release/magictime            the server (SSR)
#   target/site/pkg/magictime.{js,wasm,css}   the WASM bundle (wasm-bindgen + npm binaryen's wasm-opt)
#   target/site/*                       public/ files
# Prints the bundle sizes (raw and gzip).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SITE=$TARGET/site
export LEPTOS_OUTPUT_NAME=magictime

cargo build --release -p magictime-server --bin magictime
cargo build -p magictime-app --lib --target wasm32-unknown-unknown --profile wasm-release --features hydrate

mkdir -p "$SITE/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$SITE/pkg" --out-name magictime \
  "$TARGET/wasm32-unknown-unknown/wasm-release/magictime_app.wasm"
mv -f "$SITE/pkg/magictime_bg.wasm" "$SITE/pkg/magictime.wasm"
# npm binaryen (v132): Debian's wasm-opt v108 produces bundles whose hydration fails.
# --converge: -Oz again until the module stops shrinking; the memory flags state what holds for
# a module that defines its own memory (zero-filled at start) and whose data starts at rustc's
# 1 KiB global base (nothing below it); the producers/target-features sections are metadata.
"$ROOT/node_modules/.bin/wasm-opt" -Oz --converge --low-memory-unused --zero-filled-memory \
  --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int \
  "$SITE/pkg/magictime.wasm" -o "$SITE/pkg/magictime.wasm"
cp style/main.css "$SITE/pkg/magictime.css"
cp -r public/. "$SITE/"

# Precompressed copies, served by ServeDir when the browser accepts them.
for f in "$SITE"/pkg/magictime.{js,wasm,css}; do
  gzip -9 -k -f "$f"
  brotli -q 11 -f "$f" -o "$f.br"
done
raw=$(stat -c %s "$SITE/pkg/magictime.wasm")
gz=$(stat -c %s "$SITE/pkg/magictime.wasm.gz")
js=$(stat -c %s "$SITE/pkg/magictime.js.gz")
echo "WASM bundle: $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzip (+ JS $((js / 1024)) KiB gzip)"
