// Which build of the wasm engine this browser runs, and starting it. There are two builds of
// the same source (scripts/build.sh): simtune_relaxed_bg.wasm, built with relaxed SIMD
// (`f32x4.relaxed_madd` in the f32 kernel: the head's training and applying, search, the
// attention's products), and simtune_bg.wasm with simd128 only, which every browser with
// WebAssembly SIMD runs. A browser that validates a relaxed-SIMD module (wasm-feature-detect's
// probe) gets the first; any other, or one where that file fails to load or start, the second.
// Both share one JS glue (pkg/simtune.js), so every module that imports it sees the started
// engine. Relaxed `madd` may or may not round once (the browser picks): f32 results then
// differ from the simd128 build's in their last bits, and int8 embeddings, whose layers
// re-quantise activations, within cosine 0.99999 (tests/e2e/engine.test.mjs).
import init from "../pkg/simtune.js";
import { relaxedSimd } from "./vendor/wasm-feature-detect.js";

export const BUILDS = Object.freeze({
  relaxed: "simtune_relaxed_bg.wasm",
  simd128: "simtune_bg.wasm",
});

/** The build this browser can run: "relaxed" where it validates relaxed SIMD, else "simd128". */
export async function supportedBuild() {
  try {
    return (await relaxedSimd()) ? "relaxed" : "simd128";
  } catch {
    return "simd128";
  }
}

/** The URL of a build's .wasm, next to the glue. */
export const buildUrl = (build) => new URL(`../pkg/${BUILDS[build]}`, import.meta.url);

let started = null;

/** Starts the engine once (later calls get the same promise) and resolves to the build that
 * runs: `build` when given, else {@link supportedBuild}. A relaxed build that fails to load or
 * start (a host that lacks the file, a browser whose validation was wrong) falls back to
 * simd128; a simd128 build that fails rejects with its error. */
export function startEngine(build) {
  started ??= (async () => {
    const want = build ?? (await supportedBuild());
    if (want === "relaxed") {
      try {
        await init({ module_or_path: buildUrl("relaxed") });
        return "relaxed";
      } catch (e) {
        console.warn(`simtune: the relaxed-SIMD engine did not start (${e?.message ?? e}); using the simd128 one`);
      }
    }
    await init({ module_or_path: buildUrl("simd128") });
    return "simd128";
  })();
  return started;
}
