// The page at scale: N short records (Banking77's texts, repeated with a suffix past its
// 10,003) opened in a fresh browser profile, then every step a person takes, timed, with the
// longest frame gap the tab showed during each step and the renderer's memory (the tab and
// its workers) after each and at its peak. Embedding itself is measured by browser.mjs; here
// the CLI embeds the records once (int8, as the page; cached in target/bench/) and the page
// finds them in its cache, as after a reload.
// Usage: node bench/scale.mjs [records=100000]. The last line is machine-readable:
// SCALE records=N peak_mib=.. label_gap_ms=.. session_gap_ms=.. train_ms=.. ...
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { start, ROOT, SHARED, shot } from "../tests/e2e/harness.mjs";
import { parseCsv, toCsv, openPage, loadCsv, waitEmbedded, keyLabel, openSession, seedEmbeddings, labelChecks } from "../tests/e2e/flow.mjs";
import { rendererMiB } from "./memory.mjs";

const N = Number(process.argv[2] ?? 100_000);
const DIR = join(ROOT, "target", "bench");
mkdirSync(DIR, { recursive: true });
const [, ...base] = parseCsv(readFileSync(join(SHARED, "data", "banking77_train.csv"), "utf8")).filter((r) => r.length === 2);
const gold = Array.from({ length: N }, (_, i) => base[i % base.length][1]);
const csv = join(DIR, `scale-${N}.csv`);
const npy = join(DIR, `scale-${N}.npy`);
writeFileSync(csv, toCsv([["text"], ...Array.from({ length: N }, (_, i) => [`${base[i % base.length][0]}${i >= base.length ? ` (${Math.floor(i / base.length)})` : ""}`])]));
if (!existsSync(npy)) {
  console.log(`embedding ${N.toLocaleString("en")} records with the CLI (int8, once; kept in target/bench/)…`);
  execFileSync(join(ROOT, "target/release/simtune"), ["embed", csv, "--text-column", "text", "-o", npy], { stdio: "inherit" });
}

/** The functions where the page's main thread spent most of its own time (SCALE_PROFILE=step
 * name prefix profiles that step). */
