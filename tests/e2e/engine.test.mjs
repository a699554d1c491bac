// The wasm engine in the browser: parity with sentence-transformers (the same 1e-4 tolerance
// as natively), identical token ids, int8 within cosine 0.99, and a tiny head that trains and
// searches in a worker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { start, SHARED } from "./harness.mjs";

const ref = (name) => JSON.parse(readFileSync(join(SHARED, "reference", name), "utf8"));

test("wasm encoder matches the reference embeddings in a Web Worker", { timeout: 600_000 }, async () => {
  const { url, context, close } = await start();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url + "tests/e2e/smoke.html");
    const r = await page.evaluate(() => window.smokeResult);
    assert.equal(r.error, undefined, `worker failed: ${r.error}`);
    assert.deepEqual(errors, []);

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
    console.log(`# browser: 32 reference sentences embedded in ${r.embedMs.toFixed(0)} ms, max |diff| ${worst.toExponential(2)}`);

    // int8 (wasm simd128 kernel): each sentence within cosine 0.99 of the reference, 0.995 on
    // average (onnxruntime's int8 export of this model: min 0.988, mean 0.991)
    assert.equal(r.int8Info.precision, "int8");
    const cos = expected.map((row, i) => row.reduce((s, v, j) => s + v * r.emb8[i * 384 + j], 0));
    const min = Math.min(...cos);
    const mean = cos.reduce((a, b) => a + b) / cos.length;
    console.log(`# browser int8: 32 sentences in ${r.int8Ms.toFixed(0)} ms; cosine to the reference min ${min.toFixed(5)} mean ${mean.toFixed(5)}`);
    assert.ok(min >= 0.99 && mean >= 0.995, `int8 cosine min ${min} mean ${mean}`);

    // the tiny head trained: the loss fell, the head serialised, tuned rows are unit length
    assert.equal(r.losses.length, 30);
    assert.ok(r.losses.at(-1) < r.losses[0], `loss did not fall: ${r.losses[0]} -> ${r.losses.at(-1)}`);
    assert.ok(r.headBytes > 384 * 384 * 4, "head safetensors holds the weight matrix");
    const norm = Math.hypot(...r.tunedRow);
    assert.ok(Math.abs(norm - 1) < 1e-4, `tuned row norm ${norm}`);
    assert.equal(r.hits.indices.length, 5);
    assert.ok(!r.hits.indices.includes(0), "a record is not its own neighbour");
  } finally {
    await close();
  }
});
