// Are two wasm builds' int8 embeddings bit-identical? A: pkg/ (this tree), B: the folder $BASE
// holding another build's simtune.js and simtune_bg.wasm (copy pkg/ there before a change).
// Run from the repository root after `npm run build`: node bench/same-embeddings.mjs
import fs from "node:fs";
const m = "models/all-MiniLM-L6-v2/";
const rd = (f) => new Uint8Array(fs.readFileSync(m + f));
async function encoder(dir) {
  const mod = await import(`${dir}/simtune.js?${Math.random()}`);
  mod.initSync({ module: fs.readFileSync(`${dir}/simtune_bg.wasm`) });
  return new mod.SentenceEncoder(rd("config.json"), rd("tokenizer.json"), rd("model.safetensors"), rd("sentence_bert_config.json"), rd("1_Pooling/config.json"), "int8");
}
const a = await encoder(new URL("../pkg", import.meta.url).pathname);
if (!process.env.BASE) throw new Error("set BASE to the folder of the other build");
const b = await encoder(process.env.BASE);
const csv = fs.readFileSync("../shared/data/agnews_test_sample2000.csv", "utf8").split("\n").slice(1).filter(Boolean);
const texts = [...csv.sort((x, y) => y.length - x.length).slice(0, 16), ...fs.readFileSync("../shared/data/banking77_test.csv", "utf8").split("\n").slice(1, 200).filter(Boolean), "", "a", "!!!"];
const ea = a.embed(texts), eb = b.embed(texts);
let diff = 0;
for (let i = 0; i < ea.length; i++) if (ea[i] !== eb[i] && !(Number.isNaN(ea[i]) && Number.isNaN(eb[i]))) diff++;
console.log(`${texts.length} texts, ${ea.length} values, ${diff} differ`);
process.exitCode = diff ? 1 : 0;
