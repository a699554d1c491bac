// Embedding throughput in the browser, side by side: simtune (a pool of wasm workers, one
// per core) and, when it is installed, transformers.js (onnxruntime-web, f32 model, as many
// threads as cores). Driven by bench/browser.mjs; the page exposes window.runBench(opts).

function call(worker, msg) {
  return new Promise((ok, fail) => {
    worker.onmessage = (e) => (e.data.error ? fail(new Error(e.data.error)) : ok(e.data));
    worker.postMessage(msg);
  });
}

async function simtunePool(n, model) {
  const workers = Array.from(
    { length: n },
    () => new Worker(new URL("./simtune-worker.js", import.meta.url), { type: "module" }),
  );
  await Promise.all(workers.map((w) => call(w, { type: "load", model })));
  return {
    async embed(texts) {
      const size = Math.ceil(texts.length / n);
      await Promise.all(workers.map((w, i) => call(w, { type: "embed", texts: texts.slice(i * size, (i + 1) * size) })));
    },
    close: () => workers.forEach((w) => w.terminate()),
  };
}

async function transformersJs(threads, opts) {
  const { pipeline, env } = await import(opts.tjsUrl);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = opts.peerUrl;
  // the asyncify build of onnxruntime-web, as the peer README advises
  env.backends.onnx.wasm.wasmPaths = {
    mjs: opts.ortUrl + "ort-wasm-simd-threaded.asyncify.mjs",
    wasm: opts.ortUrl + "ort-wasm-simd-threaded.asyncify.wasm",
  };
  env.backends.onnx.wasm.numThreads = threads;
  const extractor = await pipeline("feature-extraction", "all-MiniLM-L6-v2-onnx", { dtype: "fp32" });
  return {
    async embed(texts) {
      for (let i = 0; i < texts.length; i += 32) {
        await extractor(texts.slice(i, i + 32), { pooling: "mean", normalize: true });
      }
    },
    close: () => extractor.dispose?.(),
  };
}

async function measure(engine, texts, repeats) {
  await engine.embed(texts.slice(0, 32)); // warm-up: wasm tier-up, allocations
  const rates = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await engine.embed(texts);
    rates.push(texts.length / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  return { median: rates[Math.floor(rates.length / 2)], rates };
}

window.runBench = async (opts) => {
  const cores = navigator.hardwareConcurrency || 1;
  const results = { cores, sets: {} };
  const engines = [["simtune", () => simtunePool(cores, opts.model)]];
  if (opts.tjsUrl) engines.push(["transformers.js", () => transformersJs(cores, opts)]);
  for (const [name, make] of engines) {
    const engine = await make();
    for (const [set, texts] of Object.entries(opts.sets)) {
      results.sets[set] ??= {};
      results.sets[set][name] = await measure(engine, texts, opts.repeats);
    }
    engine.close();
  }
  return results;
};
