// The page as hosted (issue 7): `scripts/dist.sh` assembles dist/, served here by a plain
// static server with no special headers (as GitHub Pages), in a fresh profile. The default
// model is not bundled, so the page must fetch it from the Hugging Face hub; this machine has
// no internet, so the browser resolves huggingface.co to a local HTTPS stand-in (a throwaway
// certificate) that serves the hub's URLs from the local copy, with CORS as the hub does —
// a real network path (a 90 MB answer through Playwright's request interception kills the
// browser connection). Every other request leaving the origin is refused and recorded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, createReadStream, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, ROOT, shot } from "./harness.mjs";
import { openPage, waitEmbedded, keyLabel, labelledCount, parseCsv, toCsv, labelChecks, readNpy } from "./flow.mjs";

const HUB = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/";

test("dist/ works from a plain static host, the default model from the hub", { timeout: 300_000 }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), "simtune-dist-")), "dist");
  execFileSync("bash", [join(ROOT, "scripts/dist.sh"), "--no-build", "--out", out], { stdio: ["ignore", "inherit", "inherit"] });
  assert.ok(!existsSync(join(out, "models")), "the model is not bundled by default");
  const hubServer = await hubStandIn();
  const { url, context, close } = await start({
    root: out,
    plain: true,
    args: [`--host-resolver-rules=MAP huggingface.co 127.0.0.1:${hubServer.port}`, "--ignore-certificate-errors"],
  });
  const hub = hubServer.served;
  const refused = [];
  await context.route(/^https?:\/\/(?!127\.0\.0\.1|huggingface\.co\/)/, (route) => {
    refused.push(route.request().url());
    return route.abort();
  });
  try {
    const { page, errors } = await openPage(context, url);
    assert.equal(await page.evaluate(() => self.crossOriginIsolated), false, "a plain host: no cross-origin isolation");
    // "Try a sample" works from the site itself
    await page.click("#sample");
    await page.waitForSelector("#use-columns", { timeout: 60_000 });
    assert.match(await page.textContent("#preview h2"), /banking77_test\.csv: 3,080 records/);
    // a small dataset of our own, embedded with the hub's model
    await page.setInputFiles("#file-input", {
      name: "notes.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("text\nmy card was declined\nthe atm kept my card\nwhere is my transfer\nmoney sent yesterday has not arrived\n"),
    });
    await page.waitForFunction(() => /notes\.csv/.test(document.querySelector("#preview h2")?.textContent ?? ""));
    await page.click("#use-columns");
    await waitEmbedded(page);
    assert.match(await page.textContent("#embed-text"), /4 records embedded/);
    assert.ok(["config.json", "tokenizer.json", "model.safetensors"].every((f) => hub.includes(f)), `from the hub: ${hub}`);
    await page.selectOption("#list-order", "file");
    await page.click('#records .record[data-index="0"]');
    await page.focus("#records");
    for (const name of ["card", "card", "transfer", "transfer"]) await keyLabel(page, name);
    assert.equal(await labelledCount(page), 4);
    await page.click("nav .tab[data-view=train]");
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 120_000 });
    assert.equal(await page.getAttribute("#train-status", "data-state"), "done", await page.textContent("#train-status"));
    await shot(page, "hosted-trained");
    await checkDownloads(page);
    // a phone (390 px): every step fits the width, nothing scrolls the page sideways
    await page.setViewportSize({ width: 390, height: 844 });
    for (const view of ["open", "label", "session", "train", "compare"]) {
      await page.click(`nav .tab[data-view=${view}]`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 390, `the ${view} step is ${wide} px wide on a 390 px screen`);
    }
    await page.click("nav .tab[data-view=label]");
    await shot(page, "hosted-phone-label");
    await page.setViewportSize({ width: 1280, height: 800 });
    // a reload in the hosted page: the model comes from the Cache API, not the hub again
    const before = hub.length;
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]");
    assert.equal(await labelledCount(page), 4);
    assert.equal(hub.length, before, "no second download");
    assert.deepEqual(refused, [], "nothing else leaves the origin");
    assert.deepEqual(errors, []);
  } finally {
    await close();
    hubServer.server.close();
  }
});

