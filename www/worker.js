// One wasm engine instance. The page's pool runs several of these (embedding), one more
// trains (cancel = terminate it) and one reads datasets (parse + hash), so a 100 MB file never
// blocks the tab. Messages: {id, op, args} -> {id, progress} / {id, result} / {id, error}.
import { SentenceEncoder, trainHead, prepareTraining, tuneEncoder, PoolRows, NotMarks, parseTable, loadDataset } from "../pkg/simtune.js";
import { startEngine } from "./engine.js";
import { datasetKey } from "./hash.js";
import { textHashes } from "./texthash.js";

const CACHE = "simtune-models";
const MISSING_HEADER = "x-simtune-missing";
const ready = startEngine();
let encoder = null;

async function modelFile(base, name, optional) {
  const cache = await caches.open(CACHE);
  const r = await cache.match(base + name);
  if (!r || r.headers.get(MISSING_HEADER)) {
    if (optional) return undefined;
    throw new Error(`model file ${name} is missing`);
  }
  return new Uint8Array(await r.arrayBuffer());
}

/** The model whose files the Cache API holds under `base`. */
async function loadEncoder(base, precision = "f32") {
  return new SentenceEncoder(...(await modelFiles(base)), precision);
}

/** The five files of the model under `base`, as the engine's constructors take them. */
async function modelFiles(base) {
  return [
    await modelFile(base, "config.json"),
    await modelFile(base, "tokenizer.json"),
    await modelFile(base, "model.safetensors"),
    await modelFile(base, "sentence_bert_config.json", true),
    await modelFile(base, "1_Pooling/config.json", true),
  ];
}

/** The preview reads at most this much of a file (cut at its last line break). */
const PREVIEW_BYTES = 1 << 20;

const ops = {
  /** Columns, the first `rows` rows and the row count of `file` (a File or Blob with a name);
   * a big file is previewed from its head only ({partial: true, rows estimated}). */
  async preview({ file, name, rows }) {
    if (file.size > PREVIEW_BYTES) {
      const head = new Uint8Array(await file.slice(0, PREVIEW_BYTES).arrayBuffer());
      const cut = head.lastIndexOf(10) + 1;
      try {
        if (cut > 0) {
          const table = parseTable(head.subarray(0, cut), name, rows);
          const estimate = Math.round((table.total_rows * file.size) / cut);
          return [{ ...table, partial: true, total_rows: estimate }, []];
        }
      } catch {
        // a JSON array, or a quoted field cut in two: read the whole file below
      }
    }
    return [parseTable(new Uint8Array(await file.arrayBuffer()), name, rows), []];
  },
  /** The records of `file` with `columns` {text: [..], label}, those without text, the
   * dataset key and the records' text hashes (texthash.js). */
  async load({ file, name, columns }) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const ds = loadDataset(bytes, { name, text_columns: columns.text, label_column: columns.label || null });
    const hashes = textHashes(ds.texts);
    return [{ texts: ds.texts, labels: ds.labels, decodedFrom: ds.decoded_from, withoutText: ds.without_text, key: await datasetKey(bytes, columns), hashes }, [hashes.buffer]];
  },
  async loadModel({ base, precision }) {
    encoder?.free();
    encoder = null;
    encoder = await loadEncoder(base, precision);
    return [{ dim: encoder.dim(), info: encoder.info() }, []];
  },
  /** Loads a model and frees it again: proves its files work before the page switches. */
  async checkModel({ base }) {
    const trial = await loadEncoder(base);
    const dim = trial.dim();
    trial.free();
    return [{ dim }, []];
  },
  /** {rows, truncated}: rows (texts.length x dim), and how many texts were longer than the
   * model reads (only their beginning is embedded). */
  embed({ texts }, progress) {
    if (!encoder) throw new Error("no model loaded");
    const rows = encoder.embed(texts, (done, total) => {
      progress([done, total]);
    });
    return [{ rows, truncated: encoder.lastTruncated() }, [rows.buffer]];
  },
  /** The model under `base` with its top layers tuned on `texts` labelled `classes` (label
   * ids; `names` by id, or null), in f32 whatever the page embeds with: {weights, records,
   * names, classes, model_layers, first_loss, last_loss}, `weights` its model.safetensors (lib's
   * tuneEncoder). Progress: [step, steps, loss]. */
  async tuneEncoder({ base, texts, classes, names, settings }, progress) {
    const out = tuneEncoder(...(await modelFiles(base)), texts, classes, names ?? undefined, settings, (step, steps, loss) => {
      progress([step, steps, loss]);
    });
    return [out, [out.weights.buffer]];
  },
  /** Finds and keeps the prototype pull's sample's neighbours for the trainings to come on
   * `pool` ({rows, ids, total}, as `train` takes it) with `config` (src/tune/sample_neighbours.rs):
   * the sample's rows. */
  prepare({ pool, dim, config }) {
    return [prepareTraining(new PoolRows(pool.rows, pool.ids, pool.total), dim, config), []];
  },
  /** {head, joinedLabels, config, pull, …}: the head's bytes, the labels whose names joined, the
   * settings run, the prototype pull the head started from (or null); see trainHead. `emb`:
   * the labelled rows (their `labels`); `pool` ({rows, ids, total}): the dataset's rows
   * training reads besides them; `not` ({rows, labels}): records marked "not" a label;
   * `sessions`: per labelled row, the similarity session that labelled it (0: none) (app.js
   * trainingInput). */
  train({ emb, dim, labels, config, names, pool, not, sessions }, progress) {
    const out = trainHead(
      emb,
      dim,
      labels,
      config,
      (step, loss, steps, fold, folds) => {
        progress([step, loss, steps, fold, folds]);
      },
      names ?? undefined,
      pool ? new PoolRows(pool.rows, pool.ids, pool.total) : undefined,
      not?.labels.length ? new NotMarks(not.rows, not.labels) : undefined,
      sessions ?? undefined,
    );
    return [out, [out.head.buffer]];
  },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    await ready;
    const progress = (p) => postMessage({ id, progress: p });
    const [result, transfer] = await ops[op](args, progress);
    postMessage({ id, result }, transfer);
  } catch (e) {
    postMessage({ id, error: String(e?.message ?? e) });
  }
};
