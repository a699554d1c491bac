// Runs the smoke worker (smoke.html?build=relaxed|simd128) and exposes its answer to the test as window.smokeResult.
const worker = new Worker(new URL("./smoke-worker.js", import.meta.url), { type: "module" });
window.smokeResult = new Promise((resolve) => {
  worker.onmessage = (e) => resolve(e.data);
  worker.onerror = (e) => resolve({ error: e.message || "worker failed to start" });
});
worker.postMessage({
  // the engine build to run ("relaxed" or "simd128", www/engine.js); the browser's choice when absent
  build: new URLSearchParams(location.search).get("build") ?? undefined,
  model: "/models/all-MiniLM-L6-v2/",
  sentences: "/__shared/reference/minilm_sentences.json",
});
