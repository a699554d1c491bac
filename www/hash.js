// Content identities, computed with the browser's SHA-256 (crypto.subtle, off the main thread
// where it is called from a worker).

export async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 (hex) of the file bytes + the chosen columns: the dataset's identity (the key of
 * its cached embeddings). */
export async function datasetKey(bytes, columns) {
  const extra = new TextEncoder().encode("\u0000" + JSON.stringify(columns));
  const all = new Uint8Array(bytes.byteLength + extra.length);
  all.set(new Uint8Array(bytes), 0);
  all.set(extra, bytes.byteLength);
  return sha256Hex(all);
}

/** The key of cached embeddings: the model id, its precision and the records' texts in order
 * (their texthash.js hashes) — not the file's bytes, so the same texts with another label
 * column, or in another file format, are not embedded again. */
export async function embeddingKey(modelId, precision, hashes) {
  return `v2|${modelId}|${precision}|${await sha256Hex(hashes)}`;
}