/** What a person sees of a project: labels, the head (its download), the experiment log and
 * Compare's neighbours of record 0. */
async function workOf(page) {
  await page.click("nav .tab[data-view=label]");
  const labels = await page.$$eval("#records .record", (els) => els.map((e) => [e.dataset.index, e.querySelector(".label")?.textContent]).sort());
  await page.click("nav .tab[data-view=train]");
  const [d] = await Promise.all([page.waitForEvent("download"), page.click("#download-head")]);
  const head = readFileSync(await d.path()).toString("base64");
  const log = await page.$$eval("#view-train li[data-run]", (els) => els.map((e) => e.textContent));
  await page.click("nav .tab[data-view=compare]");
  await page.fill("#compare-record", "0");
  await page.click("#compare-show");
  await page.waitForSelector("#compare-tuned li.record");
  const compare = await page.textContent("#view-compare .grid-2");
  return { labels, head, log, compare };
}

/** An HTTPS server answering the hub's URLs of the default model from models/ (CORS as the
 * hub sends it); records what it served. */
/** `also`: more hub ids, each answered with the local model's files, or ({id, dir}) with
 * the files of `dir`. */
async function hubStandIn(also = []) {
  const dir = mkdtempSync(join(tmpdir(), "simtune-hub-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=huggingface.co", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  const served = [];
  // the default model's URLs, and `also`'s ids (answered with the same local files)
  const local = join(ROOT, "models/all-MiniLM-L6-v2");
  const dirs = new Map([[new URL(HUB).pathname, local], ...also.map((a) => [`/${a.id ?? a}/resolve/main/`, a.dir ?? local])]);
  const prefixes = [...dirs.keys()];
  const server = createServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (req, res) => {
    const path = new URL(req.url, HUB).pathname;
    const prefix = prefixes.find((p) => path.startsWith(p));
    const file = prefix ? join(dirs.get(prefix), path.slice(prefix.length)) : null;
    const cors = { "access-control-allow-origin": "*" };
    if (!file || file.includes("..") || !existsSync(file)) return res.writeHead(404, cors).end("Entry not found");
    served.push(prefix === prefixes[0] ? path.slice(prefix.length) : path);
    res.writeHead(200, { ...cors, "content-type": "application/octet-stream", "content-length": statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, served, port: server.address().port };
}

/** A small BERT of another width (hidden 64, 2 layers, 2 heads) in a folder: the default
 * model's tokenizer, the first 64 columns of its word and position embeddings, other weights
 * drawn from a seeded generator. A second model of another dimension for the comparison. */
function tinyModel() {
  const dir = mkdtempSync(join(tmpdir(), "simtune-tiny-"));
  const H = 64, I = 128, L = 2;
  const base = readSafetensors(readFileSync(join(ROOT, "models/all-MiniLM-L6-v2/model.safetensors"))).tensors;
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2;
  const cols = (t, rows, width) => Float32Array.from({ length: rows * H }, (_, k) => t[Math.floor(k / H) * width + (k % H)]);
  const tensors = {
    "embeddings.word_embeddings.weight": [[30522, H], cols(base["embeddings.word_embeddings.weight"], 30522, 384)],
    "embeddings.position_embeddings.weight": [[512, H], cols(base["embeddings.position_embeddings.weight"], 512, 384)],
    "embeddings.token_type_embeddings.weight": [[2, H], new Float32Array(2 * H)],
    "embeddings.LayerNorm.weight": [[H], new Float32Array(H).fill(1)],
    "embeddings.LayerNorm.bias": [[H], new Float32Array(H)],
  };
  const dense = (name, out, inp) => {
    tensors[`${name}.weight`] = [[out, inp], Float32Array.from({ length: out * inp }, rand)];
    tensors[`${name}.bias`] = [[out], new Float32Array(out)];
  };
  for (let l = 0; l < L; l++) {
    const p = `encoder.layer.${l}`;
    for (const q of ["query", "key", "value"]) dense(`${p}.attention.self.${q}`, H, H);
    dense(`${p}.attention.output.dense`, H, H);
    dense(`${p}.intermediate.dense`, I, H);
    dense(`${p}.output.dense`, H, I);
    for (const ln of [`${p}.attention.output.LayerNorm`, `${p}.output.LayerNorm`]) {
      tensors[`${ln}.weight`] = [[H], new Float32Array(H).fill(1)];
      tensors[`${ln}.bias`] = [[H], new Float32Array(H)];
    }
  }
  const header = {};
  let offset = 0;
  for (const [name, [shape, data]] of Object.entries(tensors)) {
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(dir, "model.safetensors"), Buffer.concat([size, json, ...Object.values(tensors).map(([, d]) => Buffer.from(d.buffer))]));
  const config = JSON.parse(readFileSync(join(ROOT, "models/all-MiniLM-L6-v2/config.json"), "utf8"));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, hidden_size: H, intermediate_size: I, num_hidden_layers: L, num_attention_heads: 2 }));
  copyFileSync(join(ROOT, "models/all-MiniLM-L6-v2/tokenizer.json"), join(dir, "tokenizer.json"));
  return dir;
}

/** safetensors -> {metadata, tensors: {name: Float32Array}}. */
function readSafetensors(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [a, b] = t.data_offsets;
    const bytes = buf.subarray(8 + n + a, 8 + n + b);
    tensors[name] = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }
  return { metadata: header.__metadata__, tensors };
}

