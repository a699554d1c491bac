// The engine in a Web Worker, as the page uses it: load the wasm and the model, embed the
// 32 reference sentences, train a tiny head, search with it. Posts everything back.
import { SearchIndex, trainHead } from "../../pkg/simtune.js";
import { loadEncoder } from "./load-encoder.js";

self.onmessage = async ({ data }) => {
  try {
    const encoder = await loadEncoder(data.model);
    const sentences = await (await fetch(data.sentences)).json();
    const ids = sentences.map((s) => Array.from(encoder.tokenIds(s)));
    const progress = [];
    const t0 = performance.now();
    const emb = encoder.embed(sentences, (done, total) => progress.push([done, total]));
    const embedMs = performance.now() - t0;
    const dim = encoder.dim();

    // a tiny head: 4 made-up groups over the 32 embeddings
    const labels = Int32Array.from(sentences, (_, i) => i % 4);
    const losses = [];
    const head = trainHead(emb, dim, labels, { steps: 30 }, (step, loss) => {
      losses.push(loss);
    });
    const index = new SearchIndex(emb, dim);
    const tuned = index.withHead(head);
    const tunedRow = Array.from(tuned.row(0));
    const hits = tuned.neighbours(0, 5);
    postMessage({
      ids,
      emb: Array.from(emb),
      dim,
      embedMs,
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
