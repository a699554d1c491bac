// The engine in a Web Worker, as the page uses it: load the wasm and the model, embed the
// 32 reference sentences in f32 and in int8, train a tiny head, search with it. Posts
// everything back.
import { SearchIndex, trainHead } from "../../pkg/simtune.js";
import { startEngine } from "../../www/engine.js";
import { loadEncoder } from "./load-encoder.js";

self.onmessage = async ({ data }) => {
  try {
    const build = await startEngine(data.build);
    const encoder = await loadEncoder(data.model);
    const sentences = await (await fetch(data.sentences)).json();
    const ids = sentences.map((s) => Array.from(encoder.tokenIds(s)));
    const progress = [];
    const t0 = performance.now();
    const emb = encoder.embed(sentences, (done, total) => progress.push([done, total]));
    const embedMs = performance.now() - t0;
    const dim = encoder.dim();
    encoder.free();
    // the int8 encoder (kernels/int8.rs, wasm simd128 path) on the same sentences
    const int8 = await loadEncoder(data.model, "int8");
    const t1 = performance.now();
    const emb8 = int8.embed(sentences);
    const int8Ms = performance.now() - t1;
    const int8Info = int8.info();
    int8.free();

    // a tiny head: 4 made-up groups over the 32 embeddings
    const labels = Int32Array.from(sentences, (_, i) => i % 4);
    const losses = [];
    const { head } = trainHead(emb, dim, labels, { steps: 30 }, (step, loss) => {
      losses.push(loss);
    });
    const index = new SearchIndex(emb, dim);
    const tuned = index.withHead(head);
    const tunedRow = Array.from(tuned.row(0));
    const hits = tuned.neighbours(0, 5);
    postMessage({
      build,
      ids,
      emb: Array.from(emb),
      dim,
      embedMs,
      emb8: Array.from(emb8),
      int8Ms,
      int8Info,
      progress,
      losses,
      headBytes: head.length,
      tunedRow,
      hits,
    });
  } catch (e) {
    postMessage({ error: String(e?.message ?? e) });
  }
};