/** The four downloads, read back as numpy and the CLI would: the tuned file equals the head's
 * formula (from its own metadata) applied to the raw file. */
async function checkDownloads(page) {
  const grab = async (id) => {
    const [d] = await Promise.all([page.waitForEvent("download"), page.click(id)]);
    return { name: d.suggestedFilename(), buf: readFileSync(await d.path()) };
  };
  const raw = await grab("#download-raw");
  const tuned = await grab("#download-tuned");
  const head = await grab("#download-head");
  const labels = await grab("#download-labels");
  assert.deepEqual([raw.name, tuned.name, head.name, labels.name], ["notes.raw.npy", "notes.tuned.npy", "notes.head.safetensors", "notes.labels.csv"]);
  const x = readNpy(raw.buf);
  const y = readNpy(tuned.buf);
  assert.deepEqual(x.shape, [4, 384]);
  assert.deepEqual(y.shape, [4, 384]);
  const { metadata, tensors } = readSafetensors(head.buf);
  const meta = JSON.parse(metadata.simtune_head);
  const formula = meta.formula;
  assert.match(formula, /x = x \+ sigmoid\(gates\.i\) \* \(x @ fcs\.i\.weight\.T \+ fcs\.i\.bias\)/);
  // the default head keeps a share 2 / labels of the raw row (src/tune/head.rs), format /3
  const a = meta.raw_share;
  assert.ok(a > 0 && a <= 0.5, `raw share ${a}`);
  assert.equal(meta.format, "simtune-skip-connection-head/3");
  assert.match(formula, /y = sqrt\(a\) \* x0 \+ sqrt\(1 - a\) \* x \/ \|x\|/);
  const d = 384;
  const [W, b, g] = [tensors["fcs.0.weight"], tensors["fcs.0.bias"], tensors["gates.0"]];
  // the default head reads each row with the dataset's mean taken out ("take out what every
  // record shares first", src/tune/center.rs), L2-normalised again, and its formula says so
  const c = tensors.center;
  assert.ok(c && c.length === d, "the default head keeps the dataset's mean");
  assert.match(formula, /^x = x - center, then L2-normalise x; /);
  let worst = 0;
  for (let r = 0; r < 4; r++) {
    const row = x.data.subarray(r * d, (r + 1) * d);
    const cen = Array.from(row, (v, i) => v - c[i]);
    const cnorm = Math.hypot(...cen);
    const xc = cen.map((v) => v / cnorm);
    const out = new Float64Array(d);
    for (let o = 0; o < d; o++) {
      let s = b[o];
      for (let i = 0; i < d; i++) s += xc[i] * W[o * d + i];
      out[o] = xc[o] + s / (1 + Math.exp(-g[o]));
    }
    const norm = Math.hypot(...out);
    const x0 = Math.hypot(...row);
    const blend = out.map((v, o) => Math.sqrt(a) * row[o] / x0 + Math.sqrt(1 - a) * v / norm);
    const bnorm = Math.hypot(...blend);
    for (let o = 0; o < d; o++) worst = Math.max(worst, Math.abs(blend[o] / bnorm - y.data[r * d + o]));
  }
  assert.ok(worst < 1e-4, `the tuned file is the formula applied to the raw file (max diff ${worst})`);
  const lines = labels.buf.toString("utf8").trim().split("\n");
  assert.equal(lines[0], "index,text,label,predicted_label,confidence,check_record");
  assert.equal(lines.length, 5);
  for (const line of lines.slice(1)) assert.match(line, /^\d,[^,]+,(card|transfer),(card|transfer),(0|1)\.\d{4},0$/);
  console.log(`# downloads: ${lines.slice(1).join(" | ")}`);
}

