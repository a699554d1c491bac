// Browser benchmark, side by side in one headless Chromium: the page's own embedding path
// (www/pool.js: one wasm instance per worker, the model from the Cache API, as a person gets
// it) in f32 and int8, against transformers.js (onnxruntime-web) fp32 and int8 with as many
// threads as cores; plus the head applied to 20,000 x 384 and top-1000 search over 20,000
// records, in wasm. Driven by bench/browser.mjs through window.bench.
import { Pool } from "../www/pool.js";
import { DEFAULT_MODEL, ensureCached } from "../www/model.js";
import { buildUrl, supportedBuild } from "../www/engine.js";
import { regions } from "./regions.js";

async function simtune(precision) {
  await ensureCached(DEFAULT_MODEL);
  const pool = new Pool();
  const { dim } = await pool.loadModel(DEFAULT_MODEL.base, precision);
  return {
    about: `${pool.size} workers`,
    embed: (texts) => pool.embed(texts, dim, () => {}),
    close: () => pool.workers.forEach((w) => w.worker.terminate()),
  };
}

async function transformersJs(dtype, threads, opts) {
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
  const extractor = await pipeline("feature-extraction", "all-MiniLM-L6-v2-onnx", { dtype });
  // onnxruntime-web falls back to one thread without cross-origin isolation: say what it got
  const got = env.backends.onnx.wasm.numThreads;
  return {
    about: `${got} thread${got === 1 ? "" : "s"} (asked ${threads})`,
    async embed(texts) {
      for (let i = 0; i < texts.length; i += 32) {
        await extractor(texts.slice(i, i + 32), { pooling: "mean", normalize: true });
      }
    },
    close: () => extractor.dispose?.(),
  };
}

async function measure(engine, texts, repeats) {
  await engine.embed(texts.slice(0, 64)); // warm-up: wasm tier-up, allocations
  const rates = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await engine.embed(texts);
    rates.push(texts.length / ((performance.now() - t0) / 1000));
  }
  const sorted = [...rates].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], rates };
}

/** The engine's glue started with `build` ("relaxed" or "simd128"): one module instance per
 * build (a query string makes the import a module of its own), so both run in one page. */
const engines = {};
function engineBuild(build) {
  engines[build] ??= (async () => {
    const engine = await import(`../pkg/simtune.js?build=${build}`);
    await engine.default({ module_or_path: buildUrl(build) });
    return engine;
  })();
  return engines[build];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

window.bench = {
  env: async () => ({ cores: navigator.hardwareConcurrency || 1, isolated: self.crossOriginIsolated, agent: navigator.userAgent, build: await supportedBuild() }),
  /** One engine over every set: {about, sets: {name: {median, rates}}}. */
  async engine({ name, precision, sets, repeats, ...opts }) {
    const cores = navigator.hardwareConcurrency || 1;
    const engine = name === "simtune" ? await simtune(precision) : await transformersJs(precision, cores, opts);
    const out = { about: engine.about, sets: {} };
    try {
      for (const [set, texts] of Object.entries(sets)) out.sets[set] = await measure(engine, texts, repeats);
    } finally {
      engine.close();
    }
    return out;
  },
  /** Applying a head to 20,000 x 384 and top-1000 search over 20,000 records, in wasm on
   * this thread (what the page's main thread does), ms: median of `repeats`; and training
   * on 261 of them (100 steps), median of 3 (`runs` keeps every time, to pool rounds):
   * - `trainPull`: from the prototype pull, as the page trains: the pull's sample's
   *   neighbours found beforehand (`prepareTraining`, which the page runs once the records
   *   are embedded; `prepareMs`), or by an earlier training on the same records;
   * - `trainCold`: from the pull on records other than the last training's, so that the
   *   training finds the neighbours itself (the first training after a cancel);
   * - `trainPlain`: without the pull.
   * `build`: the engine build ("relaxed", "simd128"; the one this browser gets when absent). */
  async headAndSearch({ n = 20_000, dim = 384, repeats = 5, queries = 50, build, config = {} }) {
    const { SearchIndex, trainHead, prepareTraining, PoolRows } = await engineBuild(build ?? (await supportedBuild()));
    // 20 regions, the 261 labels their regions (bench/regions.js); a second draw of the kind
    const { emb, labels } = regions(n, dim, 261);
    const other = regions(n, dim, 261, 8);
    const { head } = trainHead(other.emb, dim, other.labels, { steps: 5 }, undefined);
    // training on 261 labels, default settings, with and without the prototype pull over all
    // n records (its cost; the data is made up, so the steps run are not the page's)
    const train = { cold: [], pull: [], plain: [], prepare: [] };
    const run = (data, settings) => {
      const t0 = performance.now();
      const out = trainHead(data.emb, dim, data.labels, { ...config, ...settings, early_stop_patience: null }, undefined);
      if (settings.prototype_pull) [train.strength, train.smoothing] = [out.pull?.strength ?? 0, out.pull?.smoothing ?? 0];
      return performance.now() - t0;
    };
    // after a training on the other draw: each training searches the neighbours (one sample
    // is kept)
    for (let r = 0; r < 3; r++) {
      run(other, { prototype_pull: true });
      train.cold.push(run({ emb, labels }, { prototype_pull: true }));
    }
    // the page's way: the neighbours found once for the records, then every training
    const everyRow = Uint32Array.from({ length: n }, (_, i) => i);
    for (let r = 0; r < 3; r++) {
      run(other, { prototype_pull: true }); // the kept sample is another's
      const t0 = performance.now();
      prepareTraining(new PoolRows(emb.slice(), everyRow, n), dim, config);
      train.prepare.push(performance.now() - t0);
      train.pull.push(run({ emb, labels }, { prototype_pull: true }));
    }
    for (let r = 0; r < 3; r++) train.plain.push(run({ emb, labels }, { prototype_pull: false }));
    const index = new SearchIndex(emb, dim);
    const apply = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      index.withHead(head).free();
      apply.push(performance.now() - t0);
    }
    const search = [];
    for (let q = 0; q < queries; q++) {
      const t0 = performance.now();
      index.topK(emb.subarray(q * dim, (q + 1) * dim), 1000, -1);
      search.push(performance.now() - t0);
    }
    index.free();
    return {
      applyMs: median(apply),
      searchMs: median(search),
      trainPullMs: median(train.pull),
      trainColdMs: median(train.cold),
      prepareMs: median(train.prepare),
      trainPlainMs: median(train.plain),
      pullStrength: train.strength,
      pullSmoothing: train.smoothing,
      runs: { apply, search, trainPull: train.pull, trainCold: train.cold, prepare: train.prepare, trainPlain: train.plain },
    };
  },
};
