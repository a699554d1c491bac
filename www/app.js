// simtune's page: wiring of the engine (wasm), the workers, persistence and the views.
//
// Libraries: `idb` (IndexedDB with promises, ~4 kB, vendored into www/vendor/ by
// scripts/build.sh). No plot library: the loss curve is one line, drawn on a <canvas> by
// www/plot.js (~30 lines) — uPlot would be small too, but it is not needed for one series
// and nothing extra has to pass the CSP.
//
// Threads: the main thread runs its own engine instance (no model) for exact search and the
// check figure; a Pool of min(hardwareConcurrency, 4) module workers embeds (each reads the
// model from the Cache API itself); one more worker trains (Cancel terminates it) and one
// reads datasets (preview, parse, hash), so no file is ever parsed on the main thread.
import { SearchIndex, defaultTrainConfig, drawChecks, checkGain, predictGain, startPredictGain, startSuggest, labelText, trainingPoolRows } from "../pkg/simtune.js";
import * as store from "./store.js";
import { startEngine } from "./engine.js";
import { ensureCached, modelName } from "./model.js";
import { embeddingKey } from "./hash.js";
import { Pool, EngineWorker, Cancelled } from "./pool.js";
import { Project } from "./state.js";
import { hashKey, recordsByKey, savedKeys } from "./texthash.js";
import { typing } from "./dom.js";
import { createOpenView, notUtf8Note } from "./views/open.js";
import { createLabelView } from "./views/label.js";
import { createSessionView } from "./views/session.js";
import { createTrainView } from "./views/train.js";
import { createCompareView } from "./views/compare.js";
import { createMapView } from "./views/map.js";
import { predict, sliceRows } from "./predict.js";
import { inSlices } from "./slices.js";
import { memoryWarning } from "./memory.js";
import { exportProject, importProject } from "./project-file.js";
import { readShareLink } from "./share.js";
import { createNextStep } from "./views/next.js";

export const MAX_FILE_BYTES = 100 * 1024 * 1024;
/** Neighbours judged per check record and direction (in / out of the top k), drawn at random. */
const CHECK_PER_LIST = 2;
/** Records from which a head that comes without training is prepared in slices between frames
 * (warmHead); below, its tuned index and the check's predictions are built when first asked
 * for, a fraction of a second at most. */
const SLICE_HEAD_FROM = 2_000;

