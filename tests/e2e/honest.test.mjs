// The page's "how much better" must tell the truth (issue 8). On gold-labelled shared data
// (Banking77 test, the AG News sample) a person's labeling is replayed in the page, twice
// per dataset: (1) keyboard labels from the Label list, then similarity sessions of the page's
// default size (25) with the matching neighbours bulk-labelled; (2) round-robin labels over the
// classes, brought in by Import. Each time the person sets aside check records, labels them, trains, and answers
// the check's questions — every answer from the gold labels. The truth is the change in the
// same-label share of the top 10 (whole dataset) of every record the person did not label,
// computed here from the gold labels with the page's own raw and tuned embeddings. The page
// claims "gain X, 95% interval [a, b]": the truth must lie in [a, b] — in at least 3 of the 4
// replays, as a 95% interval misses 1 time in 20. Within 0.03 is out of reach of 40 check
// records (docs/check.md); the page says how many would narrow its interval to
// ±3 points, and each replay then adds them as advised: the figure must then be within 0.03
// of the truth (the last test). And the truth itself must not be below raw (issue 20).
//
// The embeddings are the native CLI's (`simtune embed`, cached; the parity test shows the
// browser's agree to 3e-7), put in the page's cache so the tab does not spend minutes
// re-embedding 5,000 records: this test is about the figure, not the encoder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, ROOT, SHARED, shot } from "./harness.mjs";
import { parseCsv, openPage, loadCsv, waitEmbedded, keyLabel, labelledCount, openSession, seedEmbeddings, labelChecks, answerChecks } from "./flow.mjs";

const TMP = mkdtempSync(join(tmpdir(), "simtune-honest-"));
const BIN = join(ROOT, "target", "debug", "simtune");
const CHECKS = 40;

function dataset(file) {
  const path = join(SHARED, "data", file);
  const [header, ...rows] = parseCsv(readFileSync(path, "utf8"));
  assert.deepEqual(header, ["text", "label"]);
  const npy = join(TMP, file.replace(/\.csv$/, ".npy"));
  assert.ok(existsSync(BIN), `${BIN} is missing: scripts/test.sh runs cargo test (which builds it) first`);
  execFileSync(BIN, ["embed", path, "--text-column", "text", "-o", npy], { stdio: ["ignore", "ignore", "inherit"] });
  return { file, path, gold: rows.map((r) => r[1]), texts: rows.map((r) => r[0]) };
}

/** Puts the CLI's embeddings in the page's cache under the key the page will look for. */
/** The CLI's embeddings of a shared file, into the page's cache. */
const seedCache = (page, file) => seedEmbeddings(page, { csv: `/__shared/data/${file}`, npy: `/__tmp/${file.replace(/\.csv$/, ".npy")}` });

/** Replay 1: `keys` records labelled from the top of the Label list, then `sessions`
 * similarity sessions as the page opens them (25 neighbours) on records of different labels,
 * matching neighbours bulk-labelled and the other unlabelled ones marked "not this label". */
