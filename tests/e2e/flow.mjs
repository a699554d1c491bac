// What the browser tests do as a person would: open the page, load a CSV, wait for the
// embeddings, label with the keyboard. Shared by the page and replay tests.
import assert from "node:assert/strict";

/** RFC 4180 CSV -> rows of fields. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") row.push(field), (field = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field || row.length) row.push(field), rows.push(row);
  return rows;
}
export const csvField = (s) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
export const toCsv = (rows) => rows.map((r) => r.map(csvField).join(",")).join("\n") + "\n";

export async function openPage(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("dialog", (d) => d.accept());
  await page.goto(url);
  await page.waitForSelector("body[data-ready=yes]", { timeout: 60_000 });
  return { page, errors };
}

export async function loadCsv(page, path, { label = "" } = {}) {
  await page.click("nav .tab[data-view=open]");
  await page.setInputFiles("#file-input", path);
  await page.waitForSelector("#use-columns", { timeout: 20_000 });
  await page.selectOption("#label-col", label);
  await page.click("#use-columns");
  await page.waitForSelector("#view-label:not([hidden])");
}

export async function waitEmbedded(page, state = "done") {
  await page.waitForSelector(`#embed-text[data-state=${state}], #embed-text[data-state=error]`, { timeout: 180_000 });
  assert.equal(await page.getAttribute("#embed-text", "data-state"), state, await page.textContent("#embed-text"));
}

/** Trains a head from the Train view, asserts the training finished, and returns the
 * status's text (its headline first). */
export async function train(page) {
  await page.click("nav .tab[data-view=train]");
  await page.click("#train");
  await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 120_000 });
  const status = await page.textContent("#train-status");
  assert.equal(await page.getAttribute("#train-status", "data-state"), "done", status);
  return status;
}

/** Labels the current record of the list (or session) with `name` by keyboard. */
export async function keyLabel(page, name, prefix = "label", scope = `#view-${prefix}`) {
  const names = await page.$$eval(`${scope} .chip[data-label]`, (els) => els.map((e) => e.dataset.label));
  const id = names.indexOf(name);
  if (id >= 0 && id < 9) await page.keyboard.press(String(id + 1));
  else {
    // a new label, or one past the ninth (no number key): `n` and its name, as a person types it
    await page.keyboard.press("n");
    await page.fill(`#${prefix}-new-name`, name);
    await page.keyboard.press("Enter");
  }
}

export const labelledCount = async (page) =>
  Number((await page.textContent("#label-summary")).match(/(\d+) labelled/)[1]);

/** Opens the similarity session of record `anchor` (its "Similar" button in the Label list)
 * with `k` neighbours (the page's default where `k` is not given); returns the neighbours' record indices in rank order. */
export async function openSession(page, anchor, k) {
  await page.click(`#records .record[data-index="${anchor}"] button:text("Similar")`);
  await page.waitForSelector("#view-session:not([hidden])");
  if (k === undefined) k = Number(await page.inputValue("#session-k")); // the page's own
  else {
    await page.fill("#session-k", String(k));
    await page.press("#session-k", "Enter");
  }
  await page.click("#session-refresh");
  await page.waitForFunction((k) => document.querySelectorAll("#session-list .record").length === k, k);
  return page.$$eval("#session-list .record", (els) => els.map((e) => Number(e.dataset.index)));
}

/** Puts embeddings computed by the CLI (`npy`, a URL the test server serves; `simtune embed`
 * makes int8 ones by default, as the page) into the page's cache for the dataset at URL `csv`
 * opened with text column "text", so a test does not wait for the browser to embed
 * thousands of records. */
export async function seedEmbeddings(page, { csv, npy, precision = "int8", saved = "blob" }) {
  await page.evaluate(
    async ({ csv, npy, precision, saved }) => {
      const store = await import("/www/store.js");
      const { DEFAULT_MODEL } = await import("/www/model.js");
      const { textsOf, keyOf } = await import("/tests/e2e/cache.js");
      const bytes = new Uint8Array(await (await fetch(csv)).arrayBuffer());
      const key = await keyOf(await textsOf(bytes, csv.split("/").pop(), ["text"]), precision);
      const buf = await (await fetch(npy)).arrayBuffer();
      const major = new DataView(buf).getUint8(6);
      const at = major === 1 ? 10 : 12;
      const hlen = major === 1 ? new DataView(buf).getUint16(8, true) : new DataView(buf).getUint32(8, true);
      const header = new TextDecoder().decode(new Uint8Array(buf, at, hlen));
      const [n, dim] = header.match(/\((\d+), (\d+)\)/).slice(1).map(Number);
      const data = new Float32Array(buf.slice(at + hlen));
      // as the page saves them (a Blob), or as one array, as pages before stop 53 did
      const value = { n, dim, data, model: DEFAULT_MODEL.id, precision };
      await (saved === "array" ? store.putEmbeddings(key, value) : store.putEmbeddingMatrix(key, value));
    },
    { csv, npy, precision, saved },
  );
}

/** Every check record waiting for a label labelled by keyboard, from `gold` (one label per
 * record). */
export async function labelChecks(page, gold) {
  await page.waitForSelector("#check-task[data-kind=label]");
  while ((await page.getAttribute("#check-task", "data-kind")) === "label") {
    const r = Number(await page.getAttribute("#check-task", "data-record"));
    await keyLabel(page, gold[r], "check", "#check");
    await page.waitForFunction((r) => document.querySelector("#check-task").dataset.record !== String(r) || document.querySelector("#check-task").dataset.kind !== "label", r);
  }
}

/** NumPy .npy (float32, C order) -> {shape, data}. */
export function readNpy(buf) {
  assert.equal(buf.subarray(0, 6).toString("latin1"), "\x93NUMPY");
  const len = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + len).toString("latin1");
  assert.match(header, /'descr': '<f4'/);
  const shape = header.match(/'shape': \((\d+), (\d+)\)/).slice(1).map(Number);
  const body = buf.subarray(10 + len);
  return { shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length)) };
}

/** Every question of the check answered (y / n from the gold labels); returns how many. */
export async function answerChecks(page, gold) {
  let answered = 0;
  while ((await page.getAttribute("#check-task", "data-kind")) === "question") {
    const [q, r] = await page.$eval("#check-task", (e) => [Number(e.dataset.check), Number(e.dataset.record)]);
    await page.keyboard.press(gold[q] === gold[r] ? "y" : "n");
    answered++;
    await page.waitForFunction(
      ([q, r]) => {
        const t = document.querySelector("#check-task").dataset;
        return t.kind !== "question" || t.check !== String(q) || t.record !== String(r);
      },
      [q, r],
    );
  }
  assert.equal(await page.getAttribute("#check-task", "data-kind"), "done");
  assert.equal(await page.getAttribute("#check-status", "data-questions"), "0");
  return answered;
}