/** A short signature of a label array (FNV-1a over its values): tells when labels changed. */
function labelsSignature(labels) {
  let h = 0x811c9dc5;
  for (const l of labels) h = Math.imul(h ^ (l + 1), 0x01000193);
  return (h >>> 0).toString(16);
}
/** How long an information notice stays. */
const NOTICE_MS = 12_000;
const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.project = new Project();
    this.engine = { SearchIndex, drawChecks };
    this.pool = new Pool();
    this.trainer = new EngineWorker();
    this.reader = new EngineWorker();
    this.defaults = null;
    this.indices = { raw: null, tuned: null, tunedHead: null, baseline: null };
    this.kept = {}; // results computed between frames, per slot (see keep)
    this.prepared = null; // what prepareHead built for a head not yet in use
    this.warming = null; // the head in use while warmHead prepares it
    this.embedRun = 0;
    this.embedding = false;
    this.saveTimer = null;
    this.views = {};
    this.active = "open";
  }

  // ---- messages ------------------------------------------------------------------------
  /** A message under the header. Information clears itself after a while (the text stays
   * in the element for tools that read it); errors stay until dismissed or replaced. */
  notify(text, kind = "info") {
    $("notice-text").textContent = text;
    $("notice").dataset.kind = kind;
    $("notice").hidden = false;
    clearTimeout(this.noticeTimer);
    if (kind === "info") this.noticeTimer = setTimeout(() => this.clearNotice(), NOTICE_MS);
  }
  error(e, what = "") {
    if (e instanceof Cancelled) return;
    const msg = String(e?.message ?? e);
    console.warn(what, e);
    this.notify(what ? `${what}: ${msg}` : msg, "error");
  }
  clearNotice() {
    $("notice").hidden = true;
  }
  /** Clears the message if it is the one that starts with `prefix` (an error now settled). */
  clearNoticeOf(prefix) {
    if ($("notice-text").textContent.startsWith(prefix)) this.clearNotice();
  }

  // ---- views ---------------------------------------------------------------------------
  show(name, opts) {
    this.active = name;
    for (const s of document.querySelectorAll("main > .view")) s.hidden = s.dataset.view !== name;
    for (const t of document.querySelectorAll(".tabs .tab")) {
      if (t.dataset.view === name) t.setAttribute("aria-current", "page");
      else t.removeAttribute("aria-current");
    }
    this.views[name]?.show?.(opts);
    this.next?.render();
  }
  openSession(index) {
    this.show("session", { anchor: index });
  }
  openCompare(index) {
    this.show("compare", { record: index });
  }

  // ---- persistence ---------------------------------------------------------------------
  /** Labels and check answers are saved at once (a reload right after a key press keeps
   * it); other changes (the head, settings) within 120 ms are saved together. */
  scheduleSave(now = false) {
    $("saved").textContent = "Saving…";
    $("saved").dataset.state = "saving";
    clearTimeout(this.saveTimer);
    if (now) {
      this.saveSoon ??= Promise.resolve().then(() => {
        this.saveSoon = null;
        return this.saveNow();
      });
    } else this.saveTimer = setTimeout(() => this.saveNow(), 120);
  }
  async saveNow() {
    clearTimeout(this.saveTimer);
    if (!this.project.n) return;
    try {
      await store.put("project", this.project.toSaved());
      $("saved").textContent = "Saved in this browser";
      $("saved").dataset.state = "saved";
    } catch (e) {
      $("saved").textContent = "NOT saved";
      $("saved").dataset.state = "error";
      console.warn(e);
      this.notify(`Could not save the project in this browser: ${storageHint(e)}. Your labels are still here: use Export to keep them.`, "error");
    }
  }

  // ---- dataset -------------------------------------------------------------------------
  /** Columns and first rows of `file` (a File, or a Blob with `name`), read in a worker. */
  previewFile(file, name, rows = 5) {
    return this.reader.call("preview", { file, name, rows });
  }
  /**
   * Loads the records of `file` (a File or Blob) with the chosen columns, in a worker; the
   * current project stays on failure. When the project has labels and the new file shares
   * record texts with it (an edited version), the labels follow their text; the others are
   * kept aside (orphans), never dropped.
   */
  /** The records of a file (worker.js `load`), read in the reader's worker, which is then
   * replaced by a fresh one: wasm memory never shrinks, and reading 100 MB grows it by
   * hundreds of MB the tab would keep. */
  async readRecords(args) {
    try {
      return await this.reader.call("load", args);
    } finally {
      this.reader.restart();
    }
  }
  async useDataset(file, name, columns, source = null) {
    const ds = await this.readRecords({ file, name, columns });
    if (!ds.texts.length) throw new Error(`${name} has no records`);
    // a big file's preview reads its head only, which may have been plain ASCII
    if (ds.decodedFrom === "Windows-1252") this.notify(notUtf8Note(name));
    const p = this.project;
    if (p.n && p.datasetKey === ds.key) {
      this.notify("This dataset with these columns is already open; your labels are kept.");
      this.show("label");
      return;
    }
    // the work to carry over: this project's, or a saved one that could not be restored
    const saved = p.n ? p.toSaved() : this.unrestored;
    let carry = null;
    if (saved) {
      const orphans = saved.orphans ?? [];
      const keys = [...savedKeys(saved.keys).values()];
      const here = recordsByKey(ds.hashes); // built once: reattach below uses it too
      const shared = [...keys, ...orphans.map((o) => o.key)].filter((key) => here.has(key)).length;
      const work = keys.length + orphans.length;
      const from = saved.file?.name ?? "the saved project";
      if (shared && work) {
        const msg = `Open ${name}? ${shared} of your ${work} labelled or check records of ${from} have the same text in ${name}: their labels are carried over.${work > shared ? ` The other ${work - shared} are kept aside and exported with the project.` : ""}${saved.head ? " The trained head is set aside (train again on these records)." : ""}`;
        if (!confirm(msg)) return;
        carry = saved;
      } else if (work && !confirm(`Open ${name}? None of its records has the text of your ${work} labelled records of ${from}: those labels are replaced. Export them first to keep them.`)) return;
    }
    this.cancelEmbedding();
    let stored = true;
    try {
      await store.put("file", { name, blob: file });
    } catch (e) {
      stored = false;
      console.warn("file not stored", e);
    }
    const oldTexts = p.texts;
    const previous = p.embedded ? { hashes: p.hashes, index: this.indices.raw, dim: p.dim, model: p.model.id, precision: p.precision } : null;
    p.setDataset({ file: { name, size: file.size, source }, columns, key: ds.key, texts: ds.texts, hashes: ds.hashes, labels: ds.labels });
    const imported = p.counts().labelled;
    const outcome = carry ? p.reattach(carry, oldTexts.length ? oldTexts : null) : null;
    if (carry) (p.emit("labels"), p.emit("check"));
    this.unrestored = null;
    await this.saveNow();
    const parts = [`${ds.texts.length} records loaded from ${name}`];
    if (outcome) parts.push(`your labels: ${this.reattachSummary(outcome)}`);
    else if (imported) parts.push(`${imported} labels imported from its label column`);
    // a record without text (`has_no_text` in src/data/dataset/mod.rs) embeds as the empty
    // sentence: say which, as search shows them next to each other only (they are kept, so
    // record numbers follow the file)
    const empty = ds.withoutText;
    if (empty.length) parts.push(`${empty.length} record${empty.length === 1 ? " has" : "s have"} no text (${empty.slice(0, 5).map((i) => `#${i}`).join(", ")}${empty.length > 5 ? ", …" : ""}): kept, so record numbers follow the file, but a record without text is similar only to others without text`);
    if (!stored) parts.push(`${name} could not be kept in this browser (storage full?): after a reload, drop it again (your labels are kept)`);
    // said before the embedding starts (www/memory.js): a tab that runs out loses no label
    const tooBig = memoryWarning(ds.texts.length, p.dim || undefined);
    if (tooBig) parts.push(tooBig.replace(/\.$/, ""));
    this.notify(parts.join("; ") + ".", stored && !tooBig ? "info" : "error");
    this.show("label");
    this.ensureEmbeddings(previous);
  }
  /** "30 on their records (12 found again by their text); 1 kept aside: …" */
  reattachSummary({ kept, moved, orphaned, lost = 0 }) {
    const n = (k, one, many) => `${k} ${k === 1 ? one : many}`;
    const bits = [`${n(kept + moved, "label", "labels")} on ${kept + moved === 1 ? "its record" : "their records"}${moved ? ` (${moved} found again by their text)` : ""}`];
    if (orphaned) bits.push(`${n(orphaned, "label is", "labels are")} kept aside: ${orphaned === 1 ? "its record is" : "their records are"} no longer in the file (Export keeps ${orphaned === 1 ? "it" : "them"}; ${orphaned === 1 ? "it comes" : "they come"} back if the text returns)`);
    if (lost) bits.push(`${n(lost, "label", "labels")} saved by an older version could not be placed: the file's records changed since`);
    return bits.join("; ");
  }

  // ---- model + embeddings --------------------------------------------------------------
  cancelEmbedding() {
    this.embedRun++;
    if (this.embedding) {
      this.pool.cancel();
      this.embedding = false;
    }
  }
  async setModel(model) {
    if (model.id === this.project.model.id) return;
    this.cancelEmbedding();
    this.pool.cancel();
    this.project.model = model;
    this.project.embedded = false;
    this.project.head = null;
    this.project.headRun = null;
    this.project.emit("head");
    this.project.emit("settings");
    this.ensureEmbeddings();
  }
  /** Switches the encoder's arithmetic ("f32" or "int8"): the records are embedded again
   * (or come from the cache) and the head, trained on the other embeddings, is set aside. */
  async setPrecision(precision) {
    const p = this.project;
    if (precision === p.precision) return;
    this.cancelEmbedding();
    this.pool.cancel();
    p.settings.precision = precision;
    p.embedded = false;
    p.head = null;
    p.headRun = null;
    p.emit("head");
    p.emit("settings");
    this.ensureEmbeddings();
  }
  /** Loads the model into the first `workers` workers, all by default (downloading it into
   * the cache first when needed). */
  async ensureModel(onStatus = (s) => this.embedStatus("running", s), workers = this.pool.size) {
    const m = this.project.model;
    await ensureCached(m, onStatus);
    onStatus(`loading ${modelName(m)} into ${workers === 1 ? "a worker" : `${workers} workers`}…`);
    return this.pool.loadModel(m.base, this.project.precision, workers);
  }
  embedStatus(state, text, value = null) {
    $("embed-status").hidden = false;
    $("embed-text").textContent = text;
    $("embed-text").dataset.state = state;
    const bar = $("embed-progress");
    if (value == null) bar.removeAttribute("value");
    else bar.value = value;
  }
  /** Embeds the records (or loads them from the cache). `previous` ({hashes, emb, dim,
   * model, precision}: the project before a new version of its file was opened) lends its embeddings
   * to records with the same text, so an edited file embeds only what changed. Chunks are
   * saved as they finish: a reload mid-embedding resumes where it stopped. */
  async ensureEmbeddings(previous = null) {
    const p = this.project;
    if (!p.n) return;
    const run = ++this.embedRun;
    try {
      const key = await embeddingKey(p.model.id, p.precision, p.hashes);
      if (run !== this.embedRun) return;
      const cached = await this.readIndex(key);
      if (run !== this.embedRun) return cached?.free();
      if (cached) {
        this.setIndex(cached);
        this.embedStatus("cached", `${p.n} embeddings (${modelName(p.model)}, ${p.precision}) loaded from this browser's cache — nothing re-embedded.`, 1);
        return;
      }
      this.embedding = true;
      // records already embedded: by an unfinished run of these texts (saved chunks), or by
      // the previous version of the file (same text, same model)
      const reuse = new Map(); // record -> [Float32Array, row]
      const partPrefix = `part|${key}|`;
      let resumed = 0;
      let dim = 0;
      for (const part of await store.embeddingsWithPrefix(partPrefix).catch(() => [])) {
        dim = part.dim;
        part.rows.forEach((i, k) => reuse.has(i) || (reuse.set(i, [part.data, k]), resumed++));
      }
      if (run !== this.embedRun) return;
      if (!resumed && previous?.index && previous.model === p.model.id && previous.precision === p.precision) {
        dim = previous.dim;
        const rowsOf = recordsByKey(previous.hashes);
        const from = [];
        const to = [];
        for (let i = 0; i < p.n; i++) {
          const r = rowsOf.get(hashKey(p.hashes, i))?.[0];
          if (r !== undefined) (from.push(r), to.push(i));
        }
        try {
          // the rows this file shares with the previous one, from the index that holds them
          const old = previous.index.gather(Uint32Array.from(from));
          to.forEach((i, k) => reuse.set(i, [old, k]));
        } catch (e) {
          console.warn("previous embeddings gone", e); // freed meanwhile: embed them again
        }
      }
      const todo = [];
      for (let i = 0; i < p.n; i++) if (!reuse.has(i)) todo.push(i);
      let maxTokens = 0; // word pieces the model reads of a record
      if (todo.length) {
        this.embedStatus("running", "preparing the model…");
        const model = await this.ensureModel();
        ({ dim } = model);
        maxTokens = model.info?.max_seq_length ?? 0;
        if (run !== this.embedRun) return;
      }
      const t0 = performance.now();
      const restartsBefore = this.pool.restarts;
      let last = 0;
      let saving = Promise.resolve();
      const keepChunk = (s, e, rows) => {
        // saved one after another, never awaited by the pool; a full disk only costs the resume
        const part = { dim, rows: Uint32Array.from(todo.slice(s, e)), data: rows.slice() };
        saving = saving.then(() => store.putEmbeddings(`${partPrefix}${todo[s]}`, part)).catch(() => {});
      };
      const fresh = await this.pool.embed(
        todo.map((i) => p.texts[i]),
        dim,
        (done, total) => {
          const now = performance.now();
          if (now - last < 100 && done < total) return;
          last = now;
          const secs = (now - t0) / 1000;
          const rate = done / Math.max(secs, 1e-3);
          const left = rate > 0 ? (total - done) / rate : Infinity;
          const from = resumed ? ` (resumed: ${resumed} done before)` : "";
          this.embedStatus("running", `Embedding ${done} / ${total} records${from} · ${rate.toFixed(1)} records/s · ${Number.isFinite(left) ? `${Math.ceil(left)} s left` : "estimating…"}`, done / total);
        },
        keepChunk,
      );
      if (run !== this.embedRun) return;
      this.embedding = false;
      const secs = (performance.now() - t0) / 1000;
      // every record embedded now, in order: the pool's array is the matrix (a copy of it
      // would hold another 150 MB at 100,000 records while the index and the save take theirs)
      const whole = todo.length === p.n;
      const emb = whole ? fresh : new Float32Array(p.n * dim);
      if (!whole) todo.forEach((i, k) => emb.set(fresh.subarray(k * dim, (k + 1) * dim), i * dim));
      for (const [i, [from, r]] of reuse) emb.set(from.subarray(r * dim, (r + 1) * dim), i * dim);
      this.setEmbeddings(emb, dim);
      let kept = "kept in this browser";
      try {
        await saving;
        await store.putEmbeddingMatrix(key, { n: p.n, dim, data: emb, model: p.model.id, precision: p.precision });
        await store.deleteEmbeddingsWithPrefix(partPrefix);
      } catch (e) {
        kept = `NOT kept in this browser (${storageHint(e)}): they are embedded again after a reload`;
      }
      const restarts = this.pool.restarts - restartsBefore;
      const healed = restarts ? ` (${restarts} stalled worker${restarts > 1 ? "s" : ""} restarted; ${restarts > 1 ? "their" : "its"} records embedded again)` : "";
      const reused = resumed
        ? `${resumed} embedded before the page was reloaded`
        : reuse.size
          ? `${reuse.size} reused from the previous version of the file`
          : "";
      const done = todo.length
        ? `${todo.length} records embedded in ${secs.toFixed(1)} s (${(todo.length / Math.max(secs, 1e-3)).toFixed(1)} records/s, ${p.precision}) with ${this.pool.size} workers${healed}${reused ? `; ${reused}` : ""}`
        : `All ${p.n} embeddings reused (${reused})`;
      // records longer than the model reads: only their beginning counts in search
      const cut = this.pool.truncated;
      const reads = maxTokens || 256;
      const who = cut === 1 ? "1 record is" : cut === todo.length ? "Every record is" : `${cut.toLocaleString("en")} records are`;
      const long = todo.length && cut
        ? ` ${who} longer than the model reads (${reads} word pieces, about ${Math.round(0.75 * reads)} words): only ${cut === 1 ? "its" : "their"} beginning is embedded, so search matches on that part.`
        : "";
      this.embedStatus("done", `${done}; ${kept}.${long}`, 1);
      $("embed-text").dataset.truncated = String(todo.length ? cut : 0);
      // how the work was shared (chunks per worker), for the curious and for the tests
      $("embed-text").dataset.chunks = this.pool.chunksPerWorker.join(",");
    } catch (e) {
      if (run !== this.embedRun || e instanceof Cancelled) return;
      this.embedding = false;
      this.embedStatus("error", `Embedding failed: ${e.message}`, 0);
      this.error(e, "Embedding failed");
    }
  }
  /** A search index over the records' embeddings saved under `key` (store.readEmbeddings:
   * read in slices), or null where none are saved for these records or they cannot be read. */
  readIndex(key) {
    const n = this.project.n;
    return store.readEmbeddings(key, n, (dim) => SearchIndex.withCapacity(n, dim));
  }
  /** The records' embeddings (n x dim): copied into the raw search index, the one copy the
   * page keeps (the caller's array can go). */
  setEmbeddings(emb, dim) {
    this.setIndex(new SearchIndex(emb, dim));
  }
  /** The records' embeddings as the raw search index (`index`, now the page's). */
  setIndex(index) {
    this.freeIndices();
    this.indices.raw = index;
    this.project.dim = index.dim();
    this.project.embedded = true;
    this.warmHead(); // before the views hear of the embeddings: they would build it at once
    this.project.emit("embeddings");
    this.warmTypicality(this.indices.raw);
    this.loadBaseline(this.indices.raw);
    this.prepareTraining();
  }
  /** A fresh trainer's worker (a training cancelled, the encoder tuned: its wasm memory is
   * given back), prepared again for these records (prepareTraining). */
  restartTrainer() {
    this.trainer.restart();
    if (this.rawIndex()) this.prepareTraining();
  }
  /** Has the trainer's worker, idle now, find what every training on these records reads and no
   * label changes: the prototype pull's sample's neighbours (~0.2 s at 4,096 records;
   * src/tune/sample_neighbours.rs). A training asked for meanwhile waits for it in the worker's
   * queue. The records searched are the document's data-trainer-prepared (for the curious and
   * for the tests). */
  prepareTraining() {
    const config = { ...this.defaults, ...(this.project.trainConfig ?? {}) };
    const pool = this.trainingPool(config);
    const root = document.documentElement;
    delete root.dataset.trainerPrepared;
    this.trainer
      .call("prepare", { pool, dim: this.project.dim, config }, { transfer: [pool.rows.buffer, pool.ids.buffer] })
      .then((rows) => (root.dataset.trainerPrepared = String(rows)))
      .catch((e) => e instanceof Cancelled || console.warn("preparing the trainer", e));
  }
  /** With an encoder tuned here on the labels ("Tune and compare"), the check measures
   * against the encoder it was tuned from, so its figure holds the gain of that tuning too:
   * the records' embeddings by that encoder come from this browser's cache (they were made
   * before it was tuned). Nothing where the model was not tuned here or they are gone. */
  async loadBaseline(raw) {
    const p = this.project;
    const from = p.model.tuning?.inPage ? p.model.tuning.baseId : null;
    if (!from) return;
    let cached = null;
    try {
      const key = await embeddingKey(from, p.precision, p.hashes);
      cached = await this.readIndex(key);
    } catch {
      // not kept: the check measures against this encoder, and says so
    }
    if (!cached || cached.dim() !== p.dim || this.indices.raw !== raw) return cached?.free();
    this.indices.baseline = cached;
    // predictions and the figure were made against this encoder: made again
    this.prediction?.value.free();
    this.prediction = null;
    this.estimate = null;
    p.emit("check");
  }
  /** The index the check measures the tuned search against: the encoder this one was tuned
   * from where it is known (loadBaseline), else the raw index. */
  baselineIndex() {
    return this.rawIndex() && this.indices.baseline ? this.indices.baseline : this.rawIndex();
  }
  /** The model the check's figure is measured against when it is not the one in use (a
   * model's name), null when it is; `tunedHere`: the model in use was tuned on these labels. */
  checkBaseline() {
    const t = this.project.model.tuning;
    return { name: this.baselineIndex() !== this.rawIndex() ? t.base : null, tunedHere: !!t?.inPage };
  }
  /**
   * A head that comes without training here (the project restored after a reload, an import, a
   * run of the log put back in use) gets its tuned index and the check's predictions built in
   * slices between frames (prepareHead), as after training, where records are many: built at
   * once by the first view that asked (the "Next" line does at once), they froze a tab of
   * 100,000 records for seconds after a reload (bench/scale.mjs). Meanwhile the check figure
   * waits (checkEstimate: null) and says so; the views that show it redraw when it is ready.
   */
  async warmHead() {
    const p = this.project;
    const head = p.head;
    if (!head || p.n < SLICE_HEAD_FROM || !this.rawIndex()) return;
    if (this.indices.tunedHead === head || this.prepared?.head === head) return;
    this.warming = head;
    try {
      await this.prepareHead(head);
    } catch (e) {
      console.warn("the head could not be prepared between frames; it is built when first used", e);
    } finally {
      if (this.warming === head) this.warming = null;
    }
    // a view that asked meanwhile built its own tuned index: the prepared one is not needed
    if (this.indices.tunedHead === head && this.prepared?.head === head && this.prepared.tuned) {
      this.prepared.tuned.free();
      this.prepared.tuned = null;
    }
    if (p.head === head) p.emit("check"); // the views that show the figure redraw with it
  }
  /** Whether warmHead is preparing the head in use (its check figure follows in a moment). */
  preparingHead() {
    return this.warming !== null && this.warming === this.project.head;
  }
  /** "Suggested next" needs every record's typicality first (src/label/suggest.rs): computed
   * here in slices between frames once the embeddings are in, so its first use does not
   * freeze the tab (0.9 s at 20,000 records, 1.5 s at 100,000: bench/scale.mjs). */
  async warmTypicality(index) {
    try {
      await inSlices(() => index.typicalityStep(2048), () => this.indices.raw === index);
    } catch (e) {
      if (this.indices.raw === index) console.warn("typicality", e); // else: the index was replaced
    }
  }
  freeIndices() {
    this.indices.raw?.free();
    this.indices.tuned?.free();
    this.indices.baseline?.free();
    this.indices = { raw: null, tuned: null, tunedHead: null, baseline: null };
    this.dropPrepared();
    this.prediction?.value.free();
    this.prediction = null;
  }
  /** The exact-search index over raw embeddings, or null while they are not ready. */
  rawIndex() {
    return this.project.embedded ? this.indices.raw : null;
  }
  /** The index over tuned embeddings (head applied), or null without a head. */
  tunedIndex() {
    const raw = this.rawIndex();
    const head = this.project.head;
    if (!raw || !head) return null;
    if (this.indices.tunedHead !== head) {
      this.indices.tuned?.free();
      const ready = this.prepared?.head === head ? this.prepared.tuned : null;
      if (ready) this.prepared.tuned = null;
      this.indices.tuned = ready ?? raw.withHead(head);
      this.indices.tunedHead = head;
    }
    return this.indices.tuned;
  }
  /** The check's key for its predictions: k and the check set (see checkEstimate). */
  checkKey() {
    const p = this.project;
    const k = Math.max(1, Math.min(p.n - 1, p.settings.checkK || 10));
    return { k, key: `${k}|${p.check.records.join(",")}` };
  }
  /**
   * Builds the tuned index of `head` (before it is in use) and the check's predictions for it
   * in slices of tens of milliseconds between frames, so the tab stays responsive: at 100,000
   * records they are ~3 s of work that froze it after each training (bench/scale.mjs). The
   * views then find both ready. `onProgress(share)`; resolves false when the records changed
   * meanwhile (nothing is kept then).
   */
  async prepareHead(head, onProgress = () => {}) {
    const p = this.project;
    const raw = this.rawIndex();
    if (!raw || !head) return false;
    this.dropPrepared();
    const base = this.baselineIndex();
    const prepared = (this.prepared = { head, tuned: null, prediction: null, key: null, base });
    const live = () => this.indices.raw === raw && this.prepared === prepared;
    // each slice's share, reported as half of the whole (the index first, then predictions)
    const slice = (step, half) => () => {
      const done = step();
      onProgress((half + done) / 2);
      return done;
    };
    const build = raw.startHead(head);
    let finished;
    try {
      finished = await inSlices(slice(() => build.step(raw, 4096), 0), live); // ~35 ms a slice at 384 dimensions
    } catch (e) {
      build.free();
      throw e;
    }
    if (!finished) return (build.free(), false);
    prepared.tuned = build.finish(raw);
    if (!p.check.records.length) return true;
    const { k, key } = this.checkKey();
    const steps = startPredictGain(base, p.trainingLabels(), Uint32Array.from(p.check.records), k);
    // each query searches every record twice (raw and tuned): ~10 at 100,000 records
    const queries = Math.max(1, Math.floor(1e6 / p.n));
    try {
      finished = await inSlices(slice(() => steps.step(base, prepared.tuned, queries), 1), live);
    } catch (e) {
      steps.free();
      throw e;
    }
    if (!finished) return (steps.free(), false);
    prepared.prediction = steps.finish();
    prepared.key = key;
    return true;
  }
  /** Frees what prepareHead built and no index took. */
  dropPrepared() {
    this.prepared?.tuned?.free();
    this.prepared?.prediction?.free();
    this.prepared = null;
  }
  /** The label names embedded like the records (one row per label id, "card_arrival" read
   * as "card arrival" by src/tune/label_names.rs), for training on them as records of their labels (src/tune/label_names.rs);
   * kept until the names, the model or its precision change. */
  async labelNameEmbeddings(onStatus) {
    const p = this.project;
    const texts = p.labelNames.map(labelText);
    const key = `${p.model.id}|${p.precision}|${texts.join("\u0000")}`;
    if (this.names?.key === key) return this.names.emb;
    await this.ensureModel(onStatus, 1);
    const emb = await this.pool.embedFew(texts);
    this.names = { key, emb };
    return emb;
  }
  /** The check figure (src/measure/check/) for the current head, or null without one. */
  checkEstimate() {
    const p = this.project;
    if (this.preparingHead()) return null; // warmHead: in a moment
    const raw = this.baselineIndex();
    const tuned = this.tunedIndex();
    if (!raw || !tuned || !p.check.records.length) return null;
    const { k, key } = this.checkKey();
    const checks = Uint32Array.from(p.check.records);
    // the predictions depend on the head, the training labels and the check set, not on the
    // answers: computed once per head and check set, from the training labels of that moment,
    // then reused by every answer and every label made later (they never see an answer, which
    // is all the estimate needs of them; recomputing them at each label froze a tab of
    // 100,000 records for ~5 s per key press: bench/scale.mjs)
    if (this.prediction?.head !== p.head || this.prediction.key !== key || this.prediction.base !== raw) {
      this.prediction?.value.free();
      // built between frames by prepareHead when training ended
      const ready = this.prepared?.head === p.head && this.prepared.key === key && this.prepared.base === raw ? this.prepared.prediction : null;
      if (ready) this.prepared.prediction = null;
      this.prediction = { head: p.head, key, base: raw, value: ready ?? predictGain(raw, tuned, p.trainingLabels(), checks, k) };
    }
    // two of the neighbours moved in, and two of those moved out, are judged per check record
    // "not this label" said anywhere (check answers, sessions, rejected predictions) answers
    // the check's questions about that record
    const not = Uint32Array.from([...p.check.not.flat(), ...p.rejectedPairs()]);
    const known = p.knownLabels();
    // several views ask after every answer: computed once per state (each call searches the
    // top k of every check record twice, ~0.1 s at 400 check records)
    const same = this.estimate?.prediction === this.prediction && this.estimate.raw === raw && this.estimate.tuned === tuned;
    const stateKey = `${labelsSignature(known)}|${labelsSignature(not)}`;
    if (same && this.estimate.key === stateKey) return this.estimate.value;
    const value = checkGain(raw, tuned, checks, known, not, k, CHECK_PER_LIST, this.prediction.value);
    this.estimate = { prediction: this.prediction, raw, tuned, key: stateKey, value };
    return value;
  }
  /** The 2D maps' coordinates (rows * 2 each, PCA) of the records `rows`, one per entry of
   * `heads` (null: the raw map, else the head in use), computed over the page's own indices
   * in slices between frames (one iteration of the PCA each, the rows read in place: no copy;
   * a worker with a copy of 50,000 rows took ~300 MB at its peak). */
  async mapCoords(rows, heads) {
    const indexOf = (head) => (head == null ? this.rawIndex() : head === this.project.head ? this.tunedIndex() : null);
    const indices = heads.map(indexOf);
    if (!indices.every(Boolean)) throw new Error("a map needs the embeddings, and the head in use");
    const ids = Uint32Array.from(rows);
    const maps = [];
    for (const index of indices) {
      const build = index.startMap(ids);
      try {
        const same = () => indices.every((x, i) => x === indexOf(heads[i]));
        if (!(await inSlices(() => build.step(index, 1), same))) throw new Error("the records or the head changed while the map was drawn");
        maps.push(build.coords(index));
      } finally {
        build.free();
      }
    }
    return maps;
  }
  /** The flat embeddings of records `ids` (a Float32Array of ids.length x dim). */
  rows(ids) {
    const index = this.rawIndex();
    const dim = index.dim();
    const out = new Float32Array(ids.length * dim);
    // in chunks: each passes through the page's wasm memory, which never shrinks
    for (let s = 0; s < ids.length; s += 4096) out.set(index.gather(Uint32Array.from(ids.slice(s, s + 4096))), s * dim);
    return out;
  }
  /** What the trainer's worker needs for `labels` (one per record, -1: none) and settings
   * `config`: the labelled rows and their labels, and the rows of the dataset training reads
   * besides them (src/tune/pool.rs) — never a copy of every record (at 100,000 records, 150 MB
   * cloned into the worker, and a second time into its wasm memory). */
  trainingInput(labels, config) {
    const labelled = [];
    labels.forEach((l, i) => l >= 0 && labelled.push(i));
    const emb = this.rows(labelled);
    const pool = this.trainingPool(config);
    // "not this label" said outside the check (similarity sessions, rejected predictions) on
    // records neither training nor set aside for the check: negatives of that label, which
    // the triplet losses read (src/tune/loss/triplet.rs)
    const checks = new Set(this.project.check.records);
    const pairs = this.project.rejectedPairs();
    const notIds = [];
    const notLabels = [];
    for (let j = 0; j < pairs.length; j += 2) {
      const [i, id] = [pairs[j], pairs[j + 1]];
      if (labels[i] >= 0 || checks.has(i)) continue;
      notIds.push(i);
      notLabels.push(id);
    }
    const not = { rows: this.rows(notIds), labels: Uint32Array.from(notLabels) };
    // the similarity session that gave each label (0: none, or a confident prediction): the
    // pull holds a session's records against their label's records from outside it
    // (src/tune/prototype_pull.rs)
    const p = this.project;
    const sessions = Uint32Array.from(labelled, (i) => (labels[i] === p.labels[i] ? p.sessions[i] : 0));
    return {
      emb,
      labels: Int32Array.from(labelled, (i) => labels[i]),
      pool,
      not,
      sessions,
      transfer: [emb.buffer, pool.rows.buffer, pool.ids.buffer, not.rows.buffer, not.labels.buffer, sessions.buffer],
    };
  }
  /** The rows of the dataset a training with `config` reads besides its labels, as the
   * trainer's worker takes them ({rows, ids, total}; src/tune/pool.rs). */
  trainingPool(config) {
    const ids = trainingPoolRows(this.project.n, config);
    return { rows: this.rows(ids), ids, total: this.project.n };
  }
  /** Every record's predicted label (-1: none) and confidence in `index`'s space, from its
   * nearest training labels (www/predict.js): a promise of {label, confidence}, computed in
   * slices between frames; null when the index is freed or replaced meanwhile. */
  predictions(index) {
    const labels = this.project.trainingLabels();
    return this.keep("predictions", index, labelsSignature(labels), () => predict(index, labels, () => this.isLive(index)));
  }
  /** The predictions for `index` when they are in and current, else null (see `keep`). */
  readyPredictions(index) {
    return this.ready("predictions", index, labelsSignature(this.project.trainingLabels()));
  }
  /** The next `count` records to label and why (src/label/suggest.rs), in `index`'s space; check
   * records are never suggested: a promise, computed in slices between frames (at 100,000
   * records in one piece it froze the tab ~0.6 s); null when the index goes meanwhile. */
  suggest(index, count) {
    const labels = this.project.trainingLabels();
    const checks = Uint32Array.from(this.project.check.records);
    return this.keep("suggestions", index, this.suggestKey(count), async () => {
      const steps = startSuggest(index, labels, checks, count);
      try {
        const rows = sliceRows(labels);
        if (!(await inSlices(() => steps.step(index, rows), () => this.isLive(index)))) return null;
        return steps.finish(index);
      } finally {
        steps.free();
      }
    });
  }
  /** The suggestions for `index` when they are in and current, else null. */
  readySuggestions(index, count) {
    return this.ready("suggestions", index, this.suggestKey(count));
  }
  suggestKey(count) {
    return `${count} ${labelsSignature(this.project.trainingLabels())} ${labelsSignature(this.project.check.records)}`;
  }
  /** Whether `index` is still one the page holds (not freed). */
  isLive(index) {
    return index === this.indices.raw || index === this.indices.tuned;
  }
  /** A result kept per `slot`, for `index` and `key`: the promise of it, computed once per
   * index and key (the last one only); `ready` gives it once it is in. */
  keep(slot, index, key, compute) {
    const kept = this.kept[slot];
    if (kept?.index === index && kept.key === key) return kept.value;
    const value = compute();
    this.kept[slot] = { index, key, value, ready: null };
    value.then(
      (v) => this.kept[slot]?.value === value && (this.kept[slot].ready = v),
      () => this.kept[slot]?.value === value && (this.kept[slot] = null),
    );
    return value;
  }
  ready(slot, index, key) {
    const kept = this.kept[slot];
    return kept?.index === index && kept.key === key ? kept.ready : null;
  }
  /** A typed query's raw embedding, from a worker. */
  async embedQuery(text) {
    await this.ensureModel(() => {}, 1);
    return this.pool.embedFew([text]);
  }

  // ---- project file --------------------------------------------------------------------
  async newProject() {
    if (!confirm("Start a new project? Labels, the trained head and the dataset kept in this browser are deleted (export first to keep them).")) return;
    this.cancelEmbedding();
    this.trainer.restart();
    await store.clearAll();
    this.freeIndices();
    this.project.reset();
    $("embed-status").hidden = true;
    $("saved").textContent = "";
    for (const t of ["dataset", "labels", "head", "settings", "embeddings"]) this.project.emit(t);
    this.notify("New project: open a dataset to start.");
    this.show("open");
  }

  // ---- start ---------------------------------------------------------------------------
  async boot() {
    this.views = {
      open: createOpenView($("view-open"), this),
      label: createLabelView($("view-label"), this),
      session: createSessionView($("view-session"), this),
      train: createTrainView($("view-train"), this),
      compare: createCompareView($("view-compare"), this),
      map: createMapView($("view-map"), this),
    };
    this.next = createNextStep($("next-step"), this);
    for (const t of document.querySelectorAll(".tabs .tab")) t.addEventListener("click", () => this.show(t.dataset.view));
    $("notice-close").addEventListener("click", () => this.clearNotice());
    $("new-project").addEventListener("click", () => this.newProject().catch((e) => this.error(e)));
    $("export").addEventListener("click", () => {
      try {
        exportProject(this);
      } catch (e) {
        this.error(e, "Export failed");
      }
    });
    $("import-file").addEventListener("change", async (e) => {
      const f = e.target.files[0];
      e.target.value = "";
      if (f) await importProject(this, f).catch((err) => this.error(err, `Could not import ${f.name}`));
    });
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
      this.views[this.active]?.onKey?.(e);
    });
    for (const t of ["labels", "check", "log"]) this.project.addEventListener(t, () => this.scheduleSave(true));
    for (const t of ["head", "settings", "dataset"]) this.project.addEventListener(t, () => this.scheduleSave());
    this.project.addEventListener("head", () => {
      if (this.indices.tunedHead === this.project.head) return;
      this.indices.tuned?.free();
      this.indices.tuned = null;
      this.indices.tunedHead = null;
      this.warmHead();
    });
    addEventListener("pagehide", () => this.saveNow());

    try {
      document.documentElement.dataset.engine = await startEngine();
      this.defaults = defaultTrainConfig();
    } catch (e) {
      this.error(e, "The engine (pkg/simtune_bg.wasm) could not start");
      return;
    }
    document.body.dataset.ready = "engine";
    await this.restore();
    const link = readShareLink();
    if (link) {
      this.show("open");
      this.views.open.offerLink(link);
    }
    document.body.dataset.ready = "yes";
  }
  async restore() {
    let saved, file;
    try {
      [saved, file] = await Promise.all([store.get("project"), store.get("file")]);
    } catch (e) {
      this.error(e, "Could not read the saved project");
    }
    if (!saved) return this.show("open");
    const blob = file?.blob ?? (file?.bytes ? new Blob([file.bytes]) : null);
    try {
      if (!blob) throw new Error("the file is not kept in this browser (storage was full when it was opened)");
      const ds = await this.readRecords({ file: blob, name: file.name, columns: saved.columns });
      const outcome = this.project.restore(saved, ds.texts, ds.hashes);
      $("saved").textContent = "Restored from this browser";
      $("saved").dataset.state = "saved";
      if (outcome.moved || outcome.orphaned || outcome.lost) this.notify(`Restored: ${this.reattachSummary(outcome)}.`, outcome.lost ? "error" : "info");
      this.show("label");
      this.ensureEmbeddings();
    } catch (e) {
      // nothing saved is touched: opening the file again re-attaches the labels by text
      this.unrestored = saved;
      this.error(e, `Your project (${saved.file?.name}, ${(saved.keys?.length ?? 0) / 3} labelled or check records) could not be opened again; its labels are kept: open ${saved.file?.name ?? "the file"} again to get them back`);
      this.show("open");
    }
  }
}

/** What a storage failure means, in words. */
function storageHint(e) {
  return e?.name === "QuotaExceededError" ? "this browser's storage for the page is full" : String(e?.message ?? e);
}

const app = new App();
app.boot();
