// Head training in wasm, in headless Chromium, alone: bench.js's headAndSearch (training on
// 261 of 20,000 records, 100 steps, from the prototype pull with its sample's neighbours found
// beforehand as the page does, or found in the training, and without the pull, median of 3;
// applying a head; top-1000 search) twice per engine build (relaxed SIMD and simd128,
// alternating), without the embedding engines of browser.mjs.
// A quick figure while working on training speed: `node bench/train-only.mjs` after
// `bash scripts/build.sh`. `npm run bench` prints the same figures in its full run.
// TRAIN_CONFIG='{"smooth_targets":true}' adds training settings (TrainConfig's fields).
import { start } from "../tests/e2e/harness.mjs";

const { url, context, close } = await start({});
try {
  const page = await context.newPage();
  await page.goto(url + "bench/bench.html");
  await page.waitForFunction(() => window.bench);
  for (let i = 0; i < 2; i++) {
    for (const build of ["relaxed", "simd128"]) {
      const config = process.env.TRAIN_CONFIG ? JSON.parse(process.env.TRAIN_CONFIG) : {};
      const hs = await page.evaluate((a) => window.bench.headAndSearch(a), { build, config });
      console.log(
        `${build.padEnd(8)} training 261 of 20,000: ${hs.trainPullMs.toFixed(0)} ms from the pull (strength ${hs.pullStrength.toFixed(2)}, smoothing ${hs.pullSmoothing.toFixed(2)}; its neighbours found beforehand in ${hs.prepareMs.toFixed(0)} ms), ${hs.trainColdMs.toFixed(0)} ms finding them, ${hs.trainPlainMs.toFixed(0)} ms without the pull; ` +
          `head applied to 20,000: ${hs.applyMs.toFixed(0)} ms; top-1000 search: ${hs.searchMs.toFixed(1)} ms/query`,
      );
    }
  }
} finally {
  await close();
}
