// One wasm engine instance. The page's pool runs several of these (embedding), and one more
// for training (cancel = terminate it). Messages: {id, op, args} -> {id, progress} / {id, result} / {id, error}.
import init, { SentenceEncoder, trainHead } from "../pkg/simtune.js";

const CACHE = "simtune-models";
const MISSING_HEADER = "x-simtune-missing";
const ready = init();
let encoder = null;

async function modelFile(base, name, optional) {
  const cache = await caches.open(CACHE);
  const r = await cache.match(base + name);
  if (!r || r.headers.get(MISSING_HEADER)) {
    if (optional) return undefined;
    throw new Error(`model file ${name} is missing`);
  }
  return new Uint8Array(await r.arrayBuffer());
}

const ops = {
  async loadModel({ base }) {
    encoder?.free();
    encoder = null;
    encoder = new SentenceEncoder(
      await modelFile(base, "config.json"),
      await modelFile(base, "tokenizer.json"),
      await modelFile(base, "model.safetensors"),
      await modelFile(base, "sentence_bert_config.json", true),
      await modelFile(base, "1_Pooling/config.json", true),
    );
    return [{ dim: encoder.dim(), info: encoder.info() }, []];
  },
  embed({ texts }, progress) {
    if (!encoder) throw new Error("no model loaded");
    const out = encoder.embed(texts, (done, total) => {
      progress([done, total]);
    });
    return [out, [out.buffer]];
  },
  train({ emb, dim, labels, config }, progress) {
    const head = trainHead(emb, dim, labels, config, (step, loss) => {
      progress([step, loss]);
    });
    return [head, [head.buffer]];
  },
};

self.onmessage = async ({ data: { id, op, args } }) => {
  try {
    await ready;
    const progress = (p) => postMessage({ id, progress: p });
    const [result, transfer] = await ops[op](args, progress);
    postMessage({ id, result }, transfer);
  } catch (e) {
    postMessage({ id, error: String(e?.message ?? e) });
  }
};
