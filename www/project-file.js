// Export / import of the project as one JSON file — the bundle defined once in Rust
// (src/data/project.rs, which the CLI's --project / --project-out read and write too): labels by
// record text + index (and the labels kept aside whose records left the file), settings, the
// check set (records + judgments, by text + index) and its figure, the experiment log, the
// model id, the dataset (name, key, digest of its texts, source URL), the head as base64
// safetensors. The engine checks every field on the way out and on the way in.
//
// Import trusts nothing: the format and version are checked, the head is parsed and its
// dimension compared with the model's, a head from another model is refused unless the person
// says so, and the person sees what changes (new labels, labels that differ from theirs,
// records not found) before anything is replaced. Labels merge: records labelled only here
// keep their labels.
import { headDim, readProject, writeProject, textsDigest } from "../pkg/simtune.js";
import { hashKey, textHashes, recordsByKey, savedKeys } from "./texthash.js";
import { download, baseName } from "./dom.js";

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function fromBase64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The project document: from the open project, or from a saved one that could not be
 * opened again (`app.unrestored`: records known by index and text hash only), so labels can
 * always be taken away. */
function projectDoc(app) {
  const p = app.project;
  const saved = p.n ? p.toSaved() : app.unrestored;
  if (!saved) throw new Error("there is no project to export yet: open a dataset first");
  const keyOf = savedKeys(saved.keys);
  // a record by its text when the records are here, else by its text hash
  const entry = (i) => (p.n ? { index: i, text: p.texts[i] } : { index: i, key: keyOf.get(i) ?? null });
  const name = (l) => saved.labelNames[l];
  const labels = [];
  (saved.labels ?? []).forEach((l, i) => {
    const session = saved.sessions?.[i] ?? 0;
    if (l >= 0) labels.push({ ...entry(i), label: name(l), ...(session > 0 ? { session } : {}) });
  });
  for (const o of saved.orphans ?? []) labels.push({ index: null, text: o.text ?? undefined, key: o.key, label: o.label });
  const c = saved.check ?? { records: [], labels: [], not: [] };
  // the format and version are the engine's to stamp (writeProject)
  return {
    exported: new Date().toISOString(),
    dataset: {
      name: saved.file?.name ?? null,
      records: p.n || null,
      key: saved.datasetKey ?? null,
      textsHash: p.n ? textsDigest(p.hashes) : null,
      source: saved.file?.source ?? null,
      columns: saved.columns ?? null,
    },
    model: { id: saved.model?.id, kind: saved.model?.kind, ...(saved.model?.tuning ? { tuning: saved.model.tuning } : {}) },
    labelNames: saved.labelNames,
    labels,
    settings: { ...saved.settings, precision: p.precision },
    trainConfig: saved.trainConfig,
    check: {
      records: c.records.map(entry),
      labels: c.labels.map(([i, l]) => ({ ...entry(i), label: name(l) })),
      not: c.not.map(([i, l]) => ({ ...entry(i), label: name(l) })),
    },
    head: saved.head ? toBase64(saved.head) : null,
    metrics: p.n ? checkMetrics(app) : undefined,
    log: saved.log ?? [],
  };
}

/** The check's figure for the head in use, when every check record is answered. */
function checkMetrics(app) {
  let est = null;
  try {
    est = app.checkEstimate();
  } catch {
    return undefined;
  }
  const o = est?.overall;
  if (!o || est.pending_checks + est.unlabelled_checks) return undefined;
  return { k: est.k, gain: o.gain, low: o.low, high: o.high, checks: o.checks };
}

/** The project file's text (checked by the engine). */
export function projectJson(app) {
  return writeProject(JSON.stringify(projectDoc(app)));
}

export function exportProject(app) {
  const text = projectJson(app);
  const blob = new Blob([text], { type: "application/json" });
  download(blob, `${baseName(app.project.file?.name ?? app.unrestored?.file?.name ?? "project")}.simtune.json`);
}

