// The training bench's data (bench.js headAndSearch, bench/train-hash.mjs): n unit records of
// `dim` in 20 regions, record i region i % 20's centre plus noise of ~3x its length (cosine
// ~0.45 to its centre, ~0.2 to its region's records), and the first `labelled` records
// labelled with their region (-1 for the rest). The labels are regions of the space, so the
// prototype pull runs at full strength, as on data whose labels it helps (on pure noise its
// strength is 0 and it fits nothing). The numbers come from mulberry32 (uniform in
// [-0.5, 0.5)): the LCG used before, seed * 1103515245 in a double, lost its low bits, and
// its records' noise shared a structure of its own, so that a record's nearest records were
// mostly not of its region. `seed` draws other records of the same kind.
export function regions(n, dim, labelled, seed = 7) {
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32 - 0.5;
  };
  const centres = Array.from({ length: 20 }, () => Array.from({ length: dim }, rand));
  const emb = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const centre = centres[i % 20];
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += (emb[i * dim + d] = centre[d] + 3 * rand()) ** 2;
    for (let d = 0; d < dim; d++) emb[i * dim + d] /= Math.sqrt(norm);
  }
  const labels = new Int32Array(n).fill(-1);
  for (let i = 0; i < labelled; i++) labels[i] = i % 20;
  return { emb, labels };
}
