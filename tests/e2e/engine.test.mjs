// The wasm engine in the browser, both of its builds (www/engine.js): parity with
// sentence-transformers (the same 1e-4 tolerance as natively), identical token ids, int8
// within cosine 0.99, and a tiny head that trains and searches in a worker; the relaxed-SIMD
// build within f32 rounding of the simd128 one; the page picking the build this browser
// validates, and falling back to simd128 when the relaxed one cannot be had.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { execFileSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { start, SHARED, ROOT } from "./harness.mjs";
import { openPage, loadCsv, waitEmbedded, parseCsv, toCsv } from "./flow.mjs";

const ref = (name) => JSON.parse(readFileSync(join(SHARED, "reference", name), "utf8"));

/** The smoke worker's answer with the engine `build`, checked against the reference. */
async function smoke(context, url, build) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url + `tests/e2e/smoke.html?build=${build}`);
  const r = await page.evaluate(() => window.smokeResult);
  await page.close();
  assert.equal(r.error, undefined, `${build}: worker failed: ${r.error}`);
  assert.deepEqual(errors, []);
  assert.equal(r.build, build, "the build asked for is the build that ran");
  const tokens = ref("minilm_token_ids.json");
  for (const t of tokens) assert.deepEqual(r.ids[t.index], t.input_ids, `token ids of sentence ${t.index}`);

  const expected = ref("minilm_embeddings.json");
  assert.equal(r.dim, 384);
  assert.equal(r.emb.length, 32 * 384);
  let worst = 0;
  let worstAt = -1;
  expected.forEach((row, i) =>
    row.forEach((v, j) => {
      const d = Math.abs(r.emb[i * 384 + j] - v);
      if (d > worst) [worst, worstAt] = [d, i];
    }),
  );
  assert.ok(worst <= 1e-4, `sentence ${worstAt} differs by ${worst} (> 1e-4)`);
  assert.deepEqual(r.progress.at(-1), [32, 32]);
  console.log(`# browser (${build}): 32 reference sentences embedded in ${r.embedMs.toFixed(0)} ms, max |diff| ${worst.toExponential(2)}`);

  // int8 (wasm simd128 kernel): each sentence within cosine 0.99 of the reference, 0.995 on
  // average (onnxruntime's int8 export of this model: min 0.988, mean 0.991)
  assert.equal(r.int8Info.precision, "int8");
  const cos = expected.map((row, i) => row.reduce((s, v, j) => s + v * r.emb8[i * 384 + j], 0));
  const min = Math.min(...cos);
  const mean = cos.reduce((a, b) => a + b) / cos.length;
  console.log(`# browser int8 (${build}): 32 sentences in ${r.int8Ms.toFixed(0)} ms; cosine to the reference min ${min.toFixed(5)} mean ${mean.toFixed(5)}`);
  assert.ok(min >= 0.99 && mean >= 0.995, `int8 cosine min ${min} mean ${mean}`);

  // the tiny head trained: the loss fell, the head serialised, tuned rows are unit length
  assert.equal(r.losses.length, 30);
  assert.ok(r.losses.at(-1) < r.losses[0], `loss did not fall: ${r.losses[0]} -> ${r.losses.at(-1)}`);
  assert.ok(r.headBytes > 384 * 384 * 4, "head safetensors holds the weight matrix");
  const norm = Math.hypot(...r.tunedRow);
  assert.ok(Math.abs(norm - 1) < 1e-4, `tuned row norm ${norm}`);
  assert.equal(r.hits.indices.length, 5);
  assert.ok(!r.hits.indices.includes(0), "a record is not its own neighbour");
  return r;
}

