// IndexedDB persistence (via the vendored `idb` library): the project (labels, head,
// settings, chosen columns), the dropped file's bytes, and embeddings keyed by the model and
// the records' texts (app.js embeddingKey), plus the chunks of an unfinished embedding.
import { openDB } from "./vendor/idb.js";

const dbp = openDB("simtune", 1, {
  upgrade(db) {
    db.createObjectStore("kv");
    db.createObjectStore("embeddings");
  },
});

export async function get(key) {
  return (await dbp).get("kv", key);
}
export async function put(key, value) {
  return (await dbp).put("kv", value, key);
}
export async function getEmbeddings(key) {
  return (await dbp).get("embeddings", key);
}
export async function putEmbeddings(key, value) {
  return (await dbp).put("embeddings", value, key);
}
/** Saves a dataset's embeddings (`data`: n x dim rows) under `key` as a Blob, which the
 * browser keeps outside the tab's memory: `readEmbeddings` brings them back in slices, so the
 * tab never holds a copy of every row beside the search index (150 MB at 100,000 records). */
export async function putEmbeddingMatrix(key, { n, dim, data, model, precision }) {
  return putEmbeddings(key, { n, dim, model, precision, blob: new Blob([data]) });
}
/** Rows per slice read back (12 MB at 384 dimensions). */
const SLICE_ROWS = 8192;
/** The embeddings saved under `key` with `n` rows: `into(dim)` makes the search index
 * (SearchIndex.withCapacity) that gets them slice by slice (pushRows), and is returned; null where none are saved, they are
 * not `n` rows, or they cannot be read (the caller embeds again). Both forms: a Blob
 * (`putEmbeddingMatrix`) and, as saved before stop 53, one array. */
export async function readEmbeddings(key, n, into) {
  const saved = await getEmbeddings(key).catch(() => null);
  if (!saved || saved.n !== n) return null;
  const { dim } = saved;
  const size = saved.blob ? saved.blob.size / 4 : saved.data?.length;
  if (size !== n * dim) return null;
  const slice = SLICE_ROWS * dim;
  const index = into(dim);
  try {
    for (let at = 0; at < size; at += slice) {
      // each slice passes through the wasm memory (which never shrinks): slices, not the whole
      const rows = saved.blob ? new Float32Array(await saved.blob.slice(4 * at, 4 * (at + slice)).arrayBuffer()) : saved.data.subarray(at, at + slice);
      index.pushRows(rows);
    }
  } catch (e) {
    index.free();
    console.warn("saved embeddings could not be read", e);
    return null;
  }
  return index;
}
/** Every value of the embeddings store whose key starts with `prefix` (chunks saved while
 * embedding, so a reload resumes). */
export async function embeddingsWithPrefix(prefix) {
  return (await dbp).getAll("embeddings", IDBKeyRange.bound(prefix, prefix + "\uffff"));
}
export async function deleteEmbeddingsWithPrefix(prefix) {
  return (await dbp).delete("embeddings", IDBKeyRange.bound(prefix, prefix + "\uffff"));
}
/** Forgets everything (New project). */
export async function clearAll() {
  const db = await dbp;
  await Promise.all([db.clear("kv"), db.clear("embeddings")]);
}
