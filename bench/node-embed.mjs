// Times embedding in node's wasm on one thread (no workers): AG News' 32 longest records and
// 256 Banking77 lines (text and label as read), median of REPS (5) calls each. WASM picks the
// build (pkg/simtune_bg.wasm), PREC the precision (int8). For A/B runs of a kernel change: copy
// pkg/ aside, rebuild, and alternate WASM=old/simtune_bg.wasm and the new one. Run from the
// repository root.
import fs from "node:fs";
const wasmPath = process.env.WASM ?? "pkg/simtune_bg.wasm";
const mod = await import("../pkg/simtune.js");
mod.initSync({ module: fs.readFileSync(wasmPath) });
const m = "models/all-MiniLM-L6-v2/";
const rd = (f) => new Uint8Array(fs.readFileSync(m + f));
const enc = new mod.SentenceEncoder(rd("config.json"), rd("tokenizer.json"), rd("model.safetensors"), rd("sentence_bert_config.json"), rd("1_Pooling/config.json"), process.env.PREC ?? "int8");
const csv = fs.readFileSync("../shared/data/agnews_test_sample2000.csv", "utf8").split("\n").slice(1).filter(Boolean);
const long = csv.map((l) => l).sort((a, b) => b.length - a.length).slice(0, 32);
const short = fs.readFileSync("../shared/data/banking77_test.csv", "utf8").split("\n").slice(1, 257).filter(Boolean);
const reps = Number(process.env.REPS ?? 5);
for (const [name, t] of [["long", long], ["short", short]]) {
  enc.embed(t.slice(0, 8));
  const times = [];
  for (let i = 0; i < reps; i++) { const s = performance.now(); enc.embed(t); times.push(performance.now() - s); }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(reps / 2)];
  console.log(`${name}: ${t.length} records, median ${med.toFixed(0)} ms, ${(t.length / med * 1000).toFixed(1)} rec/s`);
}
