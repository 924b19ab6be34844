#!/usr/bin/env bash
# Runs the Playwright tests in Debian's headless chromium against the real server. Each spec
# file gets its own server (on a free port) with a fresh data dir and accounts, so no spec sees
# what another left behind and their order does not matter. Arguments go to Playwright (e.g. a
# spec file: tests/studies.spec.mjs), for one server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/magictime
SERVER=
trap '[ -z "$SERVER" ] || { kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; }' EXIT

# A fresh server and data dir, then Playwright with the arguments given.
run_specs() {
  local DATA URL
  DATA=$(mktemp -d /tmp/magictime-e2e.XXXXXX)
  echo "admin-pass-123" | "$BIN" admin create --email admin@e2e.test --role admin --data-dir "$DATA" >/dev/null
  echo "research-pass-123" | "$BIN" admin create --email researcher@e2e.test --role researcher --data-dir "$DATA" >/dev/null
  echo "annot-pass-123" | "$BIN" admin create --email annotator@e2e.test --role annotator --data-dir "$DATA" >/dev/null

  # No --insecure-http: the browser runs against the default cookies (Secure, __Host- names).
  # Port 0: the server binds a free port itself and prints it (a port probed here and bound later
  # could be taken in between). No CLIP from the environment: the specs expect the default.
  # --ckpts: the official release's tree in tiny random weights (the model crate's fixture), for
  # the Generate page's model picker. --demo-per-hour 2: the public demo's limit within a spec.
  env -u MAGICTIME_CLIP -u MAGICTIME_CKPTS "$BIN" serve --addr 127.0.0.1:0 --data-dir "$DATA" \
    --site-root "$TARGET/site" --ckpts "$ROOT/model/tests/fixtures/ckpts/ckpts" --demo-per-hour 2 \
    >"$DATA/server.out" 2>"$DATA/server.log" &
  SERVER=$!
  URL=
  for _ in $(seq 1 300); do
    # (|| true: the server's shell may not have opened server.out yet, and set -e would exit.)
    URL=$(sed -n 's/^MagicTime ready at //p' "$DATA/server.out" 2>/dev/null || true)
    [ -n "$URL" ] && curl -sf "$URL/healthz" >/dev/null && break
    sleep 0.1
  done
  { [ -n "$URL" ] && curl -sf "$URL/healthz" >/dev/null; } || { cat "$DATA/server.out" "$DATA/server.log"; exit 1; }

  if ! BASE_URL=$URL MAGICTIME_E2E_DATA=$DATA \
    "$ROOT/node_modules/.bin/playwright" test --config end2end/playwright.config.mjs "$@"; then
    echo "--- server log ---"; tail -50 "$DATA/server.log"; exit 1
  fi
  kill $SERVER; wait $SERVER 2>/dev/null || true
  SERVER=
  rm -rf "$DATA"
}

if [ $# -gt 0 ]; then
  run_specs "$@"
else
  for spec in end2end/tests/*.spec.mjs; do
    run_specs "tests/$(basename "$spec")"
  done
fi
