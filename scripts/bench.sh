#!/usr/bin/env bash
# Benchmarks that print figures (no timed tests).
# 1. native (the CLI, release build): embedding throughput on short and long records from
#    ../shared/data, head-training time for 261 labels, applying the head, top-1000 search;
# 2. browser (headless Chromium): simtune's worker pool vs transformers.js on the same model,
#    texts and machine, in one run (transformers.js is installed here on demand, not by
#    `npm test`, and without its install scripts: onnxruntime-node's would download);
# 3. the page at 100,000 records (bench/scale.mjs): every step a person takes, timed, with
#    frame gaps and memory (the CLI embeds the records once into target/bench/, ~5 minutes).
# Extra arguments go to `simtune bench`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --bin simtune
bash scripts/build.sh
if [ ! -d node_modules/@huggingface/transformers ]; then
  echo "[bench] installing the peer, @huggingface/transformers 4.3.1 (--no-save --ignore-scripts)" >&2
  npm install --no-save --no-audit --no-fund --ignore-scripts @huggingface/transformers@4.3.1 >/dev/null
fi
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (figures are noise when other processes use the CPU)"
target/release/simtune bench "$@"
node bench/browser.mjs 256
node bench/scale.mjs 100000
