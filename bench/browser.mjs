// Browser benchmark: the page's embedding path (www/pool.js) in f32 and int8 vs
// transformers.js fp32 and int8 (threads = cores, cross-origin isolated), same model, texts
// and headless Chromium, one run; median of 3 after a warm-up; peak memory of the browser's
// renderer (the tab and its workers) per engine; head and search timings in wasm. Each engine
// runs BENCH_PASSES times (default 2), in turn with the others; its figure pools them.
// Usage: node bench/browser.mjs [records] [page records, comma-separated, 0: skip]. The last
// line is machine-readable:
// RESULT short_ratio=X long_ratio=Y long128_ratio=.. long256_ratio=.. q8_short_ratio=Z
//   train_ms=T train_cold_ms=.. mem20k_mib=.. mem100k_mib=..
// (ours / transformers.js: best of each on short records, AG News' longest, records of
// exactly 128 and 256 tokens, and our int8 / its int8 on short records; wasm training time,
// as the page trains and with the pull's neighbours found in the training;
// the page's peak renderer memory with 20,000 and 100,000 short records).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { start, ROOT, SHARED } from "../tests/e2e/harness.mjs";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseCsv, toCsv, openPage, loadCsv, waitEmbedded } from "../tests/e2e/flow.mjs";
import { initSync, SentenceEncoder } from "../pkg/simtune.js";
import { rendererMiB, withPeak } from "./memory.mjs";

const records = Number(process.argv[2] ?? 256);
/** Records of the page runs that measure peak memory (0: skip them). */
const pageRuns = String(process.argv[3] ?? "20000,100000")
  .split(",")
  .map(Number)
  .filter((n) => n > 0);
const repeats = 3;
/** Turns of every engine (BENCH_PASSES; the figures pool them). */
const passes = Math.max(1, Number(process.env.BENCH_PASSES ?? 2));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The text column of a shared CSV: its first `n` records, or its `n` longest. */
function texts(file, n, longest = false) {
  const [, ...rows] = parseCsv(readFileSync(join(SHARED, "data", file), "utf8"));
  const all = rows.map((r) => r[0]).filter(Boolean);
  return longest ? all.sort((a, b) => b.length - a.length).slice(0, n) : all.slice(0, n);
}
/** `n` runs of AG News text (records joined, then cut) of `tokens` tokens as the model counts
 * them ([CLS] and [SEP] included; a run stops at the first word that reaches `tokens`, so it
 * may pass it by a word's last pieces; at the model's maximum, 256, the model truncates), by
 * the model's own tokenizer (the wasm build, in node). Returns {texts, meanTokens}. */
function ofTokens(n, tokens) {
  const dir = join(ROOT, "models/all-MiniLM-L6-v2");
  const read = (f) => readFileSync(join(dir, f));
  const enc = new SentenceEncoder(read("config.json"), read("tokenizer.json"), read("model.safetensors"), read("sentence_bert_config.json"), undefined, "int8");
  const count = (ws) => enc.tokenIds(ws.join(" ")).length;
  const words = texts("agnews_test_sample2000.csv", 8 * n).join(" ").split(/\s+/);
  const out = [];
  let total = 0;
  for (let at = 0; out.length < n && at < words.length; ) {
    let len = Math.max(1, Math.floor(tokens / 2)); // a news word is at least one token
    while (at + len < words.length && count(words.slice(at, at + len)) < tokens) len++;
    total += count(words.slice(at, at + len));
    out.push(words.slice(at, at + len).join(" "));
    at += len;
  }
  enc.free();
  return { texts: out, meanTokens: total / out.length };
}
const words = (ts) => (ts.reduce((s, t) => s + t.split(/\s+/).length, 0) / ts.length).toFixed(0);

