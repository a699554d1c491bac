#!/usr/bin/env bash
# Builds dist/: the page as a self-contained static site for any static file host, with no
# special headers (GitHub Pages cannot send COOP/COEP; the worker pool needs none).
#   index.html, www/ (with vendored libraries), pkg/ (the wasm engine: its simd128 and relaxed-SIMD builds), data/ (the
#   "Try a sample" file, Banking77's test split, CC BY 4.0, credited on the page).
# The default model is fetched from the Hugging Face hub (sentence-transformers/
# all-MiniLM-L6-v2) and kept in the browser's Cache API, unless the model is bundled:
#   bash scripts/dist.sh --with-model   (copies models/all-MiniLM-L6-v2/, ~90 MB: offline hosting)
# Other options: --no-build (assemble from the existing build), --out DIR (default dist/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out=dist
build=1
model=0
while [ $# -gt 0 ]; do
  case "$1" in
    --with-model) model=1 ;;
    --no-build) build=0 ;;
    --out) out="$2"; shift ;;
    *) echo "dist.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$build" = 1 ]; then bash scripts/build.sh; fi
for need in pkg/simtune.js pkg/simtune_bg.wasm pkg/simtune_relaxed_bg.wasm www/vendor/idb.js www/vendor/wasm-feature-detect.js; do
  [ -f "$need" ] || { echo "dist.sh: $need is missing: run without --no-build" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/pkg" "$out/data"
cp index.html "$out/"
cp -r www "$out/www"
cp pkg/simtune.js pkg/simtune_bg.wasm pkg/simtune_relaxed_bg.wasm "$out/pkg/"
sample=data/banking77_test.csv
[ -f "$sample" ] || sample=../shared/data/banking77_test.csv
if [ -f "$sample" ]; then cp "$sample" "$out/data/banking77_test.csv"; fi
if [ "$model" = 1 ]; then
  mkdir -p "$out/models/all-MiniLM-L6-v2"
  for f in config.json tokenizer.json model.safetensors sentence_bert_config.json; do
    cp "models/all-MiniLM-L6-v2/$f" "$out/models/all-MiniLM-L6-v2/"
  done
fi
touch "$out/.nojekyll" # GitHub Pages: serve files as they are
printf '[dist] %s: %s files, %s; model %s\n' "$out" "$(find "$out" -type f | wc -l)" \
  "$(du -sh "$out" | cut -f1)" "$([ "$model" = 1 ] && echo bundled || echo 'from the Hugging Face hub')" >&2
