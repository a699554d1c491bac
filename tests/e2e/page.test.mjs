// The page as a person uses it: drop a CSV, pick columns, embed (worker pool), label with the
// keyboard, bulk-label in a similarity session, train, compare raw vs tuned, reload and find
// everything still there. Plus: no request leaves the page's origin or carries record text;
// hostile record text runs no script; bad input gets a clear message and loses no label.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, ROOT, SHARED, shot as shotAs } from "./harness.mjs";
import { parseCsv, toCsv, openPage, loadCsv, waitEmbedded, keyLabel, labelledCount, openSession } from "./flow.mjs";

const shot = (page, name) => shotAs(page, `page-${name}`);
const TMP = mkdtempSync(join(tmpdir(), "simtune-page-"));

/** 8 classes x 40 records of Banking77's test split, shuffled (seeded), label column empty. */
function bankingFixture() {
  const [header, ...rows] = parseCsv(readFileSync(join(SHARED, "data", "banking77_test.csv"), "utf8"));
  assert.deepEqual(header, ["text", "label"]);
  const byClass = new Map();
  for (const [text, label] of rows) {
    if (!byClass.has(label)) byClass.set(label, []);
    byClass.get(label).push(text);
  }
  const classes = [...byClass.keys()].filter((c) => byClass.get(c).length >= 40).slice(0, 8);
  const records = classes.flatMap((c) => byClass.get(c).slice(0, 40).map((text) => ({ text, label: c })));
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let i = records.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [records[i], records[j]] = [records[j], records[i]];
  }
  const path = join(TMP, "tickets.csv");
  writeFileSync(path, toCsv([["text", "label"], ...records.map((r) => [r.text, ""])]));
  return { path, records, classes };
}

const requests = [];
let flowTexts = [];

