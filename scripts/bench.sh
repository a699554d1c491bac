#!/usr/bin/env bash
# Benchmarks that print figures (no timed tests): native embedding throughput on short and
# long records from ../shared/data, head-training time for 261 labels, applying the head,
# and exact top-1000 search. Extra arguments go to `simtune bench`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --bin simtune
load=$(awk '{print $1}' /proc/loadavg)
echo "load average before the run: $load (figures are noise when other processes use the CPU)"
target/release/simtune bench "$@"