const tjs = join(ROOT, "node_modules/@huggingface/transformers/dist");
const ort = join(ROOT, "node_modules/onnxruntime-web/dist");
const ortCommon = join(ROOT, "node_modules/onnxruntime-common/dist/esm");
const havePeer = existsSync(tjs) && existsSync(ort) && existsSync(join(SHARED, "peer"));
initSync({ module: readFileSync(join(ROOT, "pkg/simtune_bg.wasm")) });
const long128 = ofTokens(Math.max(32, records / 4), 128);
const long256 = ofTokens(Math.max(16, records / 8), 256);
const sets = {
  short: texts("banking77_train.csv", records),
  long: texts("agnews_test_sample2000.csv", Math.max(32, records / 4), true),
  long128: long128.texts,
  long256: long256.texts,
};
const SETS = ["short", "long", "long128", "long256"];
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
let resultLine = null; // printed last
const { url, context, close } = await start({
  mounts: havePeer ? { "/__tjs/": tjs, "/__ort/": ort, "/__ortc/": ortCommon } : {},
});
try {
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && console.error("[page]", m.text()));
  await page.goto(url + "bench/bench.html");
  await page.waitForFunction(() => window.bench);
  const env = await page.evaluate(() => window.bench.env());
  console.log(`browser: ${env.agent}; engine build: ${env.build} (www/engine.js)`);
  console.log(`cores ${env.cores}, crossOriginIsolated ${env.isolated}; per run ${sets.short.length} short records (Banking77, ${words(sets.short)} words each on average), ${sets.long.length} long (AG News' longest, ${words(sets.long)} words), ${sets.long128.length} of 128 tokens (AG News joined and cut, ${long128.meanTokens.toFixed(1)} tokens on average) and ${sets.long256.length} of 256 (${long256.meanTokens.toFixed(1)}); median of ${repeats} runs in each of ${passes} passes, each pass after a warm-up`);
  const engines = [
    ["simtune", "f32"],
    ["simtune", "int8"],
    ...(havePeer
      ? [
          ["transformers.js", "fp32"],
          ["transformers.js", "q8"],
        ]
      : []),
  ];
  const peer = { tjsUrl: "/__tjs/transformers.web.min.js", ortUrl: "/__ort/", peerUrl: "/__shared/peer/" };
  // every engine in turn, `passes` times over: each engine's figure is the median of all its
  // passes' runs pooled, so a stall of the machine during one engine's turn moves one run of
  // several, not the ratio
  const rows = [];
  for (let pass = 1; pass <= passes; pass++) {
    for (const [name, precision] of engines) {
      console.log(`${name} ${precision}, pass ${pass} of ${passes}: load average before its run ${load()}`);
      const base = rendererMiB();
      try {
        const [r, peak] = await withPeak(() => page.evaluate((o) => window.bench.engine(o), { name, precision, sets, repeats, ...peer }));
        const row = rows.find((x) => x.name === name && x.precision === precision);
        if (!row) rows.push({ name, precision, ...r, peak, base });
        else {
          for (const set of SETS) row.sets[set].rates.push(...r.sets[set].rates);
          row.peak = Math.max(row.peak, peak);
        }
      } catch (e) {
        console.log(`${name} ${precision}: failed: ${e.message.split("\n")[0]}`);
      }
    }
  }
  for (const row of rows) for (const set of SETS) row.sets[set].median = median(row.sets[set].rates);
  if (!havePeer) console.log("(transformers.js not installed: run `npm run bench`, which installs it)");
  console.log("");
  console.log("| engine | precision | how | short rec/s | long rec/s | 128-token rec/s | 256-token rec/s | renderer MiB before / peak |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const rates = SETS.map((set) => r.sets[set].median.toFixed(1)).join(" | ");
    console.log(`| ${r.name} | ${r.precision} | ${r.about} | ${rates} | ${r.base.toFixed(0)} / ${r.peak.toFixed(0)} |`);
  }
  // the engine's two builds side by side: two rounds, alternating, every run pooled
  const builds = env.build === "relaxed" ? ["relaxed", "simd128"] : ["simd128"];
  const runs = {};
  for (let round = 0; round < 2; round++) {
    for (const build of builds) {
      const r = await page.evaluate((b) => window.bench.headAndSearch({ build: b }), build);
      for (const [key, times] of Object.entries(r.runs)) (runs[build] ??= {})[key] = [...(runs[build][key] ?? []), ...times];
    }
  }
  const fig = (key, digits = 0) => builds.map((b) => median(runs[b][key]).toFixed(digits)).join(" / ");
  const names = builds.map((b) => (b === "relaxed" ? "relaxed SIMD" : "simd128")).join(" / ");
  console.log("");
  console.log(`wasm, page thread, ${names} build (the page runs the ${env.build} one here): head applied to 20,000 x 384: ${fig("apply")} ms (goal < 500); top-1000 search over 20,000: ${fig("search", 1)} ms/query (goal < 10)`);
  console.log(`wasm, ${names}: training on 261 of 20,000 records, 100 steps: ${fig("trainPull")} ms starting from the prototype pull (goal < 1000), its sample's neighbours found beforehand as the page does once the records are embedded (${fig("prepare")} ms); ${fig("trainCold")} ms finding them in the training (a fresh trainer); ${fig("trainPlain")} ms without the pull (median of 6 each)`);
  const hs = { trainPullMs: median(runs[env.build].trainPull), trainColdMs: median(runs[env.build].trainCold) };

  const best = (name, set, precision) =>
    Math.max(...rows.filter((r) => r.name === name && (!precision || r.precision === precision)).map((r) => r.sets[set].median));
  if (havePeer && rows.some((r) => r.name === "simtune") && rows.some((r) => r.name === "transformers.js")) {
    const ratio = (a, b) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : "nan");
    const ratios = SETS.map((set) => `${set}_ratio=${ratio(best("simtune", set), best("transformers.js", set))}`).join(" ");
    resultLine = `RESULT ${ratios} q8_short_ratio=${ratio(best("simtune", "short", "int8"), best("transformers.js", "short", "q8"))} train_ms=${hs.trainPullMs.toFixed(0)} train_cold_ms=${hs.trainColdMs.toFixed(0)}`;
  }
} finally {
  await close();
}
for (const pageRecords of pageRuns) {
  // the page itself (index.html, int8, every worker) embedding `pageRecords` short records:
  // peak renderer memory while it runs, and its own records/s line
  const [, ...rows] = parseCsv(readFileSync(join(SHARED, "data", "banking77_train.csv"), "utf8"));
  const many = Array.from({ length: pageRecords }, (_, i) => [`${rows[i % rows.length][0]}${i >= rows.length ? ` (${Math.floor(i / rows.length)})` : ""}`]);
  const csv = join(mkdtempSync(join(tmpdir(), "simtune-bench-")), `short-${pageRecords}.csv`);
  writeFileSync(csv, toCsv([["text"], ...many]));
  console.log("");
  console.log(`the page, ${pageRecords.toLocaleString("en")} short records: load average before ${load()}`);
  const fresh = await start();
  const before = rendererMiB();
  const [status, peak] = await withPeak(async () => {
    const { page: app } = await openPage(fresh.context, fresh.url);
    await loadCsv(app, csv);
    await app.waitForSelector("#embed-text[data-state=done], #embed-text[data-state=error]", { timeout: 3_600_000 });
    return app.textContent("#embed-text");
  });
  await fresh.close();
  console.log(`the page, ${pageRecords.toLocaleString("en")} short records: ${status}`);
  console.log(`renderer memory of a fresh browser (its blank first tab, then the page's tab and workers): ${before.toFixed(0)} MiB before the page, ${peak.toFixed(0)} MiB peak; the page's share ${(peak - before).toFixed(0)} MiB (goal < 1 GB at 20,000, < 1.5 GB at 100,000)`);
  if (resultLine) resultLine += ` mem${pageRecords % 1000 === 0 ? `${pageRecords / 1000}k` : pageRecords}_mib=${peak.toFixed(0)}`;
}
if (resultLine) console.log(resultLine);
