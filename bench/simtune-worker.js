// Benchmark worker: one simtune wasm instance embedding what it is sent.
import init, { SentenceEncoder } from "../pkg/simtune.js";

let encoder;
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
    if (data.type === "load") {
      await init();
      const m = data.model;
      encoder = new SentenceEncoder(
        await bytes(m + "config.json"),
        await bytes(m + "tokenizer.json"),
        await bytes(m + "model.safetensors"),
        await bytes(m + "sentence_bert_config.json", true),
        await bytes(m + "1_Pooling/config.json", true),
      );
      postMessage({ ok: true });
    } else {
      const out = encoder.embed(data.texts);
      postMessage({ ok: true, rows: out.length / encoder.dim() });
    }
  } catch (e) {
    postMessage({ error: String(e?.message ?? e) });
  }
};