async function replaySessions(page, ds, { keys = 30, sessions = 3 } = {}) {
  await page.click("nav .tab[data-view=label]");
  await page.focus("#records");
  const keyed = [];
  for (let s = 0; s < keys; s++) {
    const i = Number(await page.getAttribute("#records .record.current", "data-index"));
    keyed.push(i);
    await keyLabel(page, ds.gold[i]);
  }
  const anchors = [];
  for (const i of keyed) if (anchors.length < sessions && !anchors.some((a) => ds.gold[a] === ds.gold[i])) anchors.push(i);
  let marks = 0;
  for (const a of anchors) {
    const shown = await openSession(page, a);
    assert.equal(shown.length, 25, "the page's sessions show 25 neighbours (www/state.js)");
    const want = shown.map((i) => ds.gold[i] === ds.gold[a]);
    const many = want.filter(Boolean).length > shown.length / 2;
    if (many) await page.click("#select-all");
    // toggling through the page's own click handler, without a round trip per row
    await page.$$eval(
      "#session-list .record input[type=checkbox]",
      (boxes, flip) => boxes.forEach((b, pos) => flip[pos] && b.click()),
      want.map((w) => w !== many),
    );
    assert.equal(await page.textContent("#session-selected"), `${want.filter(Boolean).length} selected`);
    await page.focus("#session-list");
    await keyLabel(page, ds.gold[a], "session");
    // the rest, still unlabelled, marked "not the anchor's label" (r): the marks answer the
    // check's questions about them, and training reads them as negatives of that label
    const rest = await page.$$eval("#session-list .record", (rows) => rows.map((r) => r.querySelector(".label").classList.contains("none")));
    await page.$$eval("#session-list .record input[type=checkbox]", (boxes, pick) => boxes.forEach((b, pos) => pick[pos] && b.click()), rest);
    await page.focus("#session-list");
    await page.keyboard.press("r");
    const marked = rest.filter(Boolean).length;
    marks += marked;
    await page.waitForFunction((n) => document.querySelector("#session-share").dataset.not === String(n), marked);
    assert.match(await page.textContent("#session-share"), new RegExp(`${marked} marked not`));
    await page.click("nav .tab[data-view=label]");
  }
  return { labels: await labelledCount(page), marks };
}

/** Replay 2: round-robin labels over the gold classes (seeded), brought in with Import. */
async function replayRoundRobin(page, ds, n, seed) {
  // a fresh project (import merges labels into the open one): New project, the dataset again
  await page.click("#new-project");
  await page.waitForSelector("#view-open:not([hidden])");
  await seedCache(page, ds.file);
  await loadCsv(page, ds.path, { label: "" });
  await waitEmbedded(page, "cached");
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const shuffle = (a) => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  };
  const byClass = new Map();
  ds.gold.forEach((c, i) => byClass.set(c, [...(byClass.get(c) ?? []), i]));
  const groups = shuffle([...byClass.values()].map((g) => shuffle([...g])));
  const picked = [];
  for (let round = 0; picked.length < n; round++) for (const g of groups) if (round < g.length && picked.length < n) picked.push(g[round]);
  const doc = {
    format: "simtune-project",
    version: 1,
    labels: picked.map((i) => ({ index: i, text: ds.texts[i], label: ds.gold[i] })),
  };
  const path = join(TMP, `round-robin-${ds.file}.json`);
  writeFileSync(path, JSON.stringify(doc));
  await page.setInputFiles("#import-file", path);
  await page.waitForFunction((n) => new RegExp(`Imported ${n} labels`).test(document.querySelector("#notice-text").textContent), n);
  await page.click("nav .tab[data-view=label]");
  return { labels: await labelledCount(page), marks: 0 };
}

/** Follows the page's advice "about N check records would narrow it to ±3 points": adds the
 * check records it proposes (the answers so far kept), labels them and answers their
 * questions, until the page no longer asks for more (at most 8 rounds: its projection moves as the
 * spread of more check records comes in). */
async function narrow(page, ds) {
  let answered = 0;
  for (let round = 0; round < 8 && /would narrow it to ±3 points/.test(await page.textContent("#check-figure")); round++) {
    const before = Number(await page.getAttribute("#check-figure", "data-checks"));
    const adding = Number(await page.inputValue("#check-count"));
    const proposed = Number((await page.textContent("#check-figure")).match(/About ([\d,]+) check records would narrow/)[1].replace(/,/g, ""));
    // the page proposes as many more as its advice names (at most 500 at a time)
    assert.equal(adding, Math.max(5, Math.min(500, proposed - before)), "the count field holds the advice");
    await page.click("#check-add");
    await page.waitForFunction((n) => Number(document.querySelector("#check-status").textContent.match(/(\d+) check records set aside/)[1]) > n, before);
    // meanwhile the figure on the check records answered before still shows
    assert.match(await page.textContent("#check-last"), new RegExp(`the figure on the first ${before} check records stands: [+−]\\d`));
    await labelChecks(page, ds.gold);
    answered += await answerChecks(page, ds.gold);
  }
  const f = await page.$eval("#check-figure", (e) => ({ ...e.dataset, text: e.textContent }));
  // narrow enough: the field proposes no more than a fresh set's size
  if (Number(f.checks) > CHECKS) assert.equal(await page.inputValue("#check-count"), String(CHECKS));
  return { gain: Number(f.gain), low: Number(f.low), high: Number(f.high), checks: Number(f.checks), weight: Number(f.weight), text: f.text, answered };
}

