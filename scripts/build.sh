#!/usr/bin/env bash
# Builds the wasm engine and its JS bindings into pkg/ (served next to index.html): two builds
# of the same source behind one JS glue (www/engine.js picks one per browser):
# - pkg/simtune_bg.wasm: simd128, every browser with WebAssembly SIMD;
# - pkg/simtune_relaxed_bg.wasm: simd128 + relaxed SIMD (`f32x4.relaxed_madd` in the f32
#   kernel), for browsers that validate it; its own target dir, so neither build undoes the
#   other's incremental state.
# No wasm-opt: Debian's binaryen 108 corrupts wasm-bindgen 0.2.130 output, and it gave no
# speed-up in the spike (DESIGN.md section 7).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
wasm=wasm32-unknown-unknown/release/simtune.wasm
# rustflags (+simd128, getrandom's wasm_js backend) come from .cargo/config.toml
cargo build --lib --target wasm32-unknown-unknown --release --no-default-features
wasm-bindgen --target web --out-dir pkg --no-typescript "target/$wasm"
# the relaxed build: RUSTFLAGS replaces the config's rustflags, so it repeats them
RUSTFLAGS='-C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"' \
  cargo build --lib --target wasm32-unknown-unknown --release --no-default-features \
  --target-dir target/relaxed
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --out-dir "$tmp" --no-typescript "target/relaxed/$wasm"
if ! cmp -s "$tmp/simtune.js" pkg/simtune.js; then
  echo "[build] the relaxed-SIMD build's JS glue differs from the simd128 build's" >&2
  exit 1
fi
cp "$tmp/simtune_bg.wasm" pkg/simtune_relaxed_bg.wasm
for f in pkg/simtune_bg.wasm pkg/simtune_relaxed_bg.wasm; do
  printf '[build] %s: %s bytes, %s gzipped\n' "$f" "$(wc -c < "$f")" "$(gzip -9c "$f" | wc -c)" >&2
done

# --- vendor (page libraries; owned by the front end) ---
# Copies small browser libraries from node_modules into www/vendor/ (git-ignored), each a
# single ES module: idb (IndexedDB with promises) and wasm-feature-detect (which wasm
# features this browser validates: the engine's build, www/engine.js).
mkdir -p www/vendor
if [ ! -f node_modules/idb/build/index.js ] || [ ! -f node_modules/wasm-feature-detect/dist/esm/index.js ]; then
  npm install --no-audit --no-fund --ignore-scripts >/dev/null
fi
cp node_modules/idb/build/index.js www/vendor/idb.js
cp node_modules/wasm-feature-detect/dist/esm/index.js www/vendor/wasm-feature-detect.js
# --- end vendor ---
