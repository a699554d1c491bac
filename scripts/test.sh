#!/usr/bin/env bash
# Every test: the Rust core natively (cargo test), then the browser tests (node --test with
# playwright-core driving Debian's headless Chromium). Fails when either fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
cargo test --all-targets
node --test --test-concurrency=1 tests/e2e/*.test.mjs
