// Work moves between the tab and the CLI in one project file (src/data/project.rs), both ways:
// the page's Export read by `simtune search --project` gives the page's own tuned neighbours,
// and a head the CLI trains (`train --project-out`) imported into the page is the same head,
// byte for byte, with the same neighbours.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, ROOT, SHARED, shot } from "./harness.mjs";
import { parseCsv, toCsv, openPage, loadCsv, waitEmbedded, labelledCount } from "./flow.mjs";

const TMP = mkdtempSync(join(tmpdir(), "simtune-roundtrip-"));
const BIN = join(ROOT, "target/debug/simtune");

function cli(args) {
  if (!existsSync(BIN)) execFileSync("cargo", ["build", "--bin", "simtune"], { cwd: ROOT, stdio: "inherit" });
  return execFileSync(BIN, args, { env: { ...process.env, XDG_CACHE_HOME: join(TMP, "cache") }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** 6 classes x 25 records of Banking77's test split (classes 20-25 in file order): a `gold`
 * column with every label, a `label` column with every 5th (the page's starting labels). */
function fixture() {
  const [, ...rows] = parseCsv(readFileSync(join(SHARED, "data", "banking77_test.csv"), "utf8"));
  const byClass = new Map();
  for (const [text, label] of rows) (byClass.get(label) ?? byClass.set(label, []).get(label)).push(text);
  const classes = [...byClass.keys()].slice(20, 26);
  const records = [];
  for (let r = 0; r < 25; r++) for (const c of classes) records.push([byClass.get(c)[r], c]);
  const path = join(TMP, "requests.csv");
  writeFileSync(path, toCsv([["text", "label", "gold"], ...records.map(([t, c], i) => [t, i % 5 === 0 ? c : "", c])]));
  return path;
}

/** The page's raw and tuned neighbours of record `i` (Compare view). */
async function pageNeighbours(page, i, k) {
  await page.click("nav .tab[data-view=compare]");
  await page.fill("#compare-k", String(k));
  await page.dispatchEvent("#compare-k", "change");
  await page.fill("#compare-record", String(i));
  await page.click("#compare-show");
  await page.waitForSelector("#compare-tuned li.record");
  const list = (col) => page.$$eval(`${col} li.record`, (els) => els.map((e) => Number(e.dataset.index)));
  return { raw: await list("#compare-raw"), tuned: await list("#compare-tuned") };
}

const cliNeighbours = (csv, i, k, project) =>
  JSON.parse(cli(["search", csv, "--text-column", "text", "--record", String(i), "-k", String(k), "--json", ...(project ? ["--project", project] : [])])).map((h) => h.index);

async function headBytes(page) {
  await page.click("nav .tab[data-view=train]");
  const [d] = await Promise.all([page.waitForEvent("download"), page.click("#download-head")]);
  return readFileSync(await d.path());
}

test("page export -> CLI search --project; CLI train --project-out -> page import: same head, same neighbours", { timeout: 300_000 }, async () => {
  const csv = fixture();
  const { url, context, close } = await start();
  try {
    const { page, errors } = await openPage(context, url);
    await loadCsv(page, csv, { label: "label" });
    await waitEmbedded(page);
    assert.equal(await labelledCount(page), 30);
    await page.click("nav .tab[data-view=train]");
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 120_000 });
    assert.equal(await page.getAttribute("#train-status", "data-state"), "done");

    // the page's Export, read by the CLI
    const [d] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    const exported = join(TMP, d.suggestedFilename());
    await d.saveAs(exported);
    const doc = JSON.parse(readFileSync(exported, "utf8"));
    assert.equal(doc.version, 2);
    assert.match(doc.dataset.textsHash, /^[0-9a-f]{32}$/);
    assert.equal(doc.labels.length, 30);
    const K = 10;
    for (const i of [1, 77]) {
      const mine = await pageNeighbours(page, i, K);
      assert.deepEqual(cliNeighbours(csv, i, K), mine.raw, `record ${i}: raw neighbours, page vs CLI`);
      assert.deepEqual(cliNeighbours(csv, i, K, exported), mine.tuned, `record ${i}: tuned neighbours, page vs CLI search --project`);
      assert.notDeepEqual(mine.tuned, mine.raw);
    }
    const truth = cli(["eval", csv, "--text-column", "text", "--label-column", "gold", "--project", exported, "--k", "10"]);
    console.log(`# CLI eval --project of the page's export: ${truth.trim().split("\n").at(-1)}`);

    // the CLI trains on every gold label; the page imports its project file
    const fromCli = join(TMP, "cli.simtune.json");
    cli(["train", csv, "--text-column", "text", "--label-column", "gold", "--project-out", fromCli]);
    const cliDoc = JSON.parse(readFileSync(fromCli, "utf8"));
    assert.equal(cliDoc.dataset.textsHash, doc.dataset.textsHash, "one digest of the texts, Rust and page alike");
    const asked = [];
    page.on("dialog", (dlg) => asked.push(dlg.message()));
    await page.setInputFiles("#import-file", fromCli);
    await page.waitForFunction(() => /Imported 150 labels/.test(document.querySelector("#notice-text").textContent));
    assert.match(asked.find((m) => m.startsWith("Import")), /150 labels land on records here: 120 new, 30 the same as yours, 0 DIFFERENT/);
    assert.ok(!asked.some((m) => /another file/.test(m)), "same records: no 'made on another file'");
    assert.equal(await labelledCount(page), 150);
    assert.deepEqual(await headBytes(page), Buffer.from(cliDoc.head, "base64"), "the page holds the CLI's head, byte for byte");
    const mine = await pageNeighbours(page, 77, K);
    assert.deepEqual(cliNeighbours(csv, 77, K, fromCli), mine.tuned);
    // the CLI's run joins the page's experiment log
    await page.click("nav .tab[data-view=train]");
    const notes = await page.$$eval("#view-train .log-note", (els) => els.map((e) => e.value));
    assert.ok(notes.some((n) => /^simtune train \(CLI\)/.test(n)), notes.join(" | "));
    assert.equal(await page.textContent("#train-status"), "", "no word left of the head trained before the import");
    await shot(page, "roundtrip-imported");

    // the results card: a 1200 x 630 PNG and Markdown, no figure claimed without the check
    await page.click("nav .tab[data-view=compare]");
    await page.click("#card-make");
    await page.waitForSelector("#card-canvas:not([hidden])", { timeout: 60_000 });
    const md = await page.inputValue("#card-md");
    assert.match(md, /tuned on requests\.csv \(150 records\) with all-MiniLM-L6-v2/);
    assert.match(md, /Labels: 150 in 6 classes/);
    assert.match(md, /Not measured yet: the check/);
    assert.match(md, /Data: a local file \(not shared\)/);
    const [png] = await Promise.all([page.waitForEvent("download"), page.click("#card-png")]);
    assert.equal(png.suggestedFilename(), "requests.card.png");
    const buf = readFileSync(await png.path());
    assert.equal(buf.subarray(1, 4).toString("latin1"), "PNG");
    assert.deepEqual([buf.readUInt32BE(16), buf.readUInt32BE(20)], [1200, 630]);
    await page.locator("#results-card").scrollIntoViewIfNeeded();
    await shot(page, "results-card");
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
