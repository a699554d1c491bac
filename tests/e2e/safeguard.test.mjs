// Issue 20 in the page: a newcomer labels 30 tweets by keyboard, labels one duplicated tweet
// two ways, turns on "check on your own labels first" and trains. The status says what the
// safeguard chose, in a sentence, and how many records were left out for conflicting; the
// setting survives a reload.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, SHARED, shot as shotAs } from "./harness.mjs";
import { parseCsv, toCsv, openPage, loadCsv, waitEmbedded, keyLabel, labelledCount } from "./flow.mjs";

const shot = (page, name) => shotAs(page, `safeguard-${name}`);
const TMP = mkdtempSync(join(tmpdir(), "simtune-safeguard-"));

/** The first 200 TweetEval offensive tweets, label column empty, the first one twice at the end. */
function tweets() {
  const [, ...rows] = parseCsv(readFileSync(join(SHARED, "data", "tweeteval_offensive_test.csv"), "utf8"));
  const records = rows.slice(0, 200).map(([text, label]) => ({ text, label }));
  records.push({ ...records[0] });
  const path = join(TMP, "tweets.csv");
  writeFileSync(path, toCsv([["text", "label"], ...records.map((r) => [r.text, ""])]));
  return { path, records };
}

test("the safeguard says what it chose; conflicting labels are left out and said to be", { timeout: 600_000 }, async () => {
  const { path, records } = tweets();
  const { url, context, close } = await start();
  try {
    const { page, errors } = await openPage(context, url);
    await loadCsv(page, path);
    await waitEmbedded(page);
    // 30 labels by keyboard, from the gold column (the list's fair random order)
    await page.focus("#records");
    for (let step = 0; step < 30; step++) {
      const i = Number(await page.getAttribute("#records .record.current", "data-index"));
      await keyLabel(page, records[i].label);
    }
    // the duplicated tweet: both copies, each with another label
    const dup = [0, records.length - 1];
    await page.fill("#search", records[0].text.slice(0, 40));
    await page.waitForFunction(() => /^2 shown/.test(document.querySelector("#label-summary").textContent));
    for (const [n, i] of dup.entries()) {
      await page.click(`#records .record[data-index="${i}"]`);
      await keyLabel(page, n === 0 ? "offensive" : "not-offensive");
    }
    const labelled = await labelledCount(page);
    assert.ok(labelled >= 31, `${labelled} labelled`);

    await page.click("nav .tab[data-view=train]");
    assert.equal(await page.isChecked("#cfg-safeguard"), false, "off by default");
    await page.check("#cfg-safeguard");
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 180_000 });
    const status = await page.textContent("#train-status");
    console.log(`# ${status}`);
    assert.equal(await page.getAttribute("#train-status", "data-state"), "done", status);
    assert.match(status, /(Your labels support the move|Kept the raw space|Kept the head as trained|Trained without the prototype pull): on \d+ of your labelled records, each held out in one of \d parts/);
    assert.match(status, /2 labelled records were left out: the same text carries different labels/);
    // no step ran where the raw space was kept: no empty loss chart either
    const steps = Number(await page.getAttribute("#train-status", "data-steps"));
    assert.equal(steps === 0, /^Kept the raw space/.test(status));
    assert.equal(await page.isHidden("#loss-canvas"), steps === 0);
    await shot(page, "trained");

    // the choice is a setting: it survives a reload
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]", { timeout: 60_000 });
    await page.click("nav .tab[data-view=train]");
    assert.equal(await page.isChecked("#cfg-safeguard"), true);
    assert.deepEqual(errors, []);
  } finally {
    await close();
    rmSync(TMP, { recursive: true, force: true });
  }
});
