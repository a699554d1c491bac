// A 64-bit identity per record text (two 32-bit FNV-1a hashes over its UTF-16 code units,
// with different offsets), so saved labels can find their records again by text without
// keeping the texts themselves in the saved project (a 100 MB dataset with every record
// labelled would otherwise be copied into IndexedDB on every key press).

/** Hashes of `texts` as a Uint32Array: [h1(0), h2(0), h1(1), h2(1), ...]. */
export function textHashes(texts) {
  const out = new Uint32Array(texts.length * 2);
  texts.forEach((t, i) => {
    let a = 0x811c9dc5;
    let b = 0x01000193 ^ t.length;
    for (let k = 0; k < t.length; k++) {
      const c = t.charCodeAt(k);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    out[2 * i] = a >>> 0;
    out[2 * i + 1] = b >>> 0;
  });
  return out;
}

/** Record i's identity as a Map key. */
export const hashKey = (hashes, i) => `${hashes[2 * i]},${hashes[2 * i + 1]}`;

const indexes = new WeakMap();
/** identity -> the records holding that text, ascending; built once per `hashes` array. */
export function recordsByKey(hashes) {
  let byKey = indexes.get(hashes);
  if (!byKey) {
    byKey = new Map();
    for (let i = 0; i < hashes.length / 2; i++) {
      const key = hashKey(hashes, i);
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(i);
    }
    indexes.set(hashes, byKey);
  }
  return byKey;
}

/** A saved project's `keys` ([record, hash1, hash2] triples) as record -> identity. */
export function savedKeys(keys = []) {
  const out = new Map();
  for (let k = 0; k + 2 < keys.length; k += 3) out.set(keys[k], `${keys[k + 1]},${keys[k + 2]}`);
  return out;
}
