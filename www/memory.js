// What a dataset costs the tab's memory, estimated from its record count before anything is
// embedded, so a person hears it before a tab runs out rather than after. The figures
// (2026-12-04, renderer memory: the tab and its workers) come from two benchmarks: embedding
// in the page peaked at 1,025 MiB with 20,000 short records and 1,568 with 100,000
// (bench/browser.mjs; the 100,000 run before its last copy was removed), every later step at
// 997 and 1,336 (bench/scale.mjs). Above the higher pair: BASE_MIB plus PER_RECORD_DIM bytes
// per record and embedding dimension.
// Labels never depend on it: they are saved at every change (store.js).

/** Renderer memory of the page, its workers and a model, before records (MiB). */
export const BASE_MIB = 890;
/** Peak bytes per record and embedding dimension: the raw and tuned search indices, the
 * embedding run's buffers, and what the browser keeps around them. */
export const PER_RECORD_DIM = 19;
/** Past this estimate the page warns: browsers end a tab's process around 4 GB of its
 * memory (wasm32 instances cannot pass 4 GiB), and sooner where the device has less. */
export const WARN_MIB = 3000;

/** The tab's estimated peak memory (MiB) for `n` records of `dim`-dimensional embeddings. */
export function peakMiB(n, dim = 384) {
  return BASE_MIB + (n * dim * PER_RECORD_DIM) / 2 ** 20;
}

/** A sentence warning that `n` records may not fit this tab, or null when they should.
 * `deviceGiB`: the device's memory as the browser reports it (navigator.deviceMemory,
 * rounded and capped at 8; undefined where unknown). */
export function memoryWarning(n, dim = 384, deviceGiB = navigator.deviceMemory) {
  const need = peakMiB(n, dim);
  const limit = Math.min(WARN_MIB, deviceGiB ? (deviceGiB * 1024) / 2 : Infinity);
  if (need <= limit) return null;
  const gb = (mib) => (mib / 1024).toFixed(1);
  return (
    `${n.toLocaleString("en")} records need about ${gb(need)} GB of this tab's memory at peak` +
    (deviceGiB ? ` (this device reports ${deviceGiB} GB)` : "") +
    `: the tab may run out of memory while it embeds, trains or draws the map. Your labels are saved as you make them, so a crash loses none; ` +
    `for a dataset this size, the CLI (simtune embed / train) runs the same steps without a tab's limits.`
  );
}