/** Check records set aside and labelled, a head trained, every question answered. */
async function checkAndTrain(page, ds) {
  await page.click("nav .tab[data-view=train]");
  await page.fill("#check-count", String(CHECKS));
  await page.click("#check-draw");
  await labelChecks(page, ds.gold);
  await page.click("#train");
  await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 180_000 });
  assert.equal(await page.getAttribute("#train-status", "data-state"), "done", await page.textContent("#train-status"));
  const status = await page.textContent("#train-status");
  const answered = await answerChecks(page, ds.gold);
  const f = await page.$eval("#check-figure", (e) => ({ ...e.dataset, text: e.textContent }));
  // "Next" asks to share only a figure that shows a gain; else it says what tends to help
  const next = await page.textContent("#next-text");
  const expected = Number(f.high) < 0 ? /worse than raw search/ : Number(f.low) <= 0 ? /cannot tell tuned search from raw yet/ : /The check's figure is in/;
  assert.match(next, expected, `${f.low} .. ${f.high}`);
  // the experiment log keeps the figure on the run whose head it measured
  const logged = await page.textContent("#experiment-log li:first-child .log-figure");
  const pts = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(1)} points`;
  assert.ok(logged.includes(`top 10 on records you have not labelled ${pts(Number(f.gain))}`), `${logged} / ${f.gain}`);
  // the results card and the exported project carry this figure and no other
  await page.click("nav .tab[data-view=compare]");
  await page.click("#card-make");
  await page.waitForSelector("#card-canvas:not([hidden])", { timeout: 60_000 });
  const card = await page.$eval("#card-canvas", (e) => ({ ...e.dataset }));
  assert.deepEqual([card.gain, card.low, card.high, card.checks], [f.gain, f.low, f.high, f.checks]);
  const md = await page.inputValue("#card-md");
  assert.ok(md.includes(`on records nobody labelled: ${pts(Number(f.gain))}`), md);
  const [d] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  const { metrics } = JSON.parse(readFileSync(await d.path(), "utf8"));
  assert.deepEqual(metrics, { k: 10, gain: Number(f.gain), low: Number(f.low), high: Number(f.high), checks: Number(f.checks) });
  await page.click("nav .tab[data-view=train]");
  const perLabel = await page.$$eval("#check-classes tr[data-label]", (rows) =>
    rows.map((r) => ({ label: r.dataset.label, gain: Number(r.dataset.gain), low: Number(r.dataset.low), high: Number(r.dataset.high), checks: Number(r.dataset.checks) })),
  );
  return { gain: Number(f.gain), low: Number(f.low), high: Number(f.high), checks: Number(f.checks), weight: Number(f.weight), text: f.text, answered, perLabel, status };
}

/** The truth: gold same-label share of the top 10 of every record the person did not label
 * (training labels and check records excluded), raw and tuned, from what the page saved. */
async function truth(page, ds) {
  await page.waitForSelector("#saved[data-state=saved]");
  return page.evaluate(
    async ({ gold, file }) => {
      const engine = await import("/pkg/simtune.js");
      const { savedEmbeddings } = await import("/tests/e2e/cache.js");
      const { saved, emb } = await savedEmbeddings();
      const raw = new engine.SearchIndex(emb.data, emb.dim);
      const tuned = raw.withHead(saved.head);
      const held = new Set(saved.check.records);
      const k = 10;
      let r = 0;
      let t = 0;
      let n = 0;
      const perLabel = {}; // gold label -> [sum of gains, records]
      for (let i = 0; i < gold.length; i++) {
        if (saved.labels[i] >= 0 || held.has(i)) continue;
        const share = (idx) => idx.neighbours(i, k).indices.filter((j) => gold[j] === gold[i]).length / k;
        const [sr, st] = [share(raw), share(tuned)];
        r += sr;
        t += st;
        n++;
        const c = (perLabel[gold[i]] ??= [0, 0]);
        c[0] += st - sr;
        c[1]++;
      }
      const gainOf = Object.fromEntries(Object.entries(perLabel).map(([l, [g, m]]) => [l, g / m]));
      // the same gold truth on the check records alone, per label (what the page estimates
      // from: tells sampling luck from a biased estimator when the two disagree)
      const onChecks = {};
      for (const i of held) {
        const share = (idx) => idx.neighbours(i, k).indices.filter((j) => gold[j] === gold[i]).length / k;
        (onChecks[gold[i]] ??= []).push(+(share(tuned) - share(raw)).toFixed(2));
      }
      const all = Object.values(onChecks).flat();
      const onChecksMean = all.reduce((a, b) => a + b, 0) / Math.max(1, all.length);
      return { raw: r / n, tuned: t / n, gain: (t - r) / n, records: n, gainOf, onChecks, onChecksMean, file };
    },
    { gold: ds.gold, file: ds.file },
  );
}

/** Every replay's figure and truth, for the last test: on 40 check records, and after adding
 * as many as the page advises for ±3 points. */
const outcomes = [];
const narrowed = [];

for (const [file, roundRobin] of [
  ["banking77_test.csv", 200],
  ["agnews_test_sample2000.csv", 100],
]) {
  test(`the page's gain matches the truth on unlabelled records: ${file}`, { timeout: 900_000 }, async () => {
    const ds = dataset(file);
    const { url, context, close } = await start({ mounts: { "/__tmp/": TMP } });
    try {
      const { page, errors } = await openPage(context, url);
      await seedCache(page, file);
      await loadCsv(page, ds.path, { label: "" });
      await waitEmbedded(page, "cached");
      const replays = [
        ["sessions", () => replaySessions(page, ds)],
        [`round robin ${roundRobin}`, () => replayRoundRobin(page, ds, roundRobin, 11)],
      ];
      for (const [name, replay] of replays) {
        const { labels, marks } = await replay();
        const est = await checkAndTrain(page, ds);
        // the sessions' "not this label" marks are trained on as negatives (those on records
        // later drawn for the check excepted), and the status says how many
        const read = est.status.match(/Reading (\d+) “not this label” marks? as negatives/);
        if (marks) assert.ok(read && Number(read[1]) > 0 && Number(read[1]) <= marks, `${marks} marks: ${est.status}`);
        else assert.equal(read, null, est.status);
        // the labels of each session reach the trainer with their session, and the pull holds
        // them against their labels' records from outside the session (src/tune/
        // prototype_pull.rs SessionSums); labels brought in by Import carry no session
        const counted = est.status.match(/it held the (\d+) labels of your (\d+) similarity sessions? against their labels' records from outside each session/);
        if (name === "sessions" && /prototype pull over/.test(est.status)) {
          assert.ok(counted, est.status);
          const [sessionLabels, sessions] = counted.slice(1).map(Number);
          // each session's label has a keyed record (its anchor) outside the session
          assert.equal(sessions, 3, est.status);
          assert.ok(sessionLabels > 3 && sessionLabels <= labels, est.status);
        } else if (name !== "sessions") assert.equal(counted, null, est.status);
        // where one label holds at least 3x the median label's records (a session's bulk
        // labels can do that), the status names it and says how training counts its pairs;
        // elsewhere it says nothing of it
        await page.click("nav .tab[data-view=label]");
        const counts = await page.$$eval("#view-label .chip[data-label]", (chips) =>
          chips.map((c) => [c.dataset.label, Number(c.querySelector(".count").textContent)]).filter(([, n]) => n > 0),
        );
        const sorted = counts.map(([, n]) => n).sort((a, b) => a - b);
        const top = counts.find(([, n]) => n === sorted.at(-1));
        const big = est.status.match(/“([^”]+)” holds (\d+) of (\d+) labels: training counts its (\d+) × (\d+) pairs of records as ([\d.]+), the square root, so it outweighs the others less/);
        console.log(`#   ${name}: labels per label ${JSON.stringify(sorted)}; the status ${big ? "names" : "does not name"} one`);
        if (sorted.at(-1) >= 3 * sorted[Math.floor((sorted.length - 1) / 2)]) {
          assert.ok(big, est.status);
          // (labels tied for the most records: the status names one of them)
          const tied = counts.filter(([, n]) => n === top[1]).map(([l]) => l);
          assert.ok(tied.includes(big[1]), `${big[1]} is not among ${tied}: ${est.status}`);
          assert.deepEqual([Number(big[2]), Number(big[3])], [top[1], labels], est.status);
          // (the page trains semi-hard triplets up to 512 labels: a label's pairs are weighed)
          assert.deepEqual([Number(big[4]), Number(big[5]), big[6]], [top[1], top[1] - 1, Math.sqrt(top[1] * (top[1] - 1)).toFixed(1)], est.status);
        } else assert.equal(big, null, est.status);
        if (name === "sessions" && file.startsWith("banking77")) assert.ok(big, "Banking77's sessions give their three labels 5-30 records each, the rest 1");
        await page.click("nav .tab[data-view=train]");
        const truthNow = await truth(page, ds);
        await shot(page, `honest-${file.replace(/\.csv$/, "")}-${name.replace(/ /g, "-")}`);
        console.log(
          `# ${file}, ${name}: ${labels} labels; truth on ${truthNow.records} unlabelled records ` +
            `${truthNow.raw.toFixed(4)} -> ${truthNow.tuned.toFixed(4)} (gain ${truthNow.gain.toFixed(4)}); ` +
            `page ${est.gain.toFixed(4)} [${est.low.toFixed(4)}, ${est.high.toFixed(4)}] on ${est.checks} checks, ${est.answered} answers, predictions' weight ${est.weight.toFixed(2)}`,
        );
        console.log(`#   page says: ${est.text}`);
        console.log(`#   the gold gain of the ${CHECKS} check records themselves (every neighbour judged): ${truthNow.onChecksMean.toFixed(4)}`);
        assert.equal(est.checks, CHECKS, "every check record counts once answered");
        // per label: the rows account for every check record, and where a label has 5 or more
        // check records its interval holds that label's truth too
        assert.equal(est.perLabel.reduce((a, c) => a + c.checks, 0), CHECKS);
        for (const c of est.perLabel.filter((c) => c.checks >= 5)) {
          const truth = truthNow.gainOf[c.label];
          console.log(`#   ${c.label}: page ${c.gain.toFixed(4)} [${c.low.toFixed(4)}, ${c.high.toFixed(4)}] on ${c.checks} checks; truth ${truth.toFixed(4)}; gold gains of its check records ${JSON.stringify(truthNow.onChecks[c.label])}`);
          assert.ok(c.low <= truth && truth <= c.high, `${name}, ${c.label}: the true gain ${truth} is outside the page's [${c.low}, ${c.high}]`);
        }
        assert.ok(est.high > est.low, `an interval, not a point: [${est.low}, ${est.high}]`);
        // issue 20: a person's labels never leave search below raw (beyond 0.002 of noise) on
        // the records nobody labelled
        assert.ok(truthNow.gain >= -0.002, `${name}: tuned search is below raw on unlabelled records (${truthNow.gain.toFixed(4)})`);
        // issue 20's replay goal: 30 keyed records and 3 sessions on the AG News sample gain
        // at least 2 points on the records nobody labelled. This replay is one seeded draw
        // (+2.39 since sessions spread over the anchor's nearest 100, stop 39; +1.6-1.7 with
        // the nearest 25); natively over 5 draws the flow gains +2.67 at 60 labels, the
        // lowest draw +1.12 (docs/tuning.md, stop 39), so a person's own draw can fall short.
        if (name === "sessions" && file.startsWith("agnews")) assert.ok(truthNow.gain >= 0.02, `the AG News replay gains ${truthNow.gain.toFixed(4)}, under 2 points`);
        outcomes.push({ replay: `${file}, ${name}`, truth: truthNow.gain, ...est, inside: est.low <= truthNow.gain && truthNow.gain <= est.high });

        // then as the page advises: more check records until it is ±3 points
        const t0 = Date.now();
        const more = await narrow(page, ds);
        const truthMore = await truth(page, ds);
        console.log(
          `#   narrowed as the page advises: page ${more.gain.toFixed(4)} [${more.low.toFixed(4)}, ${more.high.toFixed(4)}] on ${more.checks} checks ` +
            `(${more.answered} more answers, ${((Date.now() - t0) / 1000).toFixed(0)} s); truth on ${truthMore.records} records ${truthMore.gain.toFixed(4)}; ` +
            `the checks' own gold gain ${truthMore.onChecksMean.toFixed(4)}`,
        );
        assert.ok(!/would narrow it/.test(more.text), `the page still asks for more after 8 rounds: ${more.text}`);
        narrowed.push({ replay: `${file}, ${name}`, truth: truthMore.gain, ...more, inside: more.low <= truthMore.gain && truthMore.gain <= more.high });
      }
      // a reload brings the head and the same figure back (at this size the head is prepared
      // between frames first: app.js warmHead)
      await page.click("nav .tab[data-view=train]");
      const shown = await page.$eval("#check-figure", (e) => ({ ...e.dataset }));
      await page.waitForSelector("#saved[data-state=saved]");
      await page.reload();
      await page.waitForSelector("body[data-ready=yes]", { timeout: 60_000 });
      await waitEmbedded(page, "cached");
      await page.click("nav .tab[data-view=train]");
      await page.waitForSelector("#check-figure[data-gain]", { timeout: 60_000 });
      assert.deepEqual(await page.$eval("#check-figure", (e) => ({ ...e.dataset })), shown, "the same figure after a reload");
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });
}

