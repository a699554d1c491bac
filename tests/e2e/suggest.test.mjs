// "Suggested next" (src/label/suggest.rs in the page): the Label list offers 10 records with why
// each is worth labelling; once all are labelled the next 10 come by themselves, new ones;
// labels with a single record are named in the Train view. Replayed with gold labels on 8
// classes of Banking77.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, SHARED, shot } from "./harness.mjs";
import { parseCsv, toCsv, openPage, loadCsv, waitEmbedded, keyLabel, labelledCount } from "./flow.mjs";

const TMP = mkdtempSync(join(tmpdir(), "simtune-suggest-"));

test("suggested next: reasons, new records each round, and labels that get their pair", { timeout: 300_000 }, async () => {
  const [, ...rows] = parseCsv(readFileSync(join(SHARED, "data", "banking77_test.csv"), "utf8"));
  const byClass = new Map();
  for (const [t, l] of rows) (byClass.get(l) ?? byClass.set(l, []).get(l)).push(t);
  const records = [...byClass.entries()].slice(40, 48).flatMap(([l, ts]) => ts.slice(0, 20).map((t) => [t, l]));
  const path = join(TMP, "requests.csv");
  writeFileSync(path, toCsv([["text"], ...records.map(([t]) => [t])]));
  const gold = records.map((r) => r[1]);
  const { url, context, close } = await start();
  try {
    const { page, errors } = await openPage(context, url);
    await loadCsv(page, path, { label: "" });
    await waitEmbedded(page);
    await page.selectOption("#list-order", "suggested");
    const seen = new Set();
    for (let round = 0; round < 4; round++) {
      // the suggestions are computed between frames: the list says "Finding…" until they are in
      await page.waitForFunction(() => /^\d+ shown/.test(document.querySelector("#label-summary").textContent));
      const shown = await page.$$eval("#records .record", (els) => els.map((e) => [Number(e.dataset.index), e.querySelector(".why")?.textContent ?? ""]));
      assert.equal(shown.length, 10, `round ${round}: 10 suggestions`);
      for (const [i, why] of shown) {
        assert.ok(!seen.has(i), `record ${i} suggested twice`);
        assert.ok(why.length > 10, `a reason for ${i}`);
        seen.add(i);
      }
      if (round === 0) assert.match(shown[0][1], /a typical record to start with/);
      if (round > 0) {
        // each names what the labels so far would guess: its nearest labels, labels that exist
        const names = await page.$$eval("#view-label .chip[data-label]", (els) => els.map((e) => e.dataset.label));
        for (const [, why] of shown) {
          const m = why.match(/^a region no label covers — (?:nearest label “(.+)”|nearest labels disagree: (.+)) \(similarity -?[\d.]+\)$/);
          assert.ok(m, why);
          const named = m[1] ? [m[1]] : [...m[2].matchAll(/“([^”]+)”/g)].map((x) => x[1]);
          assert.ok(named.every((n) => names.includes(n)), `${why} names labels that exist (${names})`);
          const sim = Number(why.match(/similarity (-?[\d.]+)\)$/)[1]);
          assert.ok(sim >= -1 && sim <= 1, why);
        }
      }
      await page.click(`#records .record[data-index="${shown[0][0]}"]`);
      await page.focus("#records");
      for (const [i] of shown) await keyLabel(page, gold[i]);
      if (round === 1) await shot(page, "suggested");
      // the last suggestion labelled, the next ten are there without a click (keys pressed on
      // would otherwise relabel that last record)
      await page.waitForFunction((old) => !old.includes(Number(document.querySelector("#records .record")?.dataset.index)), shown.map(([i]) => i));
      assert.equal(Number(await page.getAttribute("#records .record.current", "data-index")), Number(await page.getAttribute("#records .record", "data-index")), "the cursor on the first new suggestion");
      if (round === 3) {
        // asked again with the same labels: the same suggestions
        const before = await page.$$eval("#records .record", (els) => els.map((e) => e.dataset.index));
        await page.click("#suggest-again");
        assert.deepEqual(await page.$$eval("#records .record", (els) => els.map((e) => e.dataset.index)), before);
      }
    }
    assert.equal(await labelledCount(page), 40);
    // a search in "suggested next" reads every record: the suggestions it matches first, then
    // its other matches (a word the 10 suggestions lack listed nothing before); at most 40,
    // one page of the list
    const suggestedNow = await page.$$eval("#records .record", (els) => els.map((e) => Number(e.dataset.index)));
    const words = [...new Set(records.flatMap(([t]) => t.toLowerCase().match(/[a-z]{5,}/g) ?? []))].sort();
    const matching = (w) => records.map(([t], i) => (t.toLowerCase().includes(w) ? i : -1)).filter((i) => i >= 0);
    const word = words.find((w) => matching(w).length >= 5 && matching(w).length <= 40 && matching(w).some((i) => !suggestedNow.includes(i)));
    const want = matching(word);
    await page.fill("#search", word);
    await page.waitForFunction((n) => document.querySelector("#label-summary").textContent.startsWith(`${n} shown`), want.length);
    const listed = await page.$$eval("#records .record", (els) => els.map((e) => Number(e.dataset.index)));
    const firstOnes = suggestedNow.filter((i) => want.includes(i));
    assert.deepEqual(listed.slice(0, firstOnes.length), firstOnes, "the suggestions that match come first");
    assert.deepEqual([...listed].sort((a, b) => a - b), want, `every record containing “${word}”`);
    await page.fill("#search", "");
    await page.waitForFunction(() => document.querySelector("#label-summary").textContent.startsWith("10 shown"));
    // how the 40 suggested labels spread: classes covered, and classes with a pair
    const per = new Map();
    for (const i of seen) per.set(gold[i], (per.get(gold[i]) ?? 0) + 1);
    const pairs = [...per.values()].filter((n) => n >= 2).length;
    console.log(`# 40 suggested labels: ${per.size} of 8 classes covered, ${pairs} with 2+ records (${[...per.values()].join(", ")})`);
    assert.ok(per.size >= 6 && pairs >= 5, `suggestions cover the classes and give them pairs (${per.size} covered, ${pairs} with a pair)`);
    // a label with a single record is named in the Train view
    await page.click("nav .tab[data-view=label]");
    await page.selectOption("#list-order", "file");
    const onPage = await page.$$eval("#records .record", (els) => els.map((e) => Number(e.dataset.index)));
    const lone = onPage.find((i) => !seen.has(i));
    await page.click(`#records .record[data-index="${lone}"]`);
    await page.focus("#records");
    await keyLabel(page, "a label of its own");
    await page.click("nav .tab[data-view=train]");
    assert.match(await page.textContent("#view-train"), /a single record \(“a label of its own”\): the head learns nothing from it/);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
