// Stop 52: the head the wasm build trains on bench.js's data (261 of 20,000, default settings),
// hashed: a speed change that must not change results compares it before and after.
// node bench/train-hash.mjs [pkg dir] [simtune_bg.wasm|simtune_relaxed_bg.wasm]
import fs from "node:fs";
import { createHash } from "node:crypto";
import { regions } from "./regions.js";
const dir = process.argv[2] ?? "pkg";
const mod = await import(`${fs.realpathSync(dir)}/simtune.js`);
mod.initSync({ module: fs.readFileSync(`${dir}/${process.argv[3] ?? "simtune_bg.wasm"}`) });
const [n, dim] = [20_000, 384];
const { emb, labels } = regions(n, dim, 261);
for (const settings of [{ early_stop_patience: null }, { early_stop_patience: null, prototype_pull: false }, { loss: "triplet-semihard" }]) {
  const t0 = performance.now();
  const out = mod.trainHead(emb, dim, labels, settings, undefined);
  const ms = performance.now() - t0;
  console.log(JSON.stringify(settings), createHash("sha256").update(out.head).digest("hex").slice(0, 16), `${ms.toFixed(0)} ms`, "smoothing", out.pull?.smoothing);
}
