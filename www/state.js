// The project in memory: records, labels (with undo), the head and settings. Views change it
// through these methods; each change is announced as an event ("labels", "head", "settings",
// "dataset", "embeddings") so views redraw and the app saves.
import { DEFAULT_MODEL } from "./model.js";
import { hashKey, recordsByKey, savedKeys } from "./texthash.js";

export class Project extends EventTarget {
  constructor() {
    super();
    this.reset();
  }
  reset() {
    this.file = null; // {name, size}
    this.columns = { text: [], label: null };
    this.datasetKey = null;
    this.texts = [];
    this.hashes = new Uint32Array(0); // texthash.js: two per record
    this.labelNames = [];
    this.labels = new Int32Array(0);
    /** Per record, the similarity session that gave its label (1, 2, …; 0: none): training
     * holds a session's records against their label's records from outside the session. */
    this.sessions = new Uint32Array(0);
    this.history = [];
    this.model = { ...DEFAULT_MODEL };
    /** The records' embeddings are ready: they live once, in the page's raw search index
     * (app.js rawIndex), not in a copy here. */
    this.embedded = false;
    this.dim = 0;
    this.head = null;
    this.trainConfig = null;
    /** Labels whose records are no longer in the dataset (the file changed): [{text, label}].
     * Kept, saved and exported, never dropped. */
    this.orphans = [];
    /** Predictions the person rejected: record -> label ids it is NOT (views/label.js). */
    this.rejected = new Map();
    /** The experiment log (views/log.js): one entry per training run. */
    this.log = [];
    this.headRun = null; // the log run whose head is in use
    this.clearCheck();
    // sessionSpread: a similarity session shows every this-many-th of the anchor's nearest
    // records (4: its 25 from the nearest 100; 1: the nearest only). Labels spread over its
    // group teach the head more than its closest records (docs/tuning.md, stop 39;
    // `protocol.rs` PAGE_SESSION_SPREAD replays it).
    this.settings = { sessionK: 25, sessionSpread: 4, compareK: 10, checkK: 10, checkCount: 40 };
  }
  get n() {
    return this.texts.length;
  }
  /** The encoder's arithmetic: "int8" (the default: ~1.5x faster, embeddings within
   * cosine 0.99 of f32; tests/encoder_int8.rs) or "f32" (exact). */
  get precision() {
    return this.settings.precision ?? "int8";
  }
  /** The Train step's switches, with their defaults where the person has not set them: the
   * label names as records, the prototype pull, centring (stop 49), the smoothed pull (stop
   * 52) on; the safeguard off. The Models view trains with the same (it had once kept its
   * own defaults, and left centring off). Named as TrainConfig's fields, `label_names` aside. */
  get trainSwitches() {
    const s = this.settings;
    return {
      label_names: s.useLabelNames ?? true,
      prototype_pull: s.usePrototypePull ?? true,
      center: s.useCenter ?? true,
      smooth_targets: s.useSmoothTargets ?? true,
      safeguard: s.useSafeguard ?? false,
    };
  }
  emit(type) {
    this.dispatchEvent(new Event(type));
  }
  setDataset({ file, columns, key, texts, hashes, labels }) {
    this.file = file;
    this.columns = columns;
    this.datasetKey = key;
    this.texts = texts;
    this.hashes = hashes;
    this.labelNames = [];
    this.labels = new Int32Array(texts.length).fill(-1);
    this.sessions = new Uint32Array(texts.length);
    this.history = [];
    this.rejected = new Map();
    this.head = null;
    this.log = [];
    this.headRun = null;
    this.clearCheck();
    this.embedded = false;
    if (labels) {
      labels.forEach((l, i) => {
        if (l != null && String(l).trim()) this.labels[i] = this.labelId(String(l).trim(), true);
      });
    }
    this.emit("dataset");
    this.emit("labels");
    this.emit("head");
  }
  /** The id of label `name`, created when `create`; -1 when absent. */
  labelId(name, create = false) {
    let id = this.labelNames.indexOf(name);
    if (id < 0 && create) {
      id = this.labelNames.length;
      this.labelNames.push(name);
    }
    return id;
  }
  addLabel(name) {
    const clean = name.trim();
    if (!clean) throw new Error("a label needs a name");
    const id = this.labelId(clean, true);
    this.emit("labels");
    return id;
  }
  /** Gives `indices` the label id (-1 clears), from similarity session `session` (0: none;
   * see newSession); undoable. */
  setLabels(indices, id, session = 0) {
    if (!indices.length) return;
    this.history.push({ indices: [...indices], prev: indices.map((i) => this.labels[i]), prevSessions: indices.map((i) => this.sessions[i]) });
    if (this.history.length > 500) this.history.shift();
    for (const i of indices) {
      this.labels[i] = id;
      this.sessions[i] = id >= 0 ? session : 0;
    }
    this.emit("labels");
  }
  /** An id for a new similarity session: one above every session id in use. */
  newSession() {
    let top = 0;
    for (const s of this.sessions) if (s > top) top = s;
    return top + 1;
  }
  /** Says records `indices` are NOT of label `id` (their prediction rejected): they leave
   * the "predicted" filter of that label; undoable. */
  reject(indices, id) {
    const fresh = indices.filter((i) => !this.isRejected(i, id));
    if (!fresh.length) return;
    for (const i of fresh) this.markRejected(i, id);
    this.history.push({ indices: [], prev: [], rejected: { id, indices: fresh } });
    if (this.history.length > 500) this.history.shift();
    this.emit("labels");
  }
  markRejected(i, id) {
    (this.rejected.get(i) ?? this.rejected.set(i, new Set()).get(i)).add(id);
  }
  isRejected(i, id) {
    return this.rejected.get(i)?.has(id) ?? false;
  }
  /** Every "record i is not label id" said outside the check (rejected predictions, "not
   * the anchor's label" in sessions), flat: [i, id, i, id, …]. */
  rejectedPairs() {
    return [...this.rejected].flatMap(([i, ids]) => [...ids].flatMap((id) => [i, id]));
  }
  undo() {
    const last = this.history.pop();
    if (!last) return null;
    last.indices.forEach((i, j) => {
      this.labels[i] = last.prev[j];
      this.sessions[i] = last.prevSessions?.[j] ?? 0;
    });
    for (const i of last.rejected?.indices ?? []) this.rejected.get(i)?.delete(last.rejected.id);
    this.emit("labels");
    return last;
  }
  labelName(i) {
    const l = this.labels[i];
    return l >= 0 ? this.labelNames[l] : null;
  }
  // ---- the check set (the honest figure, see src/measure/check/) -------------------------------
  // Records drawn at random among the unlabelled ones; the person labels them and judges the
  // neighbours tuning moved around them. Kept apart from the training labels: the head never
  // trains on a check record, nor on a judgment made while checking.
  clearCheck() {
    this.check = { records: [], labels: new Map(), not: [] };
    this.emit("check");
  }
  setCheck(records) {
    this.check = { records: [...records], labels: new Map(), not: [] };
    this.emit("check");
  }
  /** More check records, the answers so far kept: records drawn at random among those neither
   * labelled nor checked extend the random sample (the union is one too). */
  addChecks(records) {
    const have = new Set(this.check.records);
    this.check.records.push(...[...records].filter((r) => !have.has(r)));
    this.emit("check");
  }
  isCheck(i) {
    return this.check.records.includes(i);
  }
  /** Records i is (or is not, `same` false) of label `id`, as said while checking. */
  judge(i, id, same = true) {
    if (same) this.check.labels.set(i, id);
    else if (!this.check.not.some(([r, l]) => r === i && l === id)) this.check.not.push([i, id]);
    this.emit("check");
  }
  undoJudge(i, id) {
    this.check.labels.delete(i);
    this.check.not = this.check.not.filter(([r, l]) => !(r === i && l === id));
    this.emit("check");
  }
  /** The labels training uses: the person's labels, check records left out. */
  trainingLabels() {
    const out = Int32Array.from(this.labels);
    for (const r of this.check.records) out[r] = -1;
    return out;
  }
  /** What is known of record i's label (-1: nothing): said while checking, else its label. */
  knownLabel(i) {
    return this.check.labels.get(i) ?? this.labels[i];
  }
  /** knownLabel of every record, for the check figure. */
  knownLabels() {
    const out = Int32Array.from(this.labels);
    for (const [r, id] of this.check.labels) out[r] = id;
    return out;
  }
  counts() {
    const c = new Array(this.labelNames.length).fill(0);
    let labelled = 0;
    const held = new Set(this.check.records);
    for (let i = 0; i < this.labels.length; i++) {
      const l = this.labels[i];
      if (l >= 0 && !held.has(i)) (c[l]++, labelled++);
    }
    return { perLabel: c, labelled, classes: c.filter((x) => x > 0).length };
  }
  setHead(head, config) {
    this.head = head;
    if (config) this.trainConfig = config;
    this.emit("head");
  }
  savedCheck() {
    return { records: this.check.records, labels: [...this.check.labels], not: this.check.not };
  }
  loadCheck(c) {
    const n = this.texts.length;
    const ok = (r) => Number.isInteger(r) && r >= 0 && r < n;
    const okLabel = (l) => Number.isInteger(l) && l >= 0 && l < this.labelNames.length;
    this.check = {
      records: (c?.records ?? []).filter(ok),
      labels: new Map((c?.labels ?? []).filter(([r, l]) => ok(r) && okLabel(l))),
      not: (c?.not ?? []).filter(([r, l]) => ok(r) && okLabel(l)),
    };
    this.emit("check");
  }
  /** What IndexedDB keeps (the file bytes and embeddings are kept apart). `keys` holds
   * [record, hash1, hash2] of every record that carries a label, is a check record or was
   * judged while checking, so they find their records again by text if the records change
   * under them (without a key, the check's answers about neighbours were dropped at every
   * reload, and its questions came back). */
  toSaved() {
    const keep = new Set(this.check.records);
    this.labels.forEach((l, i) => l >= 0 && keep.add(i));
    for (const [r] of this.check.labels) keep.add(r);
    for (const [r] of this.check.not) keep.add(r);
    const keys = new Uint32Array(keep.size * 3);
    let k = 0;
    for (const i of keep) keys.set([i, this.hashes[2 * i], this.hashes[2 * i + 1]], 3 * k++);
    return {
      version: 2,
      keys,
      orphans: this.orphans,
      rejected: [...this.rejected].flatMap(([i, ids]) => [...ids].map((l) => [this.hashes[2 * i], this.hashes[2 * i + 1], this.labelNames[l]])),
      file: this.file,
      columns: this.columns,
      datasetKey: this.datasetKey,
      labelNames: this.labelNames,
      labels: this.labels,
      sessions: this.sessions,
      model: this.model,
      head: this.head,
      trainConfig: this.trainConfig,
      check: this.savedCheck(),
      settings: this.settings,
      log: this.log,
      headRun: this.headRun,
    };
  }
  /** Records a training run in the log; its head becomes the one in use. */
  logRun(entry) {
    const run = (this.log.at(-1)?.run ?? 0) + 1;
    this.log.push({ run, at: new Date().toISOString(), note: "", figure: null, ...entry });
    this.headRun = run;
    this.emit("log");
    return run;
  }
  /**
   * Restores a saved project over the records read again from the saved file (or a new
   * version of it): `texts` and their `hashes`. Labels and check records follow their text:
   * kept where it is unchanged, moved to the same text elsewhere, and kept aside in `orphans`
   * when it is gone. Returns {kept, moved, orphaned, lost} (labels; `lost`: saved by an
   * older version without record identities, on records that changed).
   */
  restore(saved, texts, hashes) {
    this.file = saved.file;
    this.columns = saved.columns;
    this.datasetKey = saved.datasetKey;
    this.texts = texts;
    this.hashes = hashes;
    this.labelNames = [...(saved.labelNames ?? [])].map(String);
    this.labels = new Int32Array(texts.length).fill(-1);
    this.sessions = new Uint32Array(texts.length);
    this.model = saved.model ?? { ...DEFAULT_MODEL };
    this.head = saved.head ?? null;
    this.trainConfig = saved.trainConfig ?? null;
    this.settings = { ...this.settings, ...saved.settings };
    this.log = Array.isArray(saved.log) ? saved.log : [];
    this.headRun = saved.headRun ?? null;
    const outcome = this.reattach(saved);
    this.emit("dataset");
    this.emit("labels");
    this.emit("head");
    return outcome;
  }
  /** Places the labels, check records and orphans of `saved` on the current records by
   * text (see restore), over the labels already here; label ids go by name. `oldTexts`
   * (when the saved project is still in memory) gives orphans their text for export. */
  reattach(saved, oldTexts = null) {
    const n = this.texts.length;
    const savedKey = savedKeys(saved.keys);
    const names = saved.labelNames ?? [];
    const idOf = (l) => (Number.isInteger(l) && l >= 0 && l < names.length ? this.labelId(String(names[l]), true) : -1);
    const byKey = recordsByKey(this.hashes);
    const old = saved.labels ?? [];
    const oldSessions = saved.sessions ?? [];
    const taken = new Set();
    /** Where saved record i is now: the same index if its text is unchanged, else the first
     * record not yet taken with that text; -1 when the text is gone. */
    const place = (i, claim = true) => {
      const key = savedKey.get(i);
      // saved before records had identities (version 1): by index, when the count agrees
      if (!saved.keys) return old.length === n && i < n ? i : -1;
      if (key === undefined) return -1;
      const j = i < n && hashKey(this.hashes, i) === key && !(claim && taken.has(i)) ? i : byKey.get(key)?.find((x) => !(claim && taken.has(x))) ?? -1;
      if (claim && j >= 0) taken.add(j);
      return j;
    };
    const orphans = [...(saved.orphans ?? [])];
    let kept = 0;
    let moved = 0;
    let lost = 0;
    for (let i = 0; i < old.length; i++) {
      const l = idOf(old[i]);
      if (l < 0) continue;
      const j = place(i);
      if (j < 0) {
        if (savedKey.has(i)) orphans.push({ key: savedKey.get(i), text: oldTexts?.[i] ?? null, label: this.labelNames[l] });
        else lost++;
        continue;
      }
      this.labels[j] = l;
      this.sessions[j] = Number.isInteger(oldSessions[i]) && oldSessions[i] > 0 ? oldSessions[i] : 0;
      j === i ? kept++ : moved++;
    }
    // orphans whose text is back (the file was edited back) take their place again
    this.orphans = [];
    for (const o of orphans) {
      const j = byKey.get(o.key)?.find((x) => this.labels[x] < 0);
      if (j === undefined) this.orphans.push(o);
      else (this.labels[j] = this.labelId(o.label, true)), moved++;
    }
    this.history = [];
    // rejected predictions follow their record's text, like labels
    for (const [h1, h2, name] of Array.isArray(saved.rejected) ? saved.rejected : []) {
      const id = this.labelId(String(name));
      for (const i of byKey.get(`${h1},${h2}`) ?? []) if (id >= 0) this.markRejected(i, id);
    }
    const c = saved.check ?? {};
    const at = (i) => place(i, false);
    const pairs = (list) => (list ?? []).map(([r, l]) => [at(r), idOf(l)]).filter(([r, l]) => r >= 0 && l >= 0);
    this.loadCheck({ records: (c.records ?? []).map(at).filter((r) => r >= 0), labels: pairs(c.labels), not: pairs(c.not) });
    return { kept, moved, orphaned: this.orphans.length, lost };
  }
}
