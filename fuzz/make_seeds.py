#!/usr/bin/env python3
"""Writes the fuzz crate's binary fixtures (stdlib only, deterministic):

- tiny-model/: a 1-layer BERT (hidden 4, 2 heads, vocab 16) with a 16-token WordPiece
  tokenizer: what the `tokenizer` target loads when a file is not fuzzed (never the real
  90 MB model).
- seeds/head/dim4.safetensors: a 1-layer SkipConnectionHead of dimension 4, written as
  simtune's head.rs writes it (fcs.{i}.weight/bias, gates.{i}, metadata `simtune_head`).
- seeds/tokenizer/*: seeds for the `tokenizer` target (byte 0 picks the mode, see its doc).

Run from anywhere: python3 fuzz/make_seeds.py
"""
import json
import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def safetensors(tensors, metadata=None):
    """tensors: list of (name, shape, values) as F32."""
    header, data = {}, b""
    for name, shape, values in tensors:
        assert len(values) == math.prod(shape), name
        raw = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def values(n, seed):
    # small deterministic values in (-0.5, 0.5)
    return [((i * 37 + seed * 11) % 19) / 19.0 - 0.5 for i in range(n)]


def write(path, data):
    path = os.path.join(HERE, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "a",
         "test", "##s", "##ing", "fuzz", "simtune", ".", ","]
H, I, V, P = 4, 8, len(VOCAB), 16

tokenizer = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, t in enumerate(VOCAB[:5])
    ],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                   "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(VOCAB)}},
}
config = {
    "model_type": "bert", "vocab_size": V, "hidden_size": H, "num_hidden_layers": 1,
    "num_attention_heads": 2, "intermediate_size": I, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": P, "type_vocab_size": 2, "initializer_range": 0.02,
    "layer_norm_eps": 1e-12, "pad_token_id": 0,
}
seed = iter(range(1000))
weights = [
    ("embeddings.word_embeddings.weight", (V, H)),
    ("embeddings.position_embeddings.weight", (P, H)),
    ("embeddings.token_type_embeddings.weight", (2, H)),
    ("embeddings.LayerNorm.weight", (H,)),
    ("embeddings.LayerNorm.bias", (H,)),
]
L = "encoder.layer.0."
for part in ["attention.self.query", "attention.self.key", "attention.self.value",
             "attention.output.dense"]:
    weights += [(L + part + ".weight", (H, H)), (L + part + ".bias", (H,))]
weights += [
    (L + "attention.output.LayerNorm.weight", (H,)), (L + "attention.output.LayerNorm.bias", (H,)),
    (L + "intermediate.dense.weight", (I, H)), (L + "intermediate.dense.bias", (I,)),
    (L + "output.dense.weight", (H, I)), (L + "output.dense.bias", (H,)),
    (L + "output.LayerNorm.weight", (H,)), (L + "output.LayerNorm.bias", (H,)),
]
model = safetensors([(n, s, values(math.prod(s), next(seed))) for n, s in weights])

tokenizer_json = json.dumps(tokenizer, indent=1)
config_json = json.dumps(config, indent=1)
sbert_json = json.dumps({"max_seq_length": 8, "do_lower_case": False})
pooling_json = json.dumps({"word_embedding_dimension": H, "pooling_mode_cls_token": False,
                           "pooling_mode_mean_tokens": True})

write("tiny-model/tokenizer.json", tokenizer_json)
write("tiny-model/config.json", config_json)
write("tiny-model/model.safetensors", model)
write("tiny-model/sentence_bert_config.json", sbert_json)
write("tiny-model/1_Pooling/config.json", pooling_json)

# tokenizer target seeds: mode byte, then (mode 0) tokenizer.json, (mode 1) one file chosen
# by the next byte, (mode 2) the five files separated by SEP
SEP = b"\n#~#\n"
write("seeds/tokenizer/tokenizer-only", b"\x00\x08" + tokenizer_json.encode())
write("seeds/tokenizer/config", b"\x01\x00" + config_json.encode())
write("seeds/tokenizer/tokenizer", b"\x01\x01" + tokenizer_json.encode())
write("seeds/tokenizer/weights", b"\x01\x02" + model)
write("seeds/tokenizer/sbert", b"\x01\x03" + sbert_json.encode())
write("seeds/tokenizer/pooling", b"\x01\x04" + pooling_json.encode())
write("seeds/tokenizer/all", b"\x02" + SEP.join(
    [config_json.encode(), tokenizer_json.encode(), model, sbert_json.encode(),
     pooling_json.encode()]))

d = 4
head_meta = {"simtune_head": json.dumps(
    {"dim": d, "n_layers": 1, "dropout": 0.0, "skip_dropout": 0.0,
     "format": "simtune-skip-connection-head/1"}, separators=(",", ":"))}
write("seeds/head/dim4.safetensors", safetensors([
    ("fcs.0.weight", (d, d), values(d * d, 1)),
    ("fcs.0.bias", (d,), values(d, 2)),
    ("gates.0", (d,), [-4.0] * d),
], head_meta))
