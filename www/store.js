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
