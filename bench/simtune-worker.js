// Benchmark worker: one simtune wasm instance embedding what it is sent.
import { loadEncoder } from "../tests/e2e/load-encoder.js";

let encoder;

self.onmessage = async ({ data }) => {
  try {
    if (data.type === "load") {
      encoder = await loadEncoder(data.model);
      postMessage({ ok: true });
    } else {
      const out = encoder.embed(data.texts);
      postMessage({ ok: true, rows: out.length / encoder.dim() });
    }
  } catch (e) {
    postMessage({ error: String(e?.message ?? e) });
  }
};