test("a share link opens a dataset from a public URL, after asking, refuses other hosts, and &project= reopens exported work", { timeout: 300_000 }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), "simtune-dist-")), "dist");
  execFileSync("bash", [join(ROOT, "scripts/dist.sh"), "--no-build", "--out", out], { stdio: ["ignore", "ignore", "inherit"] });
  const hubServer = await hubStandIn();
  const { url, context, close } = await start({
    root: out,
    plain: true,
    args: [`--host-resolver-rules=MAP huggingface.co 127.0.0.1:${hubServer.port}`, "--ignore-certificate-errors"],
  });
  const DATA = "https://raw.githubusercontent.com/someone/tickets/main/support%20tickets.csv";
  const csv = "id,message,topic\n1,my card was declined,card\n2,where is my transfer,transfer\n3,the atm kept my card,\n";
  const PROJECT = "https://raw.githubusercontent.com/someone/tickets/main/tickets.simtune.json";
  let projectFile = null; // the first page's Export, served at PROJECT
  const fetched = [];
  await context.route(/^https?:\/\/(?!127\.0\.0\.1|huggingface\.co\/)/, (route) => {
    const u = route.request().url();
    fetched.push(u);
    const headers = { "access-control-allow-origin": "*", "content-type": "text/plain" };
    if (u === DATA) return route.fulfill({ status: 200, body: csv, headers });
    if (u === PROJECT && projectFile) return route.fulfill({ status: 200, body: projectFile, headers });
    return route.abort();
  });
  try {
    const { page, errors } = await openPage(context, url);
    const link = `${url}?data=${encodeURIComponent(DATA)}&text=message&label=topic`;
    await page.goto(link);
    await page.waitForSelector("body[data-ready=yes]");
    // the link says what it will download, and downloads nothing yet
    await page.waitForSelector("#link-prompt:not([hidden]) #link-open");
    assert.equal(await page.textContent("#link-url"), DATA);
    assert.deepEqual(fetched, [], "nothing downloaded before the person says so");
    await shot(page, "share-link-prompt");
    await page.click("#link-open");
    await page.waitForSelector("#view-label:not([hidden])");
    await page.waitForFunction(() => /3 records loaded from support tickets\.csv; 2 labels imported/.test(document.querySelector("#notice-text").textContent));
    assert.deepEqual(fetched, [DATA]);
    assert.equal(await labelledCount(page), 2);
    // the page offers the same link back
    await page.click("nav .tab[data-view=open]");
    const back = new URL(await page.inputValue("#share-link"));
    assert.equal(back.searchParams.get("data"), DATA);
    assert.equal(back.searchParams.get("text"), "message");
    assert.equal(back.searchParams.get("label"), "topic");
    // another host: refused with the list of allowed ones, nothing fetched
    await page.goto(`${url}?data=${encodeURIComponent("https://example.com/leak.csv")}`);
    await page.waitForSelector("#link-error");
    assert.match(await page.textContent("#link-error"), /only from huggingface\.co, raw\.githubusercontent\.com, gist\.githubusercontent\.com .* not from example\.com/);
    assert.deepEqual(fetched, [DATA], "no request to a host that is not allowed");
    assert.equal(await labelledCount(page), 2, "the project opened by the link is still there");

    // the work goes on and is exported; `&project=` on the link reopens it elsewhere: the same
    // labels, head, log and neighbours
    await page.goto(url);
    await page.waitForSelector("body[data-ready=yes]");
    await page.click("nav .tab[data-view=label]");
    await page.selectOption("#list-order", "file");
    await page.click('#records .record[data-index="2"]');
    await page.focus("#records");
    await keyLabel(page, "card");
    await waitEmbedded(page);
    await page.click("nav .tab[data-view=train]");
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done]", { timeout: 120_000 });
    const before = await workOf(page);
    const [d] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    projectFile = readFileSync(await d.path(), "utf8");
    assert.equal(JSON.parse(projectFile).dataset.source, DATA, "the bundle names where its data came from");
    await page.click("#new-project");
    await page.waitForFunction(() => /New project/.test(document.querySelector("#notice-text").textContent));
    await page.goto(`${url}?data=${encodeURIComponent(DATA)}&text=message&label=topic&project=${encodeURIComponent(PROJECT)}`);
    await page.waitForSelector("#link-prompt:not([hidden]) #link-open");
    assert.match(await page.textContent("#link-prompt"), /then the project file .*tickets\.simtune\.json/);
    await page.click("#link-open");
    await page.waitForFunction(() => /Imported 3 labels/.test(document.querySelector("#notice-text").textContent));
    assert.deepEqual(fetched, [DATA, DATA, PROJECT]);
    await waitEmbedded(page);
    assert.deepEqual(await workOf(page), before, "the link's project is the exported work");
    assert.deepEqual(errors, []);
  } finally {
    await close();
    hubServer.server.close();
  }
});