test("a person drops a CSV, labels, runs a session, trains, compares, reloads", { timeout: 420_000 }, async () => {
  const { path, records } = bankingFixture();
  flowTexts = records.slice(0, 6).map((r) => r.text);
  const { url, context, close } = await start();
  try {
    context.on("request", (r) => requests.push({ url: r.url(), postData: r.postData() ?? "" }));
    const { page, errors } = await openPage(context, url);
    await shot(page, "open-empty");

    // 1. open + columns
    await page.setInputFiles("#file-input", path);
    await page.waitForSelector("#use-columns");
    assert.match(await page.textContent("#preview h2"), /320 records/);
    await page.selectOption("#label-col", "");
    await shot(page, "open-preview");
    await page.click("#use-columns");
    await page.waitForSelector("#view-label:not([hidden])");

    // 3. embedding runs in the worker pool while the page stays usable
    await page.waitForSelector("#embed-text[data-state=running]", { timeout: 60_000 });
    await waitEmbedded(page);
    const embedText = await page.textContent("#embed-text");
    console.log(`# ${embedText}`);
    assert.match(embedText, /320 records embedded/);
    // the pool really shares the work: every worker embedded chunks
    const [, workers] = embedText.match(/with (\d+) workers/);
    const perWorker = (await page.getAttribute("#embed-text", "data-chunks")).split(",").map(Number);
    assert.equal(perWorker.length, Number(workers));
    assert.ok(Number(workers) >= 2 && perWorker.every((c) => c > 0), embedText);
    // the trainer's worker finds the pull's neighbours of every record now, not in a training
    await page.waitForFunction(() => document.documentElement.dataset.trainerPrepared === "320");

    // 4. label 24 records with the keyboard: `n` creates labels, number keys reuse them
    await page.focus("#records");
    for (let step = 0; step < 24; step++) {
      const i = Number(await page.getAttribute("#records .record.current", "data-index"));
      await keyLabel(page, records[i].label);
    }
    assert.equal(await labelledCount(page), 24);
    // undo + skip
    await page.keyboard.press("u");
    assert.equal(await labelledCount(page), 23);
    const cur = Number(await page.getAttribute("#records .record.current", "data-index"));
    await keyLabel(page, records[cur].label);
    await page.keyboard.press("s");
    assert.equal(await labelledCount(page), 24);
    // filter: text contains + by label
    await page.fill("#search", "card");
    await page.waitForFunction(() => /shown of 320/.test(document.querySelector("#label-summary").textContent) && !/^320 shown/.test(document.querySelector("#label-summary").textContent));
    await page.fill("#search", "");
    await page.selectOption("#filter", "unlabelled");
    await page.waitForFunction(() => /^296 shown/.test(document.querySelector("#label-summary").textContent));
    await page.selectOption("#filter", "all");
    await shot(page, "label");

    // 5. similarity sessions: select the true same-class records among 30 neighbours, bulk-label
    const anchors = [];
    for (const r of await page.$$eval("#records .record", (els) => els.map((e) => Number(e.dataset.index)))) {
      if (anchors.length >= 4) break;
      if (!anchors.some((a) => records[a].label === records[r].label)) anchors.push(r);
    }
    for (const [n, a] of anchors.entries()) {
      const shown = await openSession(page, a, 30);
      const want = new Set(shown.filter((i) => records[i].label === records[a].label));
      // shift-click a range, then fix it up one by one
      await page.click("#session-list .record:nth-child(1) input[type=checkbox]");
      await page.click("#session-list .record:nth-child(5) input[type=checkbox]", { modifiers: ["Shift"] });
      assert.match(await page.textContent("#session-selected"), /^5 selected/);
      for (const [pos, i] of shown.entries()) {
        const on = await page.$eval(`#session-list .record:nth-child(${pos + 1}) input`, (e) => e.checked);
        if (on !== want.has(i)) await page.click(`#session-list .record:nth-child(${pos + 1}) input[type=checkbox]`);
      }
      assert.equal(await page.textContent("#session-selected"), `${want.size} selected`);
      await page.focus("#session-list");
      await keyLabel(page, records[a].label, "session");
      assert.match(await page.textContent("#session-selected"), /^0 selected/);
      const share = Number(await page.getAttribute("#session-share", "data-share"));
      assert.ok(share >= want.size / 30 - 1e-9, `session share ${share} after labelling ${want.size} of 30`);
      if (n === 0) {
        // the session shows every 4th of the anchor's 120 nearest (the default spread); "its
        // nearest only" shows those 120 in order
        assert.match(await page.textContent("#session-anchor h2"), new RegExp(`^Records near #${a}: every 4th of its 120 nearest`));
        const list = () => page.$$eval("#session-list .record", (els) => els.map((e) => Number(e.dataset.index)));
        await page.selectOption("#session-spread", "1");
        await page.fill("#session-k", "120");
        await page.press("#session-k", "Enter");
        await page.waitForFunction(() => document.querySelectorAll("#session-list .record").length === 120);
        assert.deepEqual(shown, (await list()).filter((_, r) => r % 4 === 0));
        assert.match(await page.textContent("#session-anchor h2"), new RegExp(`^Records nearest #${a}$`));
        await page.selectOption("#session-spread", "4");
        await page.fill("#session-k", "30");
        await page.press("#session-k", "Enter");
        await page.waitForFunction(() => document.querySelectorAll("#session-list .record").length === 30);
        assert.deepEqual(await list(), shown);
        await page.click("#select-all");
        assert.equal(await page.textContent("#session-selected"), "30 selected");
        await page.click("#select-none");
        await shot(page, "session");
      }
      await page.click("nav .tab[data-view=label]");
    }
    const labelled = await labelledCount(page);
    console.log(`# ${labelled} records labelled (24 by key, the rest in sessions)`);
    assert.ok(labelled >= 40, `only ${labelled} labelled`);

    // 6. train with a live loss curve
    await page.click("nav .tab[data-view=train]");
    assert.equal(await page.isDisabled("#train"), false);
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done]", { timeout: 120_000 });
    const status = await page.textContent("#train-status");
    console.log(`# ${status}`);
    // the sessions' labels reached the trainer with their session: the pull held them
    // against their labels' records from outside each session
    const counted = status.match(/it held the (\d+) labels of your (\d+) similarity sessions? against/)?.slice(1).map(Number);
    if (/prototype pull over/.test(status)) assert.ok(counted && counted[1] >= 1 && counted[0] <= labelled, status);
    // no figure is claimed until check records are set aside and answered
    assert.equal(await page.textContent("#check-figure"), "");
    assert.match(await page.textContent("#check-status"), /No check records yet/);
    // the run is in the experiment log, with what it rests on; the person adds a note
    const run = await page.textContent("#experiment-log li[data-run='1']");
    // the label names it trained on as records are counted apart from the labels
    const [, joinedText, classesText] = (await page.textContent("#train-status")).match(/With (\d+) of (\d+) label names as records/);
    const joined = Number(joinedText);
    // one line on what happened, then how it trained, one point each
    assert.match(await page.textContent("#train-status .train-headline"), /^Head trained on \d+ records in \d+ classes in [\d.]+ s/);
    const how = await page.$$eval("#train-status .train-how li", (items) => items.map((li) => li.textContent));
    assert.ok(how.some((t) => /^With \d+ of \d+ label names as records/.test(t)) && how.some((t) => /^Starting from /.test(t)), how.join(" | "));
    // the raw space kept in the tuned one: two labels' weight, 2 / labels (src/tune/head.rs)
    const blend = how.map((t) => t.match(/^Tuned search blends the raw space back in with the weight of 2 labels \(a share of ([\d.]+) %\)/)).find(Boolean);
    assert.ok(blend, how.join(" | "));
    assert.ok(Math.abs(Number(blend[1]) - 200 / labelled) < 0.01, `share ${blend[1]} % for ${labelled} labels`);
    // the pull's targets smoothed as far as the labels support it (on by default since stop
    // 51): the weight and what the labels said, or why it was not (prototype_pull.rs)
    assert.equal(await page.isChecked("#cfg-smooth"), true);
    if (/prototype pull over/.test(status)) {
      const smoothed = how.map((t) => t.match(/^Each record's target in the pull also averages in its 5 nearest records, at (\d+)% \((?:averaged so, your labelled records rank their own labels ([\d.]+) points of average precision better|no label has two records yet)/)).find(Boolean);
      const not = how.find((t) => /^Records were not averaged with their neighbours: averaged so, your labelled records rank their own labels no better \(/.test(t));
      assert.ok(Boolean(smoothed) !== Boolean(not), how.join(" | "));
      // beyond 100 labels the weight falls as 100 / labels; where the gain is a point or more, it is all of that
      if (smoothed) {
        const [weight, points] = [Number(smoothed[1]), smoothed[2] === undefined ? Infinity : Number(smoothed[2])];
        assert.ok(weight > 0 && weight <= Math.round(100 * Math.min(1, 100 / (labelled + joined))), how.join(" | "));
        if (points >= 1.05) assert.equal(weight, Math.round(100 * Math.min(1, 100 / (labelled + joined))), how.join(" | "));
      }
    }
    // and the records read with the dataset's average taken out (src/tune/center.rs)
    assert.ok(how.includes("Reading every record minus the dataset's average embedding (what all its records share)."), how.join(" | "));
    // the names that stayed out are named (up to 4), each one of the labels trained
    const out = status.match(/label names as records \((.+?) stays? out: (?:it|each) lies nearer another label's records than its own\)/);
    assert.equal(Boolean(out), joined < Number(classesText), status);
    if (out && Number(classesText) - joined <= 4) {
      const named = [...out[1].matchAll(/“([^”]+)”/g)].map((m) => m[1]);
      assert.equal(named.length, Number(classesText) - joined, status);
      const chips = await page.$$eval("#view-label .chip[data-label]", (els) => els.map((e) => e.dataset.label));
      for (const name of named) assert.ok(chips.includes(name), `${name} is a label`);
    }
    assert.match(run, new RegExp(`Run 1 .* all-MiniLM-L6-v2 · \\S+ loss, lr .*${labelled} labels \\+ ${joined} label names in \\d+ classes`));
    assert.match(run, /Check: no figure for this head/);
    await page.fill("#experiment-log li[data-run='1'] .log-note", "first try: 4 sessions");
    await page.press("#experiment-log li[data-run='1'] .log-note", "Enter");
    await shot(page, "train");

    // 7. compare: the true same-class share among the top 10, raw vs tuned, over 40 records
    await page.click("nav .tab[data-view=compare]");
    await page.fill("#compare-k", "10");
    await page.press("#compare-k", "Enter");
    let raw = 0;
    let tuned = 0;
    const probes = records.map((_, i) => i).filter((i) => i % 8 === 3).slice(0, 40);
    for (const i of probes) {
      await page.fill("#compare-record", String(i));
      await page.click("#compare-show");
      await page.waitForSelector(`#compare-anchor:has-text("#${i} ")`);
      const share = async (col) => {
        const idx = await page.$$eval(`${col} .record`, (els) => els.map((e) => Number(e.dataset.index)));
        assert.equal(idx.length, 10);
        return idx.filter((j) => records[j].label === records[i].label).length / 10;
      };
      raw += await share("#compare-raw");
      tuned += await share("#compare-tuned");
      // the share line says how many neighbours it could not count (not labelled yet)
      const unlabelled = await page.$$eval("#compare-tuned .record .label.none", (els) => els.length);
      const line = await page.textContent("#compare-tuned .share");
      if (!line.startsWith("same label")) assert.equal(line, `${10 - unlabelled} of 10 neighbours labelled`); // an unlabelled anchor
      else if (unlabelled === 10) assert.equal(line, "same label: unknown · none of the 10 is labelled yet");
      else if (unlabelled) assert.match(line, new RegExp(`· ${unlabelled} not labelled yet, counted as not the same$`), line);
      else assert.doesNotMatch(line, /not labelled yet/, line);
    }
    raw /= probes.length;
    tuned /= probes.length;
    console.log(`# true same-class share of the top 10 over ${probes.length} records: raw ${raw.toFixed(3)}, tuned ${tuned.toFixed(3)}`);
    assert.ok(tuned > raw, `tuned ${tuned} is not above raw ${raw}`);
    // a typed query is embedded by a worker
    await page.fill("#query", "my card has still not arrived");
    await page.press("#query", "Enter");
    await page.waitForSelector('#compare-anchor:has-text("Query:")');
    await page.waitForFunction(() => document.querySelectorAll("#compare-tuned .record").length === 10);
    await shot(page, "compare");

    // 8. reload: labels, head and embeddings are still there, nothing re-embedded
    await page.waitForSelector("#saved[data-state=saved]");
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]", { timeout: 60_000 });
    await waitEmbedded(page, "cached");
    assert.match(await page.textContent("#embed-text"), /loaded from this browser's cache/);
    assert.equal(await labelledCount(page), labelled);
    await page.click("nav .tab[data-view=train]");
    assert.match(await page.textContent("#train-info"), /A head is trained/);
    assert.doesNotMatch(await page.textContent("#train-info"), /fewer than 20 labels/, `${labelled} labels`);
    assert.equal(await page.inputValue("#experiment-log li[data-run='1'] .log-note"), "first try: 4 sessions", "the log and its note survive a reload");
    // the session that gave each label survives the reload and travels in the export
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    const doc = JSON.parse(readFileSync(await download.path(), "utf8"));
    const fromSessions = doc.labels.filter((l) => l.session > 0);
    assert.equal(doc.labels.length, labelled);
    assert.ok(fromSessions.length > 0 && fromSessions.length <= labelled, `${fromSessions.length} labels from sessions`);
    if (counted) assert.ok(fromSessions.length >= counted[0] && new Set(fromSessions.map((l) => l.session)).size >= counted[1], `${fromSessions.length} labels of sessions exported; ${counted}`);
    await page.click("nav .tab[data-view=compare]");
    await page.fill("#compare-record", String(probes[0]));
    await page.click("#compare-show");
    await page.waitForFunction(() => document.querySelectorAll("#compare-tuned .record").length === 10);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test("no request leaves the page's origin or carries record text", () => {
  assert.ok(requests.length > 5, "requests were recorded");
  const origin = new URL(requests[0].url).origin;
  for (const r of requests) {
    assert.ok(r.url.startsWith(origin + "/"), `request to another origin: ${r.url}`);
    for (const t of flowTexts) {
      const probe = t.slice(0, 20);
      assert.ok(!decodeURIComponent(r.url).includes(probe), `record text in a URL: ${r.url}`);
      assert.ok(!r.postData.includes(probe), `record text sent to ${r.url}`);
    }
  }
  const model = requests.filter((r) => r.url.includes("/models/all-MiniLM-L6-v2/model.safetensors"));
  assert.ok(model.length <= 1, `the model weights were downloaded ${model.length} times (cache)`);
});

test("hostile record text is shown as text and runs nothing", { timeout: 180_000 }, async () => {
  const payloads = [
    "<img src=x onerror=window.__pwned=1>",
    "<script>window.__pwned=1</script>",
    "<svg onload=window.__pwned=1></svg>",
    '"><iframe src="javascript:window.__pwned=1"></iframe>',
    "<a href=javascript:window.__pwned=1>click</a> my card",
    "<style>body{display:none}</style> transfer",
    "normal record about a card payment",
    "another normal record about an exchange rate",
    // longer than the model reads (256 word pieces): the page says only its beginning counts
    `a long record about a card payment ${"and then some more words ".repeat(80)}`,
  ];
  const path = join(TMP, "hostile.csv");
  writeFileSync(path, toCsv([["text", "label"], ...payloads.map((t, i) => [t, i % 2 ? "<b onmouseover=window.__pwned=1>x</b>" : "<img src=y onerror=window.__pwned=1>"])]));
  const { url, context, close } = await start();
  try {
    const { page, errors } = await openPage(context, url);
    await page.setInputFiles("#file-input", path);
    await page.waitForSelector("#use-columns");
    await page.selectOption("#label-col", "label");
    await page.click("#use-columns");
    await waitEmbedded(page);
    assert.equal(await page.getAttribute("#embed-text", "data-truncated"), "1");
    assert.match(await page.textContent("#embed-text"), /1 record is longer than the model reads \(256 word pieces, about 192 words\): only its beginning is embedded/);
    await page.selectOption("#list-order", "file");
    const texts = await page.$$eval("#records .record .text", (els) => els.map((e) => e.textContent));
    assert.deepEqual(texts, payloads);
    await page.click('#records .record[data-index="0"] button:text("Similar")');
    await page.waitForFunction((n) => document.querySelectorAll("#session-list .record").length === n, payloads.length - 1);
    await page.click("nav .tab[data-view=compare]");
    await page.fill("#compare-record", "1");
    await page.click("#compare-show");
    await page.waitForSelector("#compare-raw .record");
    // hostile label names on the map's legend, its tooltips and the results card: text only
    await page.click("nav .tab[data-view=train]");
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 120_000 });
    await page.click("nav .tab[data-view=map]");
    await page.waitForFunction(() => /projected in/.test(document.querySelector("#map-status").textContent), null, { timeout: 60_000 });
    const legend = await page.$$eval("#map-legend .legend-item", (els) => els.map((e) => e.dataset.label).sort());
    assert.deepEqual(legend, ["<b onmouseover=window.__pwned=1>x</b>", "<img src=y onerror=window.__pwned=1>"]);
    // hover record 0 where the map draws it (its exported coordinates, the initial view)
    const [d] = await Promise.all([page.waitForEvent("download"), page.click("#map-download")]);
    const first = parseCsv(readFileSync(await d.path(), "utf8"))[1];
    assert.equal(first[0], "0");
    const box = await page.locator("#map-canvas").boundingBox();
    const scale = (Math.min(box.width, box.height) / 2) * 0.92;
    await page.mouse.move(box.x + box.width / 2 + Number(first[1]) * scale, box.y + box.height / 2 - Number(first[2]) * scale);
    await page.waitForSelector("#map-tip:not([hidden])");
    assert.equal(await page.textContent("#map-tip"), `#0 [<img src=y onerror=window.__pwned=1>] ${payloads[0]}`);
    await page.click("nav .tab[data-view=compare]");
    await page.click("#card-make");
    await page.waitForSelector("#card-canvas:not([hidden])");
    await shot(page, "hostile");
    await page.waitForTimeout(300);
    const pwned = await page.evaluate(() => window.__pwned);
    assert.equal(pwned, undefined, "a payload ran");
    const injected = await page.$$eval("main img, main script, main svg, main iframe, main style, main b, main a[href^=javascript]", (els) => els.length);
    assert.equal(injected, 0, "record text created elements");
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});

test("bad input gets a clear message and keeps the labels already made", { timeout: 180_000 }, async () => {
  const good = join(TMP, "good.csv");
  writeFileSync(good, toCsv([["text", "label"], ["card did not arrive", "card"], ["where is my card", ""], ["exchange rate is wrong", "fx"], ["what rate do you use", ""]]));
  const ragged = join(TMP, "ragged.csv");
  writeFileSync(ragged, 'text,label\n"fine",a\n"too",many,fields,here\n"unterminated quote,b\n');
  const empty = join(TMP, "empty.csv");
  writeFileSync(empty, "");
  const unlabelled = join(TMP, "unlabelled.csv");
  writeFileSync(unlabelled, toCsv([["text", "label"], ["card did not arrive", ""], ["where is my card", ""]]));
  // a headerless TSV named .csv, its first record holding a comma (as a public News Category file is)
  const noHeader = join(TMP, "news_category.csv");
  writeFileSync(noHeader, "There were 2 shootings, but 1 on TV\tCRIME\nHugh Grant marries\tENTERTAINMENT\nA robbery downtown\tCRIME\n");
  // 300 AG News records with their label column named "desk", and an id column
  const [, ...agRows] = parseCsv(readFileSync(join(SHARED, "data", "agnews_test_sample2000.csv"), "utf8"));
  const desk = join(TMP, "desk.csv");
  writeFileSync(desk, toCsv([["id", "text", "desk"], ...agRows.slice(0, 300).map(([text, label], i) => [String(i), text, label])]));
  const goldLabel = join(TMP, "gold.csv");
  writeFileSync(goldLabel, toCsv([["id", "sentence", "gold_label"], ["1", "card did not arrive", "card"], ["2", "what rate do you use", "fx"]]));
  const gpt2 = join(TMP, "gpt2-model");
  mkdirSync(gpt2, { recursive: true });
  writeFileSync(join(gpt2, "config.json"), JSON.stringify({ model_type: "gpt2", n_embd: 768 }));
  writeFileSync(join(gpt2, "tokenizer.json"), "{}");
  writeFileSync(join(gpt2, "model.safetensors"), "not weights");
  // a folder `simtune tune-encoder` wrote: the model's files and its note (the weights here are
  // the default's: what is tested is that the page says the encoder was trained, and on what)
  const tuned = join(TMP, "tuned-model");
  mkdirSync(tuned, { recursive: true });
  for (const f of ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json"]) {
    copyFileSync(join(ROOT, "models/all-MiniLM-L6-v2", f), join(tuned, f));
  }
  writeFileSync(join(tuned, "simtune_tuning.json"), JSON.stringify({ tuned_layers: 3, labels: 30, classes: 2, data: "sms600.csv", steps: 30 }));

  const { url, context, close } = await start();
  try {
    const { page } = await openPage(context, url);
    await loadCsv(page, good, { label: "label" });
    assert.equal(await labelledCount(page), 2, "labels imported from the label column");
    await page.selectOption("#list-order", "file");
    await page.focus("#records");
    await page.keyboard.press("j"); // record 1, unlabelled
    await page.keyboard.press("1"); // -> "card"
    assert.equal(await labelledCount(page), 3);

    for (const [file, want] of [
      [ragged, /ragged\.csv.*line \d/i],
      [empty, /empty\.csv.*empty/i],
    ]) {
      await page.click("nav .tab[data-view=open]");
      await page.setInputFiles("#file-input", file);
      await page.waitForFunction(() => document.querySelector("#open-message").dataset.kind === "error");
      const msg = await page.textContent("#open-message");
      console.log(`# ${msg}`);
      assert.match(msg, want);
      assert.match(await page.textContent("#notice-text"), want);
      await shot(page, `bad-${file.split("/").pop()}`);
      await page.evaluate(() => (document.querySelector("#open-message").dataset.kind = ""));
    }
    // a label-like column over empty cells is not proposed (it would import nothing); one
    // with labels is
    await page.setInputFiles("#file-input", unlabelled);
    await page.waitForSelector("#use-columns");
    assert.equal(await page.inputValue("#label-col"), "");
    assert.match(await page.textContent("#label-col-empty"), /“label” is empty in the first rows/);
    await page.setInputFiles("#file-input", good);
    await page.waitForFunction(() => document.querySelector("#preview h2")?.textContent.startsWith("good.csv"));
    assert.equal(await page.inputValue("#label-col"), "label");
    assert.equal(await page.$("#label-col-empty"), null);
    // a label column named otherwise ("gold_label", "result", ...) is proposed too
    await page.setInputFiles("#file-input", goldLabel);
    await page.waitForFunction(() => document.querySelector("#preview h2")?.textContent.startsWith("gold.csv"));
    assert.equal(await page.inputValue("#label-col"), "gold_label");
    // a label column named like nothing the page knows is not picked, but named in a hint,
    // from its values repeating over the first 200 rows (the id column's do not); the table
    // shows 5 of those rows
    await page.setInputFiles("#file-input", desk);
    await page.waitForFunction(() => document.querySelector("#preview h2")?.textContent.startsWith("desk.csv"));
    assert.equal(await page.inputValue("#label-col"), "");
    const agLabels = new Set(agRows.slice(0, 200).map((r) => r[1]));
    assert.match(await page.textContent("#label-col-hint"), new RegExp(`^“desk” may hold labels: its first 200 rows hold only ${agLabels.size} different values \\(`));
    assert.equal(await page.$$eval("#preview .preview-table tbody tr", (rows) => rows.length), 5);
    // where a column is named like labels, no hint
    await page.setInputFiles("#file-input", goldLabel);
    await page.waitForFunction(() => document.querySelector("#preview h2")?.textContent.startsWith("gold.csv"));
    assert.equal(await page.$("#label-col-hint"), null);
    // no header line: its first record is kept, the columns numbered, the label column proposed
    await page.setInputFiles("#file-input", noHeader);
    await page.waitForFunction(() => document.querySelector("#preview h2")?.textContent.startsWith("news_category.csv"));
    assert.match(await page.textContent("#preview h2"), /: 3 records \(TSV\)/);
    assert.match(await page.textContent("#headerless-note"), /No header line: line 1 reads as a record \(“CRIME” in column 2 is also a value of that column on line 3\)/);
    assert.deepEqual(await page.$$eval("#view-open input[name=text-col]", (bs) => bs.map((b) => b.value)), ["column 1", "column 2"]);
    assert.equal(await page.inputValue("#label-col"), "column 2");
    await page.click("nav .tab[data-view=open]");
    await page.setInputFiles("#model-folder", gpt2);
    await page.waitForFunction(() => /Model not changed/.test(document.querySelector("#model-message").textContent));
    const modelMsg = await page.textContent("#model-message");
    console.log(`# ${modelMsg}`);
    assert.match(modelMsg, /gpt2.*not "bert"/);
    assert.match(await page.textContent("#model-now"), /all-MiniLM-L6-v2/);
    assert.ok(await page.isHidden("#model-tuning"), "the default model was not tuned");
    await shot(page, "bad-model");

    // a tuned folder: the page says the encoder itself was trained, on what, and what keeps the
    // check honest, and still does after a reload
    await page.setInputFiles("#model-folder", tuned);
    await page.waitForFunction(() => /Model not changed|is ready/.test(document.querySelector("#model-message").textContent), null, { timeout: 120_000 });
    assert.match(await page.textContent("#model-message"), /^tuned-model \(dropped folder, tuned by simtune\) is ready/);
    const tuning = /This encoder was itself trained: its top 3 layers were tuned on 30 labelled records of 2 classes from sms600\.csv\. Open that file here with the same label column/;
    assert.match(await page.textContent("#model-tuning"), tuning);
    assert.ok(await page.isHidden("#notice"), "the earlier refusal is cleared once a model is ready");
    await waitEmbedded(page);
    await shot(page, "tuned-model");

    // 3 labels: the Train view says what a head from so few may do, and how to find out
    await page.click("nav .tab[data-view=train]");
    assert.match(await page.textContent("#train-info"), /With fewer than 20 labels a head can make search worse than before: .*5 of 36 settings with 10 labels .* set aside check records/);
    await page.click("nav .tab[data-view=label]");
    assert.equal(await labelledCount(page), 3, "labels survived the bad input");
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]");
    assert.equal(await labelledCount(page), 3, "and a reload");
    await page.click("nav .tab[data-view=open]");
    assert.match(await page.textContent("#model-now"), /tuned-model \(dropped folder, tuned by simtune\)/);
    assert.match(await page.textContent("#model-tuning"), tuning);
    await page.click("#model-default");
    await page.waitForFunction(() => /is ready/.test(document.querySelector("#model-message").textContent), null, { timeout: 120_000 });
    assert.ok(await page.isHidden("#model-tuning"), "the default model was not tuned");
    await page.waitForSelector("#embed-text[data-state=done], #embed-text[data-state=cached], #embed-text[data-state=error]", { timeout: 180_000 });
    assert.notEqual(await page.getAttribute("#embed-text", "data-state"), "error", await page.textContent("#embed-text"));
    await page.click("nav .tab[data-view=label]");

    // export, change a label, import: the exported labels come back
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
    const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
    assert.equal(exported.format, "simtune-project");
    assert.deepEqual(exported.labels.map((l) => [l.index, l.label]), [[0, "card"], [1, "card"], [2, "fx"]]);
    const saved = join(TMP, "project.simtune.json");
    writeFileSync(saved, JSON.stringify(exported));
    // then: record 3 gets a label the file lacks, record 0 one that differs from the file's
    await page.focus("#records");
    await page.keyboard.press("2"); // record 0: card -> fx
    for (let j = 0; j < 3; j++) await page.keyboard.press("j");
    await page.keyboard.press("2"); // record 3 -> fx
    assert.equal(await labelledCount(page), 4);
    const labelOf = (i) => page.textContent(`#records .record[data-index="${i}"] .label`);
    assert.equal(await labelOf(0), "fx");
    // import says what changes before anything does; labels merge (record 3 keeps its label)
    const asked = [];
    page.on("dialog", (d) => asked.push(d.message()));
    await page.setInputFiles("#import-file", saved);
    await page.waitForFunction(() => /Imported 3 labels/.test(document.querySelector("#notice-text").textContent));
    const question = asked.find((m) => m.startsWith("Import"));
    console.log(`# ${question.replace(/\n/g, " / ")}`);
    assert.match(question, /3 labels land on records here: 0 new, 2 the same as yours, 1 DIFFERENT from yours/);
    assert.match(question, /Your 1 labels the file does not have are kept/);
    assert.equal(await labelledCount(page), 4);
    assert.equal(await labelOf(0), "card", "the file's label, after the person was told");
    assert.equal(await labelOf(3), "fx", "a label only here is kept");
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]");
    assert.equal(await labelledCount(page), 4, "the import persisted");

    // New project (after confirm) forgets everything, also across a reload
    await page.click("#new-project");
    await page.waitForSelector("#view-open:not([hidden])");
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]");
    assert.equal(await page.isVisible("#view-open"), true);
    await page.click("nav .tab[data-view=label]");
    assert.equal(await labelledCount(page), 0);
  } finally {
    await close();
  }
});

test("a tuning note that cannot be read still says the encoder was trained", async () => {
  const { readTuning, tuningSentence } = await import("../../www/model.js");
  const broken = readTuning("{ not json");
  assert.deepEqual(broken, { layers: null, labels: null, classes: null, data: null });
  assert.match(tuningSentence(broken), /^This encoder was itself trained: it was tuned on labels\. Open the file it was tuned on here with the same label column/);
  // fields of the wrong kind are left out, the rest kept
  const odd = readTuning(JSON.stringify({ tuned_layers: "three", labels: 12, classes: -1, data: "" }));
  assert.deepEqual(odd, { layers: null, labels: 12, classes: null, data: null });
  assert.match(tuningSentence(odd), /it was tuned on 12 labelled records\. Open the file/);
  assert.equal(tuningSentence(undefined), "");
});
