#!/usr/bin/env bash
# Builds the wasm engine and its JS bindings into pkg/ (served next to index.html).
# No wasm-opt: Debian's binaryen 108 corrupts wasm-bindgen 0.2.130 output, and it gave no
# speed-up in the spike (DESIGN.md section 7).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
# rustflags (+simd128, getrandom's wasm_js backend) come from .cargo/config.toml
cargo build --lib --target wasm32-unknown-unknown --release --no-default-features
wasm-bindgen --target web --out-dir pkg --no-typescript \
  target/wasm32-unknown-unknown/release/simtune.wasm
printf '[build] pkg/simtune_bg.wasm: %s bytes, %s gzipped\n' \
  "$(wc -c < pkg/simtune_bg.wasm)" "$(gzip -9c pkg/simtune_bg.wasm | wc -c)" >&2

# --- vendor (page libraries; owned by the front end) ---
# Copies small browser libraries from node_modules into www/vendor/ (git-ignored):
# idb (IndexedDB with promises), a single ES module.
mkdir -p www/vendor
if [ ! -f node_modules/idb/build/index.js ]; then
  npm install --no-audit --no-fund --ignore-scripts >/dev/null
fi
cp node_modules/idb/build/index.js www/vendor/idb.js
# --- end vendor ---
