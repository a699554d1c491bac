// Browser benchmark: the page's embedding path (www/pool.js) in f32 and int8 vs
// transformers.js fp32 and int8 (threads = cores, cross-origin isolated), same model, texts
// and headless Chromium, one run; median of 3 after a warm-up; peak memory of the browser's
// renderer (the tab and its workers) per engine; head and search timings in wasm.
// Usage: node bench/browser.mjs [records] [page records, 0: skip]. The last line is
// machine-readable:
// RESULT short_ratio=X long_ratio=Y q8_short_ratio=Z train_ms=T (ours / transformers.js: best of each on
// short and on long records, and our int8 / its int8 on short records).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { start, ROOT, SHARED } from "../tests/e2e/harness.mjs";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseCsv, toCsv, openPage, loadCsv, waitEmbedded } from "../tests/e2e/flow.mjs";

const records = Number(process.argv[2] ?? 256);
/** Records of the page run that measures peak memory (0: skip it). */
const pageRecords = Number(process.argv[3] ?? 20_000);
const repeats = 3;

/** The text column of a shared CSV: its first `n` records, or its `n` longest. */
function texts(file, n, longest = false) {
  const [, ...rows] = parseCsv(readFileSync(join(SHARED, "data", file), "utf8"));
  const all = rows.map((r) => r[0]).filter(Boolean);
  return longest ? all.sort((a, b) => b.length - a.length).slice(0, n) : all.slice(0, n);
}
const words = (ts) => (ts.reduce((s, t) => s + t.split(/\s+/).length, 0) / ts.length).toFixed(0);

/** Resident memory (MiB) of Chromium's renderer processes: the page and its workers. */
function rendererMiB() {
  try {
    const out = execFileSync("ps", ["-eo", "rss=,args="], { encoding: "utf8" });
    let kb = 0;
    for (const line of out.split("\n")) {
      if (/chrom/.test(line) && /--type=renderer/.test(line)) kb += Number(line.trim().split(/\s+/)[0]) || 0;
    }
    return kb / 1024;
  } catch {
    return NaN;
  }
}

/** Runs `fn` while sampling renderer memory every 100 ms; returns [result, peak MiB]. */
async function withPeak(fn) {
  let peak = rendererMiB();
  const timer = setInterval(() => (peak = Math.max(peak, rendererMiB())), 100);
  try {
    return [await fn(), Math.max(peak, rendererMiB())];
  } finally {
    clearInterval(timer);
  }
}

const tjs = join(ROOT, "node_modules/@huggingface/transformers/dist");
const ort = join(ROOT, "node_modules/onnxruntime-web/dist");
const ortCommon = join(ROOT, "node_modules/onnxruntime-common/dist/esm");
const havePeer = existsSync(tjs) && existsSync(ort) && existsSync(join(SHARED, "peer"));
const sets = { short: texts("banking77_train.csv", records), long: texts("agnews_test_sample2000.csv", Math.max(32, records / 4), true) };
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
  console.log(`browser: ${env.agent}`);
  console.log(`cores ${env.cores}, crossOriginIsolated ${env.isolated}; ${sets.short.length} short records (Banking77, ${words(sets.short)} words each on average) and ${sets.long.length} long (AG News' longest, ${words(sets.long)} words) per run, median of ${repeats} after a warm-up`);
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
  const rows = [];
  for (const [name, precision] of engines) {
    const base = rendererMiB();
    try {
      const [r, peak] = await withPeak(() => page.evaluate((o) => window.bench.engine(o), { name, precision, sets, repeats, ...peer }));
      rows.push({ name, precision, ...r, peak, base });
    } catch (e) {
      console.log(`${name} ${precision}: failed: ${e.message.split("\n")[0]}`);
    }
  }
  if (!havePeer) console.log("(transformers.js not installed: run `npm run bench`, which installs it)");
  console.log("");
  console.log("| engine | precision | how | short rec/s | long rec/s | renderer MiB before / peak |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.precision} | ${r.about} | ${r.sets.short.median.toFixed(1)} | ${r.sets.long.median.toFixed(1)} | ${r.base.toFixed(0)} / ${r.peak.toFixed(0)} |`);
  }
  const hs = await page.evaluate(() => window.bench.headAndSearch({}));
  console.log("");
  console.log(`wasm, page thread: head applied to 20,000 x 384: ${hs.applyMs.toFixed(0)} ms (goal < 500); top-1000 search over 20,000: ${hs.searchMs.toFixed(1)} ms/query (goal < 10)`);
  console.log(`wasm: training on 261 of 20,000 records, 100 steps: ${hs.trainPullMs.toFixed(0)} ms starting from the prototype pull, ${hs.trainPlainMs.toFixed(0)} ms without (goal < 1000)`);

  const best = (name, set, precision) =>
    Math.max(...rows.filter((r) => r.name === name && (!precision || r.precision === precision)).map((r) => r.sets[set].median));
  if (havePeer && rows.some((r) => r.name === "simtune") && rows.some((r) => r.name === "transformers.js")) {
    const ratio = (a, b) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : "nan");
    resultLine = `RESULT short_ratio=${ratio(best("simtune", "short"), best("transformers.js", "short"))} long_ratio=${ratio(best("simtune", "long"), best("transformers.js", "long"))} q8_short_ratio=${ratio(best("simtune", "short", "int8"), best("transformers.js", "short", "q8"))} train_ms=${hs.trainPullMs.toFixed(0)}`;
  }
} finally {
  await close();
}
if (pageRecords > 0) {
  // the page itself (index.html, int8, every worker) embedding `pageRecords` short records:
  // peak renderer memory while it runs, and its own records/s line
  const [, ...rows] = parseCsv(readFileSync(join(SHARED, "data", "banking77_train.csv"), "utf8"));
  const many = Array.from({ length: pageRecords }, (_, i) => [`${rows[i % rows.length][0]}${i >= rows.length ? ` (${Math.floor(i / rows.length)})` : ""}`]);
  const csv = join(mkdtempSync(join(tmpdir(), "simtune-bench-")), `short-${pageRecords}.csv`);
  writeFileSync(csv, toCsv([["text"], ...many]));
  const fresh = await start();
  const before = rendererMiB();
  const [status, peak] = await withPeak(async () => {
    const { page: app } = await openPage(fresh.context, fresh.url);
    await loadCsv(app, csv);
    await app.waitForSelector("#embed-text[data-state=done], #embed-text[data-state=error]", { timeout: 1_800_000 });
    const text = await app.textContent("#embed-text");
    return text;
  });
  await fresh.close();
  console.log("");
  console.log(`the page, ${pageRecords.toLocaleString("en")} short records: ${status}`);
  console.log(`renderer memory of a fresh browser (its blank first tab, then the page's tab and workers): ${before.toFixed(0)} MiB before the page, ${peak.toFixed(0)} MiB peak; the page's share ${(peak - before).toFixed(0)} MiB (goal < 1 GB)`);
}
if (resultLine) console.log(resultLine);