test("two models compared on the person's labels (the second from the hub; one of another width), then switched to from the cache", { timeout: 300_000 }, async () => {
  const out = join(mkdtempSync(join(tmpdir(), "simtune-dist-")), "dist");
  execFileSync("bash", [join(ROOT, "scripts/dist.sh"), "--no-build", "--out", out], { stdio: ["ignore", "ignore", "inherit"] });
  const SECOND = "simtune-tests/minilm-copy"; // the same weights under another id
  const NARROW = "simtune-tests/tiny-64"; // 64 dimensions, not 384
  const hubServer = await hubStandIn([SECOND, { id: NARROW, dir: tinyModel() }]);
  const { url, context, close } = await start({
    root: out,
    plain: true,
    args: [`--host-resolver-rules=MAP huggingface.co 127.0.0.1:${hubServer.port}`, "--ignore-certificate-errors"],
  });
  // 6 classes x 10 records of Banking77's test split, half of each class labelled
  const [, ...rows] = parseCsv(readFileSync(join(ROOT, "../shared/data/banking77_test.csv"), "utf8"));
  const byClass = new Map();
  for (const [t, l] of rows) (byClass.get(l) ?? byClass.set(l, []).get(l)).push(t);
  const records = [...byClass.entries()].slice(30, 36).flatMap(([l, ts]) => ts.slice(0, 10).map((t, i) => [t, i < 5 ? l : "", l]));
  const gold = records.map((r) => r[2]);
  try {
    const { page, errors } = await openPage(context, url);
    await page.setInputFiles("#file-input", { name: "requests.csv", mimeType: "text/csv", buffer: Buffer.from(toCsv([["text", "label"], ...records.map(([t, l]) => [t, l])])) });
    await page.waitForSelector("#use-columns");
    await page.selectOption("#label-col", "label");
    await page.click("#use-columns");
    await waitEmbedded(page);
    await page.click("nav .tab[data-view=train]");
    // too few check records: the comparison says what it needs
    await page.fill("#compare-hub-id", SECOND);
    await page.click("#compare-models");
    await page.waitForFunction(() => /Label at least 10 check records/.test(document.querySelector("#models-status").textContent));
    await page.fill("#check-count", "12");
    await page.click("#check-draw");
    await labelChecks(page, gold);
    await page.click("#compare-models");
    await page.waitForSelector("#models-table:not([hidden])", { timeout: 180_000 });
    const table = await page.$$eval("#models-table tr[data-model]", (els) => els.map((e) => ({ ...e.dataset })));
    console.log(`# models compared: ${JSON.stringify(table)} — ${await page.textContent("#models-status")}`);
    assert.deepEqual(table.map((r) => r.model), ["all-MiniLM-L6-v2", `hf:${SECOND}`]);
    // the same weights under two ids: the same figures, raw and tuned
    assert.equal(table[0].raw, table[1].raw);
    assert.equal(table[0].tuned, table[1].tuned);
    assert.ok(Number(table[0].raw) > 0 && Number(table[0].raw) <= 1);
    assert.ok(hubServer.served.some((p) => p.startsWith(`/${SECOND}/resolve/main/model.safetensors`)), hubServer.served.join(" "));
    await page.locator("#models").scrollIntoViewIfNeeded();
    await shot(page, "models-compared");
    // a model of another width: compared on the same labels, each with its own head
    await page.fill("#compare-hub-id", NARROW);
    await page.click("#compare-models");
    await page.waitForFunction((id) => document.querySelector(`#models-table tr[data-model="${id}"]`), `hf:${NARROW}`, { timeout: 180_000 });
    const narrow = await page.$$eval("#models-table tr[data-model]", (els) => els.map((e) => ({ ...e.dataset, dim: e.children[1].textContent })));
    console.log(`# a narrower model compared: ${JSON.stringify(narrow)}`);
    assert.deepEqual(narrow.map((r) => [r.model, r.dim]), [["all-MiniLM-L6-v2", "384"], [`hf:${NARROW}`, "64"]]);
    for (const r of narrow) for (const f of [r.raw, r.tuned]) assert.ok(Number(f) >= 0 && Number(f) <= 1, JSON.stringify(r));
    assert.equal(narrow[0].raw, table[0].raw, "the model in use keeps its figure");
    await page.fill("#compare-hub-id", SECOND);
    await page.click("#compare-models");
    await page.waitForFunction((id) => document.querySelector(`#models-table tr[data-model="${id}"]`), `hf:${SECOND}`, { timeout: 180_000 });
    // switching to it embeds nothing again
    await page.click("#use-compared");
    await page.waitForFunction(() => /loaded from this browser's cache/.test(document.querySelector("#embed-text").textContent));
    await page.click("nav .tab[data-view=open]");
    assert.match(await page.textContent("#model-now"), /minilm-copy \(Hugging Face\)/);
    // a model id the hub does not have: a clear message
    await page.click("nav .tab[data-view=train]");
    await page.fill("#compare-hub-id", "simtune-tests/no-such-model");
    await page.click("#compare-models");
    await page.waitForFunction(() => /HTTP 404/.test(document.querySelector("#models-status").textContent), null, { timeout: 60_000 });
    assert.deepEqual(errors, []);
  } finally {
    await close();
    hubServer.server.close();
  }
});