test("both engine builds match the reference embeddings in a Web Worker", { timeout: 600_000 }, async () => {
  const { url, context, close } = await start();
  try {
    const relaxed = await smoke(context, url, "relaxed");
    const simd128 = await smoke(context, url, "simd128");
    // relaxed madd may round once where simd128 rounds twice: the last bits of f32, no more
    const worst = relaxed.emb.reduce((w, v, i) => Math.max(w, Math.abs(v - simd128.emb[i])), 0);
    console.log(`# f32: relaxed vs simd128 max |diff| ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5, `f32: the builds differ by ${worst} (> 1e-5)`);
    // int8 quantises each layer's activations (16 bits a token), and such a last bit can move
    // one of them by a step: a sentence's two int8 embeddings agree to cosine 0.99999
    const cos = Array.from({ length: 32 }, (_, s) => {
      let dot = 0;
      for (let j = 0; j < 384; j++) dot += relaxed.emb8[s * 384 + j] * simd128.emb8[s * 384 + j];
      return dot;
    });
    console.log(`# int8: relaxed vs simd128 min cosine ${Math.min(...cos).toFixed(7)}`);
    assert.ok(Math.min(...cos) >= 0.99999, `int8: the builds' embeddings differ, cosine ${Math.min(...cos)}`);
    assert.deepEqual(relaxed.ids, simd128.ids);
  } finally {
    await close();
  }
});

test("the page runs the relaxed-SIMD build where the browser has it, the simd128 one where that cannot load", { timeout: 300_000 }, async () => {
  // 40 Banking77 questions: enough to embed in a few seconds with every worker
  const csv = join(mkdtempSync(join(tmpdir(), "simtune-engine-")), "questions.csv");
  writeFileSync(csv, toCsv(parseCsv(readFileSync(join(SHARED, "data", "banking77_test.csv"), "utf8")).slice(0, 41)));
  for (const lacking of [false, true]) {
    const { url, context, close } = await start();
    try {
      // a host that lacks the relaxed file (or serves it broken) is what a browser without
      // relaxed SIMD meets too: the engine it gets is the simd128 one, with no error shown
      if (lacking) await context.route("**/simtune_relaxed_bg.wasm", (r) => r.fulfill({ status: 404, body: "" }));
      const fetched = { simtune_bg: 0, simtune_relaxed_bg: 0 };
      context.on("request", (r) => {
        const m = /\/(simtune(?:_relaxed)?_bg)\.wasm$/.exec(r.url());
        if (m) fetched[m[1]] += 1;
      });
      const { page, errors } = await openPage(context, url);
      assert.equal(await page.getAttribute("html", "data-engine"), lacking ? "simd128" : "relaxed");
      await loadCsv(page, csv);
      await waitEmbedded(page);
      const shown = page.locator("#notice[data-kind=error]:not([hidden])");
      assert.equal(await shown.count(), 0, `an error is shown: ${await page.textContent("#notice-text")}`);
      assert.deepEqual(errors, []);
      console.log(`# ${lacking ? "relaxed build missing" : "both builds served"}: .wasm requests ${JSON.stringify(fetched)}`);
      // every engine (the page's and each worker's) asked for the relaxed build first, and
      // each that could not have it loaded the simd128 one
      assert.ok(fetched.simtune_relaxed_bg >= 2, "the page and its workers start the relaxed build");
      assert.equal(fetched.simtune_bg, lacking ? fetched.simtune_relaxed_bg : 0);
    } finally {
      await close();
    }
  }
});

test("the build is chosen by validating relaxed SIMD: node's V8 without it, and with it switched on", () => {
  // node 20's V8 ships relaxed SIMD off (--experimental-wasm-relaxed-simd turns it on): the
  // same probe the page runs, answered both ways by a real engine
  const engine = pathToFileURL(join(ROOT, "www/engine.js")).href;
  const ask = (flags) =>
    execFileSync(process.execPath, [...flags, "--input-type=module", "-e", `console.log(await (await import(${JSON.stringify(engine)})).supportedBuild())`], { encoding: "utf8" }).trim();
  assert.equal(ask([]), "simd128");
  assert.equal(ask(["--experimental-wasm-relaxed-simd"]), "relaxed");
});