/** Reads and checks a project file (the engine: format, version, every field, the head);
 * throws an Error naming what is wrong. */
async function readDoc(file) {
  return JSON.parse(readProject(await file.text()));
}

/** The head of `doc` as bytes with its dimension, or null; throws when it is damaged. */
function readHead(doc) {
  if (doc.head == null) return null;
  let bytes;
  try {
    if (typeof doc.head !== "string") throw new Error("not text");
    bytes = fromBase64(doc.head);
  } catch {
    throw new Error(`its trained head is damaged (not base64 text)`);
  }
  try {
    return { bytes, dim: headDim(bytes) };
  } catch (e) {
    throw new Error(`its trained head is damaged: ${e.message}`);
  }
}

export async function importProject(app, file) {
  const p = app.project;
  if (!p.n) throw new Error("open the project's dataset first, then import its labels");
  const doc = await readDoc(file);
  let head = readHead(doc);
  const notes = [];
  if (head && p.dim && head.dim !== p.dim) {
    notes.push(`its head (for ${head.dim}-dimensional embeddings) does not fit this model (${p.dim}) and is not imported`);
    head = null;
  }
  const fileModel = typeof doc.model?.id === "string" ? doc.model.id : null;
  if (head && fileModel !== p.model.id) {
    // an encoder tuned in the page lives in that browser only: its labels can tune it again here
    const tunedThere = doc.model?.tuning?.inPage
      ? ` That model is ${typeof doc.model.tuning.base === "string" ? doc.model.tuning.base : "an encoder"} with its top layers tuned on the project's labels in another browser; its weights are not in the file: import the labels, then Train → "Tune and compare" tunes it again from them.`
      : "";
    const ok = confirm(
      `${file.name} holds a head trained on the embeddings of ${fileModel ?? "an unknown model"}, but this project uses ${p.model.id}: applied here its "tuned" results would be meaningless.${tunedThere}\n\nOK: import the labels only. Cancel: import nothing.`,
    );
    if (!ok) return;
    notes.push(`its head (trained on ${fileModel ?? "an unknown model"}) is left out`);
    head = null;
  }

  // where each entry lands: by index when the text agrees, else by text
  const byText = new Map();
  p.texts.forEach((t, i) => byText.has(t) || byText.set(t, i));
  const find = (e) => {
    if (typeof e?.text !== "string") return typeof e?.key === "string" ? recordsByKey(p.hashes).get(e.key)?.[0] : undefined;
    return Number.isInteger(e.index) && p.texts[e.index] === e.text ? e.index : byText.get(e.text);
  };
  const clean = (l) => (typeof l === "string" || typeof l === "number" ? String(l).trim() : "");
  const incoming = new Map(); // record -> label name
  const fromSession = new Map(); // record -> the file's session id of its label
  const orphans = [];
  let invalid = 0;
  for (const e of doc.labels) {
    const label = clean(e?.label);
    if (!label || (typeof e?.text !== "string" && typeof e?.key !== "string")) {
      invalid += e?.label == null ? 0 : 1;
      continue;
    }
    const i = find(e);
    if (i === undefined) {
      const key = typeof e.text === "string" ? hashKey(textHashes([e.text]), 0) : e.key;
      orphans.push({ text: e.text ?? null, key, label });
    }
    else {
      incoming.set(i, label);
      if (Number.isInteger(e.session) && e.session > 0) fromSession.set(i, e.session);
    }
  }
  let fresh = 0;
  let same = 0;
  let differ = 0;
  for (const [i, label] of incoming) {
    const mine = p.labelName(i);
    if (mine === null) fresh++;
    else if (mine === label) same++;
    else differ++;
  }
  const mineOnly = p.counts().labelled - same - differ;
  // other records: told by the digest of the texts (any file with these records agrees), else
  // by the file's key (files exported by version 1)
  const digest = doc.dataset?.textsHash;
  const otherData = digest ? digest !== textsDigest(p.hashes) : doc.dataset?.key && doc.dataset.key !== p.datasetKey;
  const checkIn = Array.isArray(doc.check?.records) ? doc.check.records.length : 0;
  const summary = [
    `Import ${file.name}${otherData ? ` (made on another file: ${doc.dataset?.name ?? "unnamed"}; records matched by their text)` : ""}?`,
    `${incoming.size} labels land on records here: ${fresh} new, ${same} the same as yours, ${differ} DIFFERENT from yours${differ ? " (the file's label replaces yours)" : ""}.`,
    orphans.length ? `${orphans.length} labels are for records not in this dataset: kept aside and exported with the project.` : "",
    mineOnly > 0 ? `Your ${mineOnly} labels the file does not have are kept.` : "",
    checkIn ? `The check set is replaced by the file's (${checkIn} records).` : "",
    head ? (p.head ? "Your trained head is replaced by the file's." : "The file's trained head is imported.") : "",
    ...notes.map((n) => `Note: ${n}.`),
  ].filter(Boolean);
  if (!confirm(summary.join("\n"))) return;

  const undo = { indices: [...incoming.keys()], prev: [...incoming.keys()].map((i) => p.labels[i]), prevSessions: [...incoming.keys()].map((i) => p.sessions[i]) };
  // the file's sessions stay sessions, numbered after this project's own
  const firstSession = p.newSession() - 1;
  for (const [i, label] of incoming) {
    p.labels[i] = p.labelId(label, true);
    p.sessions[i] = fromSession.has(i) ? firstSession + fromSession.get(i) : 0;
  }
  for (const n of Array.isArray(doc.labelNames) ? doc.labelNames : []) if (clean(n)) p.labelId(clean(n), true);
  const id = (o) => `${o.label}\u0000${o.text ?? o.key}`;
  const known = new Set(p.orphans.map(id));
  for (const o of orphans) if (!known.has(id(o))) p.orphans.push(o);
  p.history.push(undo);
  // the encoder's precision stays this browser's choice (a head fits f32 and int8 embeddings
  // alike: they agree to cosine 0.99); changing it here would leave the embeddings stale
  if (doc.settings && typeof doc.settings === "object") {
    const { precision: _, ...settings } = doc.settings;
    p.settings = { ...p.settings, ...settings };
  }
  if (doc.trainConfig && typeof doc.trainConfig === "object") p.trainConfig = doc.trainConfig;
  if (checkIn) {
    const pairs = (list) =>
      (Array.isArray(list) ? list : []).map((e) => [find(e), clean(e?.label) ? p.labelId(clean(e.label), true) : -1]).filter(([i, l]) => i !== undefined && l >= 0);
    p.loadCheck({ records: doc.check.records.map(find).filter((i) => i !== undefined), labels: pairs(doc.check.labels), not: pairs(doc.check.not) });
  }
  if (head) p.head = head.bytes;
  // the file's experiment log joins this one (runs told apart by their time)
  const runs = (Array.isArray(doc.log) ? doc.log : []).filter((r) => r && typeof r.at === "string" && !p.log.some((m) => m.at === r.at));
  if (runs.length) {
    const inUse = head ? runs.at(-1).at : p.log.find((r) => r.run === p.headRun)?.at;
    p.log = [...p.log, ...runs].sort((a, b) => a.at.localeCompare(b.at)).map((r, i) => ({ ...r, run: i + 1 }));
    p.headRun = p.log.find((r) => r.at === inUse)?.run ?? null;
    p.emit("log");
  }
  p.emit("labels");
  p.emit("settings");
  p.emit("head");
  const done = [`Imported ${incoming.size} labels (${fresh} new, ${differ} changed, ${same} already the same)`];
  if (orphans.length) done.push(`${orphans.length} kept aside (records not in this dataset)`);
  if (invalid) done.push(`${invalid} entries skipped (no text or a label that is not text)`);
  if (head) done.push("the trained head");
  app.notify(`${done.join("; ")}.${notes.length ? ` Note: ${notes.join("; ")}.` : ""}`);
}
