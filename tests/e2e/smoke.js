// Runs the smoke worker and exposes its answer to the test as window.smokeResult.
const worker = new Worker(new URL("./smoke-worker.js", import.meta.url), { type: "module" });
window.smokeResult = new Promise((resolve) => {
  worker.onmessage = (e) => resolve(e.data);
  worker.onerror = (e) => resolve({ error: e.message || "worker failed to start" });
});
worker.postMessage({
  model: "/models/all-MiniLM-L6-v2/",
  sentences: "/__shared/reference/minilm_sentences.json",
});
