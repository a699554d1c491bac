// Loads the wasm engine and a sentence encoder from a served model folder; shared by the
// engine smoke test's worker.
import { SentenceEncoder } from "../../pkg/simtune.js";
import { startEngine } from "../../www/engine.js";

async function bytes(url, optional = false) {
  const r = await fetch(url);
  if (!r.ok) {
    if (optional) return undefined;
    throw new Error(`${url}: HTTP ${r.status}`);
  }
  return new Uint8Array(await r.arrayBuffer());
}

/** `base` is the folder URL, ending in "/"; `precision` "f32" or "int8"; `build` the engine
 * build to start (the first call decides; see www/engine.js). */
export async function loadEncoder(base, precision = "f32", build = undefined) {
  await startEngine(build);
  return new SentenceEncoder(
    await bytes(base + "config.json"),
    await bytes(base + "tokenizer.json"),
    await bytes(base + "model.safetensors"),
    await bytes(base + "sentence_bert_config.json", true),
    await bytes(base + "1_Pooling/config.json", true),
    precision,
  );
}
