// IndexedDB persistence (via the vendored `idb` library): the project (labels, head,
// settings, chosen columns), the dropped file's bytes, and embeddings keyed by dataset hash +
// model id.
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
/** Forgets everything (New project). */
export async function clearAll() {
  const db = await dbp;
  await Promise.all([db.clear("kv"), db.clear("embeddings")]);
}
