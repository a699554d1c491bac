// Model files: the default model (served next to the page), a Hugging Face hub id, or a
// dropped model folder. The main thread only moves files into the Cache API; each worker
// reads them from there itself (no second JS copy of the weights in the page).
import { sha256Hex } from "./hash.js";

export const CACHE = "simtune-models";
export const REQUIRED = ["config.json", "tokenizer.json", "model.safetensors"];
export const OPTIONAL = ["sentence_bert_config.json", "1_Pooling/config.json"];
/** The note `simtune tune-encoder` leaves in a model folder it wrote (docs/tuning.md). */
export const TUNING_NOTE = "simtune_tuning.json";
/** Marks an optional file the model does not have, so it is not asked for again. */
export const MISSING_HEADER = "x-simtune-missing";

export const DEFAULT_MODEL = {
  id: "all-MiniLM-L6-v2",
  kind: "default",
  base: new URL("../models/all-MiniLM-L6-v2/", import.meta.url).href,
};
/** Where the default model comes from when the site does not bundle it (a hosted dist/). */
export const DEFAULT_MODEL_HUB = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/";

export function hubModel(id) {
  const clean = id.trim().replace(/^https:\/\/huggingface\.co\//, "").replace(/\/+$/, "");
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(clean)) throw new Error(`"${id}" is not a Hugging Face model id (like sentence-transformers/all-MiniLM-L6-v2)`);
  return { id: `hf:${clean}`, kind: "hub", base: `https://huggingface.co/${clean}/resolve/main/` };
}

function checkConfig(json, where) {
  let cfg;
  try {
    cfg = JSON.parse(json);
  } catch (e) {
    throw new Error(`${where}config.json is not valid JSON: ${e.message}`);
  }
  if (cfg.model_type !== "bert") {
    throw new Error(
      `${where}config.json says model_type ${JSON.stringify(cfg.model_type ?? null)}, not "bert": simtune runs BERT-family sentence encoders (e.g. sentence-transformers/all-MiniLM-L6-v2)`,
    );
  }
}

/** Makes sure every file of `model` is in the cache; downloads what is missing. */
export async function ensureCached(model, onStatus = () => {}) {
  const cache = await caches.open(CACHE);
  for (const file of [...REQUIRED, ...OPTIONAL]) {
    const url = model.base + file;
    if (await cache.match(url)) continue;
    if (model.kind === "local") {
      if (REQUIRED.includes(file)) throw new Error(`the model folder has no ${file}; drop the folder again`);
      continue;
    }
    onStatus(`downloading ${file}…`);
    // the default model: next to the page when the site bundles it, else from the hub (kept
    // under the same cache key either way, so workers find it at model.base)
    const sources = model.kind === "default" ? [url, DEFAULT_MODEL_HUB + file] : [url];
    let r = null;
    let failed = null;
    for (const src of sources) {
      try {
        r = await fetch(src, { mode: "cors", credentials: "omit" });
      } catch (e) {
        failed = e;
        r = null;
        continue;
      }
      if (r.ok) break;
    }
    if (!r) {
      throw new Error(
        model.kind === "hub" || failed
          ? `could not reach huggingface.co for ${file}: you seem to be offline (a model already cached still works)`
          : `could not download ${file}: the network failed`,
      );
    }
    if (!r.ok) {
      if (OPTIONAL.includes(file)) {
        await cache.put(url, new Response("", { headers: { [MISSING_HEADER]: "1" } }));
        continue;
      }
      throw new Error(`${file} of model ${model.id}: HTTP ${r.status}${r.status === 401 || r.status === 404 ? " (is the model id right and public?)" : ""}`);
    }
    if (file === "config.json") {
      const text = await r.clone().text();
      checkConfig(text, "");
    }
    await cache.put(url, r);
  }
  onStatus("");
}

/** Copies a dropped model folder (a FileList from a webkitdirectory input) into the cache. */
export async function cacheFolder(fileList) {
  const files = [...fileList];
  if (!files.length) throw new Error("the chosen folder is empty");
  const root = (files[0].webkitRelativePath || files[0].name).split("/")[0];
  const byPath = new Map(files.map((f) => [f.webkitRelativePath.split("/").slice(1).join("/") || f.name, f]));
  const config = byPath.get("config.json");
  if (!config) throw new Error(`the folder "${root}" has no config.json: drop a Hugging Face model folder`);
  checkConfig(await config.text(), `${root}/`);
  for (const f of REQUIRED) {
    if (!byPath.has(f)) throw new Error(`the folder "${root}" has no ${f}: simtune needs ${REQUIRED.join(", ")}`);
  }
  const model = { kind: "local", name: root };
  const note = byPath.get(TUNING_NOTE);
  if (note) model.tuning = readTuning(await note.text());
  return putLocalModel(model, byPath);
}

