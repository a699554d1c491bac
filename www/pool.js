// Workers that own wasm instances: an EngineWorker wraps one, a Pool holds
// min(hardwareConcurrency, 4) of them for embedding (contiguous chunks, merged in order).
// A worker that dies or stops answering (no progress for STALL_MS while it holds a chunk) is
// replaced and its chunk given to a fresh one, once; the page is told if that fails too.
export class Cancelled extends Error {
  constructor() {
    super("cancelled");
  }
}

/** A busy embedding worker reports progress after every batch (a few seconds at most). */
export const STALL_MS = 30_000;

export class WorkerStalled extends Error {}

export class EngineWorker {
  constructor() {
    this.spawn();
  }
  spawn() {
    this.seq = 0;
    this.pending = new Map();
    this.worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    this.worker.onmessage = ({ data }) => {
      const p = this.pending.get(data.id);
      if (!p) return;
      if ("progress" in data) return p.onProgress?.(data.progress);
      this.pending.delete(data.id);
      if ("error" in data) p.reject(new Error(data.error));
      else p.resolve(data.result);
    };
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      this.failAll(new Error(`the engine worker failed: ${e.message || "could not start (is pkg/ built?)"}`));
    };
  }
  failAll(err) {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
  /** Runs `op` in the worker. With `stallMs`, a call that hears nothing (no progress, no
   * result) for that long is rejected with WorkerStalled. */
  call(op, args, { onProgress, transfer = [], stallMs = 0 } = {}) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      let timer = 0;
      const arm = () => {
        if (!stallMs) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new WorkerStalled(`a worker stopped answering (${op}, nothing for ${stallMs / 1000} s)`));
        }, stallMs);
      };
      const done = (f) => (v) => (clearTimeout(timer), f(v));
      this.pending.set(id, {
        resolve: done(resolve),
        reject: done(reject),
        onProgress: (p) => (arm(), onProgress?.(p)),
      });
      arm();
      this.worker.postMessage({ id, op, args }, transfer);
    });
  }
  /** Stops whatever runs (terminate) and starts a fresh instance. */
  restart() {
    this.worker.terminate();
    this.failAll(new Cancelled());
    this.spawn();
  }
}

export class Pool {
  constructor(size = Math.max(1, Math.min(navigator.hardwareConcurrency || 2, 4))) {
    this.size = size;
    this.workers = Array.from({ length: size }, () => new EngineWorker());
    this.modelBase = null;
    this.loads = []; // per worker: its model load (a promise), null where none
    /** Workers replaced because they stopped answering mid-embedding. */
    this.restarts = 0;
  }
  /** The first `count` workers (all by default) load the model from the cache, in
   * `precision` ("f32" or "int8"); resolves to {dim, info}. A few texts (label names, a typed
   * query) need one: each worker holding the model takes ~250 MB of the tab's memory. */
  loadModel(base, precision = "f32", count = this.size) {
    const want = `${precision}|${base}`;
    if (this.modelBase !== want) {
      this.modelBase = want;
      this.modelArgs = { base, precision };
      this.loads = this.workers.map(() => null);
    }
    for (let i = 0; i < Math.min(count, this.size); i++) {
      if (this.loads[i]) continue;
      const load = this.workers[i].call("loadModel", this.modelArgs);
      load.catch(() => this.loads[i] === load && (this.loads[i] = null));
      this.loads[i] = load;
    }
    return Promise.all(this.loads.slice(0, Math.max(1, Math.min(count, this.size)))).then((r) => r[0]);
  }
  /** Stops all work: workers are replaced (the model is loaded again on next use). */
  cancel() {
    for (const w of this.workers) w.restart();
    this.modelBase = null;
    this.loads = [];
  }
  /**
   * Embeds `texts` in contiguous chunks spread over the workers; `onProgress(done, total)`;
   * `onChunk(start, end, rows)` as each chunk is done (rows: Float32Array (end-start) x dim),
   * so the caller can keep finished work. Returns Float32Array n x dim.
   */
  async embed(texts, dim, onProgress, onChunk = null) {
    const n = texts.length;
    // ~4 chunks per worker keeps them all busy to the end; small enough for smooth progress
    const chunkSize = Math.max(8, Math.min(256, Math.ceil(n / (this.size * 4))));
    const out = new Float32Array(n * dim);
    const chunks = [];
    for (let s = 0; s < n; s += chunkSize) chunks.push([s, Math.min(n, s + chunkSize)]);
    const doneIn = new Map();
    let doneAll = 0;
    const report = () => onProgress(doneAll + [...doneIn.values()].reduce((a, b) => a + b, 0), n);
    let next = 0;
    const embedChunk = (w, s, e) =>
      w.call("embed", { texts: texts.slice(s, e) }, {
        stallMs: STALL_MS,
        onProgress: ([d]) => {
          doneIn.set(s, d);
          report();
        },
      });
    /** Chunks each worker embedded in the last run (a check that all of them work). */
    this.chunksPerWorker = this.workers.map(() => 0);
    /** Texts of the last run longer than the model reads (only their beginning embedded). */
    this.truncated = 0;
    const run = async (w, slot) => {
      while (next < chunks.length) {
        const [s, e] = chunks[next++];
        let got;
        try {
          got = await embedChunk(w, s, e);
        } catch (err) {
          if (!(err instanceof WorkerStalled)) throw err;
          // the worker died or hangs: a fresh one (with the model) takes the chunk, once
          console.warn(err.message, "- restarting it");
          this.restarts++;
          w.restart();
          this.loads[slot] = w.call("loadModel", this.modelArgs);
          await this.loads[slot];
          doneIn.delete(s);
          got = await embedChunk(w, s, e);
        }
        const { rows, truncated } = got;
        this.truncated += truncated;
        out.set(rows, s * dim);
        onChunk?.(s, e, rows);
        this.chunksPerWorker[slot]++;
        doneIn.delete(s);
        doneAll += e - s;
        report();
      }
    };
    await Promise.all(this.workers.map((w, slot) => run(w, slot)));
    return out;
  }
  /** A few texts embedded by the first worker alone (loadModel with count 1 first). */
  async embedFew(texts) {
    return (await this.workers[0].call("embed", { texts })).rows;
  }
}
