// The encoder tuned in the page (Train → "Which model fits your labels?" → "Tune and
// compare"): its top 3 layers trained on the person's training labels in the trainer worker
// (src/tune/encoder_top.rs), kept in this browser as a model of its own, compared with the
// model in use on the check records, then switched to. The tuned encoder must be the one the
// CLI's `simtune tune-encoder` makes from the same labels: the records it embeds in the page
// are compared with the CLI's embeddings through the CLI's tuned model folder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, ROOT, shot } from "./harness.mjs";
import { openPage, waitEmbedded, parseCsv, toCsv, labelChecks, answerChecks, readNpy } from "./flow.mjs";

const BIN = join(ROOT, "target", "debug", "simtune");

test("the encoder tuned in the page on the person's labels is the CLI's tune-encoder, compared on check records and switched to", { timeout: 420_000 }, async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: scripts/test.sh runs cargo test (which builds it) first`);
  // 6 classes x 10 records of Banking77's test split, half of each class labelled
  const [, ...rows] = parseCsv(readFileSync(join(ROOT, "../shared/data/banking77_test.csv"), "utf8"));
  const byClass = new Map();
  for (const [t, l] of rows) (byClass.get(l) ?? byClass.set(l, []).get(l)).push(t);
  const records = [...byClass.entries()].slice(40, 46).flatMap(([l, ts]) => ts.slice(0, 10).map((t, i) => [t, i < 5 ? l : "", l]));
  const gold = records.map((r) => r[2]);
  const dir = mkdtempSync(join(tmpdir(), "simtune-tune-encoder-"));
  const csv = join(dir, "requests.csv");
  writeFileSync(csv, toCsv([["text", "label"], ...records.map(([t, l]) => [t, l])]));

  const { url, context, close } = await start({});
  let pageRows;
  try {
    const { page, errors } = await openPage(context, url);
    // f32, the arithmetic the CLI embeds with below
    await page.selectOption("#precision", "f32");
    await page.setInputFiles("#file-input", csv);
    await page.waitForSelector("#use-columns");
    await page.selectOption("#label-col", "label");
    await page.click("#use-columns");
    await waitEmbedded(page);
    await page.click("nav .tab[data-view=train]");
    await page.fill("#check-count", "12");
    await page.click("#check-draw");
    await labelChecks(page, gold);
    await page.click("#tune-encoder");
    await page.waitForFunction(() => /step \d+ of 30, loss/.test(document.querySelector("#models-status").textContent), null, { timeout: 120_000 });
    await page.locator("#models").scrollIntoViewIfNeeded();
    await shot(page, "tune-encoder-running");
    await page.waitForSelector("#models-table:not([hidden])", { timeout: 300_000 });
    assert.match(await page.textContent("#models-status"), /^Tuned the top 3 layers on 30 labelled records and 6 label names in \d+ s \(loss [\d.]+ → [\d.]+\)\. Measured on 12 labelled check records/);
    const table = await page.$$eval("#models-table tr[data-model]", (els) => els.map((e) => ({ ...e.dataset, name: e.children[0].textContent })));
    console.log(`# tuned here and compared: ${JSON.stringify(table)} — ${await page.textContent("#models-status")}`);
    assert.equal(table.length, 2);
    assert.equal(table[0].model, "all-MiniLM-L6-v2");
    assert.match(table[1].model, /^local:/);
    assert.match(table[1].name, /^all-MiniLM-L6-v2 \(top 3 layers tuned here on your labels\)/);
    for (const r of table) for (const f of [r.raw, r.tuned]) assert.ok(Number(f) >= 0 && Number(f) <= 1, JSON.stringify(r));
    await shot(page, "tune-encoder-compared");
    await page.click("#use-compared");
    await page.waitForFunction(() => /loaded from this browser's cache/.test(document.querySelector("#embed-text").textContent));
    await page.click("nav .tab[data-view=open]");
    assert.match(await page.textContent("#model-now"), /tuned here on your labels/);
    assert.match(await page.textContent("#model-tuning"), /its top 3 layers were tuned on 30 labelled records of 6 classes from requests\.csv/);
    await shot(page, "tune-encoder-in-use");
    await page.click("nav .tab[data-view=train]");
    // the check then measures against the encoder before its tuning (its embeddings are in
    // this browser's cache), so its figure holds the tuning's gain too
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 120_000 });
    assert.equal(await page.getAttribute("#train-status", "data-state"), "done", await page.textContent("#train-status"));
    await answerChecks(page, gold);
    const figure = await page.textContent("#check-figure");
    console.log(`# the check with the tuned encoder: ${figure}`);
    assert.match(figure, /compared with raw search with all-MiniLM-L6-v2 \(default\), the encoder before its top layers were tuned on your labels/);
    await shot(page, "tune-encoder-check");
    const [d] = await Promise.all([page.waitForEvent("download"), page.click("#download-raw")]);
    pageRows = readNpy(readFileSync(await d.path()));
    // the project file names the tuned model and says how it was made (not its weights)
    const [ex] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    const doc = JSON.parse(readFileSync(await ex.path(), "utf8"));
    assert.match(doc.model.id, /^local:all-MiniLM-L6-v2:/);
    assert.deepEqual([doc.model.tuning.inPage, doc.model.tuning.layers, doc.model.tuning.labels, doc.model.tuning.classes, doc.model.tuning.data], [true, 3, 30, 6, "requests.csv"]);
    // a reload keeps the tuned model (its files stay in the Cache API)
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]");
    await waitEmbedded(page, "cached");
    await page.click("nav .tab[data-view=open]");
    assert.match(await page.textContent("#model-now"), /tuned here on your labels/);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }

  // the CLI's tuned model from the same labels, then the same records embedded through it
  execFileSync(BIN, ["tune-encoder", csv, "--label-column", "label", "-o", join(dir, "tuned")], { stdio: ["ignore", "ignore", "inherit"] });
  const npy = join(dir, "cli.npy");
  execFileSync(BIN, ["embed", csv, "--text-column", "text", "--model", join(dir, "tuned"), "--precision", "f32", "--no-cache", "-o", npy], { stdio: ["ignore", "ignore", "inherit"] });
  const cli = readNpy(readFileSync(npy));
  const untuned = join(dir, "raw.npy");
  execFileSync(BIN, ["embed", csv, "--text-column", "text", "--precision", "f32", "--no-cache", "-o", untuned], { stdio: ["ignore", "ignore", "inherit"] });
  const raw = readNpy(readFileSync(untuned));
  assert.deepEqual(pageRows.shape, [60, 384]);
  assert.deepEqual(cli.shape, [60, 384]);
  const cos = (a, b, r) => {
    let s = 0;
    for (let j = 0; j < 384; j++) s += a.data[r * 384 + j] * b.data[r * 384 + j];
    return s;
  };
  let worst = 1;
  let moved = 1;
  for (let r = 0; r < 60; r++) {
    worst = Math.min(worst, cos(pageRows, cli, r));
    moved = Math.min(moved, cos(pageRows, raw, r));
  }
  console.log(`# the page's tuned encoder against the CLI's: min cosine ${worst.toFixed(6)} over 60 records; against the untuned encoder: min cosine ${moved.toFixed(4)}`);
  assert.ok(worst > 0.9999, `the page's tuned encoder differs from the CLI's: min cosine ${worst}`);
  // and tuning did move the records (the comparison above is not between two untuned models)
  assert.ok(moved < 0.99, `the tuned encoder embeds as the untuned one: min cosine ${moved}`);
});
