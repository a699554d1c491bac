// In the page, for the browser tests: the cache key of a dataset's embeddings and the
// embeddings the page keeps for its saved project, by the page's own rules (www/hash.js
// embeddingKey over the records' texts, the precision the project uses).
import init, { loadDataset } from "../../pkg/simtune.js";
import * as store from "../../www/store.js";
import { DEFAULT_MODEL } from "../../www/model.js";
import { embeddingKey } from "../../www/hash.js";
import { textHashes } from "../../www/texthash.js";
import { Project } from "../../www/state.js";

/** The records' texts of file `bytes` named `name`, read with `textColumns`. */
export async function textsOf(bytes, name, textColumns) {
  await init();
  return loadDataset(bytes, { name, text_columns: textColumns, label_column: null }).texts;
}

/** The cache key of the default model's `precision` embeddings of `texts`. */
export const keyOf = (texts, precision) => embeddingKey(DEFAULT_MODEL.id, precision, textHashes(texts));

/** The saved project, its records' texts, its precision and the embeddings cached for them. */
export async function savedEmbeddings() {
  const saved = await store.get("project");
  const file = await store.get("file");
  const texts = await textsOf(new Uint8Array(await file.blob.arrayBuffer()), file.name, saved.columns.text);
  const precision = saved.settings.precision ?? new Project().precision;
  // read as the page reads them (store.readEmbeddings), into one array
  const n = texts.length;
  const into = (dim) => ({
    n,
    dim,
    data: new Float32Array(n * dim),
    at: 0,
    pushRows(rows) {
      this.data.set(rows, this.at);
      this.at += rows.length;
    },
    free() {},
  });
  return { saved, texts, precision, emb: await store.readEmbeddings(await keyOf(texts, precision), n, into) };
}