function printProfile({ nodes, samples, timeDeltas }) {
  const self = new Map();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  samples.forEach((id, k) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (timeDeltas[k] ?? 0) / 1000);
  });
  for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${ms.toFixed(0).padStart(6)} ms  ${k}`);
}
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`the page with ${N.toLocaleString("en")} short records; load average before ${load()}`);
const rows = [];
let peak = 0;
let stepPeak = 0; // since the current step began
const timer = setInterval(() => {
  const now = rendererMiB();
  peak = Math.max(peak, now);
  stepPeak = Math.max(stepPeak, now);
}, 100);
const { url, context, close } = await start({ mounts: { "/__bench/": DIR } });
try {
  const { page, errors } = await openPage(context, url);
  // the longest gap between two animation frames since the last reset: what a person sees
  // as the tab freezing
  // (an init script: it runs again after the reload step)
  const gapCounter = () => {
    window.__gap = 0;
    let last = performance.now();
    const tick = (now) => {
      window.__gap = Math.max(window.__gap, now - last);
      last = now;
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  };
  await page.addInitScript(gapCounter);
  await page.evaluate(gapCounter);
  /** Runs step `fn`, and records its time, longest frame gap and memory after it. */
  const cdp = process.env.SCALE_PROFILE ? await context.newCDPSession(page) : null;
  const step = async (name, fn) => {
    await page.evaluate(() => (window.__gap = 0));
    stepPeak = rendererMiB();
    const profiling = cdp && name.startsWith(process.env.SCALE_PROFILE);
    if (profiling) await cdp.send("Profiler.enable"), await cdp.send("Profiler.start");
    const t0 = performance.now();
    const note = await fn();
    const ms = performance.now() - t0;
    if (profiling) printProfile((await cdp.send("Profiler.stop")).profile);
    const gap = await page.evaluate(() => window.__gap);
    const mib = rendererMiB();
    // the page thread's wasm memory (wasm-bindgen's init returns the running instance)
    const wasmMiB = await page.evaluate(async () => (await (await import("/pkg/simtune.js")).default()).memory.buffer.byteLength / 2 ** 20);
    rows.push({ name, ms, gap, mib, peak: stepPeak });
    console.log(
      `${name.padEnd(44)} ${(ms / 1000).toFixed(2).padStart(7)} s   longest frame gap ${gap.toFixed(0).padStart(5)} ms   renderer ${mib.toFixed(0)} MiB after, ${Math.max(stepPeak, mib).toFixed(0)} peak (page's wasm ${wasmMiB.toFixed(0)})${note ? `   ${note}` : ""}`,
    );
  };

  await step("open the file, embeddings from the cache", async () => {
    await seedEmbeddings(page, { csv: `/__bench/scale-${N}.csv`, npy: `/__bench/scale-${N}.npy` });
    await loadCsv(page, csv);
    await waitEmbedded(page, "cached");
  });
  // 30 records labelled by keyboard, as the list shows them (its random order)
  await step("label 30 records by keyboard", async () => {
    for (let j = 0; j < 30; j++) {
      const r = Number(await page.getAttribute("#records .record.current", "data-index"));
      await keyLabel(page, gold[r]);
      await page.waitForFunction((r) => document.querySelector("#records .record.current")?.dataset.index !== String(r), r);
    }
  });
  let anchor = -1;
  await step("a similarity session of 25, labelled in bulk", async () => {
    anchor = Number(await page.$eval("#records .record", (e) => e.dataset.index));
    const hits = await openSession(page, anchor, 25);
    const same = hits.filter((r) => gold[r] === gold[anchor]);
    for (const r of same) await page.click(`#session-list .record[data-index="${r}"] input[type=checkbox]`);
    if (same.length) await keyLabel(page, gold[anchor], "session");
    return `${same.length} of 25 share the anchor's label`;
  });
  await page.click("nav .tab[data-view=label]");
  await step("suggested next (over every record)", async () => {
    await page.selectOption("#list-order", "suggested");
    await page.waitForSelector("#records .record .why");
  });
  await step("check: 40 records set aside and labelled", async () => {
    await page.click("nav .tab[data-view=train]");
    await page.fill("#check-count", "40");
    await page.click("#check-draw");
    await labelChecks(page, gold);
  });
  await step("train a head", async () => {
    await page.click("#train");
    await page.waitForSelector("#train-status[data-state=done], #train-status[data-state=error]", { timeout: 600_000 });
    assert.equal(await page.getAttribute("#train-status", "data-state"), "done", await page.textContent("#train-status"));
  });
  await step("check: every question answered", async () => {
    let answered = 0;
    while ((await page.getAttribute("#check-task", "data-kind")) === "question") {
      const [q, r] = await page.$eval("#check-task", (e) => [Number(e.dataset.check), Number(e.dataset.record)]);
      await page.keyboard.press(gold[q] === gold[r] ? "y" : "n");
      answered++;
      await page.waitForFunction(([q, r]) => {
        const t = document.querySelector("#check-task").dataset;
        return t.kind !== "question" || t.check !== String(q) || t.record !== String(r);
      }, [q, r]);
    }
    return `${answered} answered; ${(await page.textContent("#check-figure")).slice(0, 90)}…`;
  });
  await step("compare: one record's neighbours raw vs tuned", async () => {
    await page.click("nav .tab[data-view=compare]");
    await page.fill("#compare-record", String(anchor));
    await page.click("#compare-show");
    await page.waitForFunction(() => document.querySelectorAll("#compare-tuned .record").length > 0);
  });
  // labels made with a head and a check figure in place: every view that shows the figure
  // redraws at each one
  await page.click("nav .tab[data-view=label]");
  await page.selectOption("#list-order", "random");
  await page.focus("#records");
  await step("label 10 more, with a head and a check figure", async () => {
    for (let j = 0; j < 10; j++) {
      const r = Number(await page.getAttribute("#records .record.current", "data-index"));
      await keyLabel(page, gold[r]);
      await page.waitForFunction((r) => document.querySelector("#records .record.current")?.dataset.index !== String(r), r);
    }
  });
  await step("label list: predicted labels (every record)", async () => {
    await page.click("nav .tab[data-view=label]");
    await page.selectOption("#filter", "p0");
    await page.waitForFunction(() => !document.querySelector(".predict-row").hidden && /^\d+ shown/.test(document.querySelector("#label-summary").textContent), null, { timeout: 120_000 });
  });
  await step("map (tuned, with predictions)", async () => {
    await page.click("nav .tab[data-view=map]");
    await page.waitForFunction(() => /projected in/.test(document.querySelector("#map-status").textContent), null, { timeout: 600_000 });
    return `${await page.getAttribute("#map-canvas", "data-points")} points drawn`;
  });
  await shot(page, `scale-${N}`);
  // a reload: the project comes back with its head, the check's answers and its figure (the
  // gap counts from the page's first frame; before the head was prepared in slices, the first
  // view to ask built the tuned index and the check's predictions at once)
  await page.click("nav .tab[data-view=train]");
  const gain = await page.getAttribute("#check-figure", "data-gain");
  await page.waitForSelector("#saved[data-state=saved]");
  await step("reload: the head and the check figure back", async () => {
    // the gap counted from when the embeddings are in (the page's own start, the wasm's
    // compile and reading the file come before; they are the same with or without a head)
    await page.addInitScript(() => {
      new MutationObserver((_, obs) => {
        if (document.querySelector("#embed-text")?.dataset.state === "cached") (window.__gap = 0), obs.disconnect();
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
    });
    await page.reload();
    await page.waitForSelector("body[data-ready=yes]", { timeout: 120_000 });
    await waitEmbedded(page, "cached");
    await page.click("nav .tab[data-view=train]");
    await page.waitForSelector("#check-figure[data-gain]", { timeout: 120_000 }).catch(async (e) => {
      await shot(page, `scale-${N}-reload-failed`);
      const state = await page.evaluate(() => ({
        view: document.querySelector("main > .view:not([hidden])")?.dataset.view,
        status: document.querySelector("#check-status")?.textContent,
        task: document.querySelector("#check-task")?.dataset.kind,
        next: document.querySelector("#next-text")?.textContent,
        figure: document.querySelector("#check-figure")?.textContent,
        embed: document.querySelector("#embed-text")?.textContent,
      }));
      throw new Error(`no check figure after the reload: ${JSON.stringify(state)}`, { cause: e });
    });
    // the answers are kept; the predictions the figure leans on are rebuilt from the labels of
    // now (10 were made after training), so the figure may move a little
    const after = await page.getAttribute("#check-figure", "data-gain");
    assert.ok(Math.abs(Number(after) - Number(gain)) < 0.01, `the figure after the reload: ${after}, before ${gain}`);
    return `figure ${(100 * Number(gain)).toFixed(2)} -> ${(100 * Number(after)).toFixed(2)} points`;
  });
  assert.deepEqual(errors, []);
} finally {
  clearInterval(timer);
  await close();
}
const by = (name) => rows.find((r) => r.name.startsWith(name));
const labelGap = Math.max(by("label 30").gap, by("label 10").gap);
const f = (x) => x.toFixed(0);
console.log(`peak renderer memory ${f(peak)} MiB (goal < 1,536 at 100,000); longest frame gap while labelling ${f(labelGap)} ms (goal < 200)`);
console.log(
  `SCALE records=${N} peak_mib=${f(peak)} label_gap_ms=${f(labelGap)} session_gap_ms=${f(by("a similarity").gap)} check_gap_ms=${f(Math.max(by("check: 40").gap, by("check: every").gap))} ` +
    `suggest_ms=${f(by("suggested").ms)} train_ms=${f(by("train").ms)} train_gap_ms=${f(by("train").gap)} compare_ms=${f(by("compare").ms)} predict_ms=${f(by("label list").ms)} map_ms=${f(by("map").ms)} ` +
    `reload_ms=${f(by("reload").ms)} reload_gap_ms=${f(by("reload").gap)}`,
);