/** The five files that make a model's embeddings, as they lie in the cache. */
const IDENTITY = ["config.json", "tokenizer.json", "model.safetensors", "sentence_bert_config.json", "1_Pooling/config.json"];

/** Puts a local model's files (`byPath`: name -> Blob or File, missing optional files left
 * out) into the cache under an id and base made from their content (SHA-256): two fine-tunes
 * of one architecture must not share cached embeddings. Fills in `model`'s id, hash, base. */
async function putLocalModel(model, byPath) {
  const digests = [];
  for (const f of IDENTITY) {
    const file = byPath.get(f);
    digests.push(file ? await sha256Hex(await file.arrayBuffer()) : "-");
  }
  const hash = (await sha256Hex(new TextEncoder().encode(digests.join(":")))).slice(0, 24);
  Object.assign(model, { id: `local:${model.name}:${hash}`, hash, base: new URL(`/__local-model/${hash}/`, location.href).href });
  const cache = await caches.open(CACHE);
  for (const f of [...REQUIRED, ...OPTIONAL]) {
    const file = byPath.get(f);
    const body = file ? new Response(file) : new Response("", { headers: { [MISSING_HEADER]: "1" } });
    await cache.put(model.base + f, body);
  }
  return model;
}

/** `base` (a cached model) with its model.safetensors replaced by `weights`, the encoder
 * tuned in the page (worker.js tuneEncoder): kept in the cache as a local model whose
 * `tuning` says how it was made ({layers, labels, classes, data, inPage: true}). */
export async function cacheTunedModel(base, weights, tuning) {
  const cache = await caches.open(CACHE);
  const byPath = new Map();
  for (const f of [...REQUIRED, ...OPTIONAL]) {
    if (f === "model.safetensors") {
      byPath.set(f, new Blob([weights]));
      continue;
    }
    const r = await cache.match(base.base + f);
    if (!r) throw new Error(`${f} of ${modelName(base)} is no longer in this browser's cache: load the model again`);
    if (!r.headers.get(MISSING_HEADER)) byPath.set(f, await r.blob());
  }
  // a local model by its name; the default and hub models by their id ("hf:" dropped)
  const baseName = base.name ?? base.id.replace(/^hf:/, "");
  return putLocalModel({ kind: "local", name: baseName, tuning: { ...tuning, inPage: true } }, byPath);
}

export function modelName(model) {
  if (model.kind === "default") return "all-MiniLM-L6-v2 (default)";
  if (model.kind === "hub") return model.id.slice(3) + " (Hugging Face)";
  if (model.tuning?.inPage) return `${model.name} (${model.tuning.layers != null ? `top ${model.tuning.layers} layers ` : ""}tuned here on your labels)`;
  if (model.tuning) return `${model.name} (dropped folder, tuned by simtune)`;
  return `${model.name} (dropped folder)`;
}

/** What a folder's tuning note says, as far as it can be read: { layers, labels, classes,
 * data } (null where a field is missing or not what simtune writes). */
export function readTuning(text) {
  let note = null;
  try {
    note = JSON.parse(text);
  } catch {
    // an unreadable note still says the folder was tuned
  }
  const count = (v) => (Number.isInteger(v) && v >= 0 ? v : null);
  return {
    layers: count(note?.tuned_layers),
    labels: count(note?.labels),
    classes: count(note?.classes),
    data: typeof note?.data === "string" && note.data ? note.data : null,
  };
}

/** A sentence on a tuned encoder: what it was tuned on, and what keeps the check honest. */
export function tuningSentence(tuning) {
  if (!tuning) return "";
  const what = [
    tuning.layers != null ? `its top ${tuning.layers} layer${tuning.layers === 1 ? " was" : "s were"} tuned` : "it was tuned",
    tuning.labels != null ? ` on ${tuning.labels} labelled records` : " on labels",
    tuning.classes != null ? ` of ${tuning.classes} classes` : "",
    tuning.data ? ` from ${tuning.data}` : "",
  ].join("");
  if (tuning.inPage) {
    return `This encoder was itself trained here: ${what}. Those labels are this project's; the check never sets aside a labelled record, so keep them (a record unlabelled after tuning and then drawn as a check record would make the check's figure too good).`;
  }
  const file = tuning.data ? "that file" : "the file it was tuned on";
  return `This encoder was itself trained: ${what}. Open ${file} here with the same label column, so those labels come in: the check never sets aside a labelled record, and one the encoder learnt from would make its figure too good.`;
}