// A 95% interval misses the truth 1 time in 20 by design, so one replay cannot test it: a
// calibrated interval misses 2 or more of these 4 with probability 1.4%. (Its calibration
// over 24 replays is tested natively: tests/check_calibration.rs.)
test("the page's 95% interval holds the truth in the replays", () => {
  assert.equal(outcomes.length, 4, "all four replays ran");
  const missed = outcomes.filter((o) => !o.inside);
  for (const o of missed) console.log(`# missed: ${o.replay}: truth ${o.truth.toFixed(4)} outside [${o.low.toFixed(4)}, ${o.high.toFixed(4)}]`);
  assert.ok(missed.length <= 1, `the truth fell outside the page's interval in ${missed.length} of 4 replays: ${missed.map((o) => o.replay).join("; ")}`);
});

// Issue 8's goal: the page's figure within 0.03 of the true gain in every replay. 40 check
// records cannot promise that (docs/check.md); the page says how many would, and with those added
// the figure must be within 0.03 of the truth, and its interval hold it.
test("with the check records the page advises, its gain is within 0.03 of the truth", () => {
  assert.equal(narrowed.length, 4, "all four replays ran");
  for (const o of narrowed) console.log(`# ${o.replay}: page ${o.gain.toFixed(4)} [${o.low.toFixed(4)}, ${o.high.toFixed(4)}] on ${o.checks} checks; truth ${o.truth.toFixed(4)}; off by ${Math.abs(o.gain - o.truth).toFixed(4)}`);
  for (const o of narrowed) {
    assert.ok(o.high - o.low <= 0.061, `${o.replay}: the interval is ±3 points once the advice is followed, not [${o.low}, ${o.high}]`);
    assert.ok(Math.abs(o.gain - o.truth) <= 0.03, `${o.replay}: the page's ${o.gain} is more than 0.03 from the true gain ${o.truth}`);
  }
  assert.ok(narrowed.filter((o) => !o.inside).length <= 1, "the interval holds the truth in at least 3 of 4 replays");
});
