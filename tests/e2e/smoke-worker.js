// The engine in a Web Worker, as the page uses it: load the wasm and the model, embed the
// 32 reference sentences, train a tiny head, search with it. Posts everything back.
import init, { SentenceEncoder, SearchIndex, trainHead } from "../../pkg/simtune.js";

async function bytes(url, optional = false) {
  const r = await fetch(url);
  if (!r.ok) {
    if (optional) return undefined;
    throw new Error(`${url}: HTTP ${r.status}`);
  }
  return new Uint8Array(await r.arrayBuffer());
}

self.onmessage = async ({ data }) => {
  try {
    await init();
    const m = data.model;
    const encoder = new SentenceEncoder(
      await bytes(m + "config.json"),
      await bytes(m + "tokenizer.json"),
      await bytes(m + "model.safetensors"),
      await bytes(m + "sentence_bert_config.json", true),
      await bytes(m + "1_Pooling/config.json", true),
    );
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
