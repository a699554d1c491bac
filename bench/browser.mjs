// Browser embedding benchmark: simtune's worker pool vs transformers.js (the peer, see
// ../shared/peer/README.md), same model (all-MiniLM-L6-v2, f32), same headless Chromium,
// same texts, one run. Prints medians and the ratio. Usage: node bench/browser.mjs [records]
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { start, ROOT, SHARED } from "../tests/e2e/harness.mjs";

const records = Number(process.argv[2] ?? 256);
const repeats = 3;

function texts(file) {
  // the text column of a shared CSV (RFC 4180 quoting), the first `records` rows
  const src = readFileSync(join(SHARED, "data", file), "utf8");
  const rows = [];
  let field = "", row = [], quoted = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n") { row.push(field.replace(/\r$/, "")); rows.push(row); row = []; field = ""; }
    else field += c;
  }
  return rows.slice(1, records + 1).map((r) => r[0]);
}

const tjs = join(ROOT, "node_modules/@huggingface/transformers/dist");
const ort = join(ROOT, "node_modules/onnxruntime-web/dist");
const ortCommon = join(ROOT, "node_modules/onnxruntime-common/dist/esm");
const havePeer = existsSync(tjs) && existsSync(ort) && existsSync(join(SHARED, "peer"));
const { url, context, close } = await start({
  mounts: havePeer ? { "/__tjs/": tjs, "/__ort/": ort, "/__ortc/": ortCommon } : {},
});
try {
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && console.error("[page]", m.text()));
  await page.goto(url + "bench/bench.html");
  const result = await page.evaluate((opts) => window.runBench(opts), {
    model: "/models/all-MiniLM-L6-v2/",
    sets: { short: texts("banking77_train.csv"), long: texts("agnews_test_sample2000.csv") },
    repeats,
    ...(havePeer
      ? { tjsUrl: "/__tjs/transformers.web.min.js", ortUrl: "/__ort/", peerUrl: "/__shared/peer/" }
      : {}),
  });
  console.log(`browser embedding throughput, ${records} records per set, median of ${repeats}, ${result.cores} cores (headless Chromium)`);
  for (const [set, r] of Object.entries(result.sets)) {
    const s = r.simtune.median;
    const t = r["transformers.js"]?.median;
    console.log(
      `  ${set.padEnd(5)}  simtune ${s.toFixed(1)} sentences/s` +
        (t ? `   transformers.js fp32 ${t.toFixed(1)} sentences/s   ratio ${(s / t).toFixed(2)}x` : "   (transformers.js not installed)"),
    );
  }
} finally {
  await close();
}
