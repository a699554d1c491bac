//! Tokenization with sentence-transformers' semantics, not tokenizer.json's.
//!
//! The shipped all-MiniLM-L6-v2 tokenizer.json truncates at 128 and pads to a fixed 128;
//! sentence-transformers overrides both: it truncates at `max_seq_length` (256, from
//! sentence_bert_config.json) keeping [CLS] and [SEP], and pads only to the longest input of
//! a batch, with an attention mask. So the tokenizer's own truncation and padding are
//! switched off here and both are done by hand.

use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// tokenizer.json -> `Tokenizer`, as a typed error where the tokenizers crate would panic.
///
/// The bytes are parsed as JSON first and the tokenizer deserialised from that value:
/// tokenizers 0.23 `expect`s its decoder's JSON to parse (a syntax error inside "decoder"
/// panics when read straight from bytes; found by `cargo fuzz`, fuzz/). A "Precompiled"
/// (SentencePiece) normaliser is refused: its charsmap is read unchecked (an empty or
/// corrupt one panics when read or used) and BERT-family tokenizers never carry one.
fn parse(tokenizer_json: &[u8]) -> Result<Tokenizer> {
    let bad = |m: String| Error::model("tokenizer.json", format!("cannot parse: {m}"));
    let value: serde_json::Value =
        serde_json::from_slice(tokenizer_json).map_err(|e| bad(e.to_string()))?;
    if let Some(normalizer) = value.get("normalizer") {
        if has_type(normalizer, "Precompiled") {
            return Err(bad(
                "a \"Precompiled\" (SentencePiece) normalizer is not supported: simtune runs BERT-family (WordPiece) tokenizers".into(),
            ));
        }
    }
    <Tokenizer as serde::Deserialize>::deserialize(&value).map_err(|e| bad(e.to_string()))
}

/// Whether `v` or anything inside it is an object with `"type": ty`.
fn has_type(v: &serde_json::Value, ty: &str) -> bool {
    match v {
        serde_json::Value::Object(map) => {
            map.get("type").and_then(|t| t.as_str()) == Some(ty)
                || map.values().any(|v| has_type(v, ty))
        }
        serde_json::Value::Array(items) => items.iter().any(|v| has_type(v, ty)),
        _ => false,
    }
}

/// A BERT word-piece tokenizer with the sequence limit sentence-transformers applies.
pub struct SentenceTokenizer {
    tokenizer: Tokenizer,
    max_seq_length: usize,
    pad_id: u32,
}

impl SentenceTokenizer {
    /// Loads tokenizer.json bytes; `max_seq_length` counts `[CLS]` and `[SEP]`.
    pub fn load(tokenizer_json: &[u8], max_seq_length: usize, pad_id: u32) -> Result<Self> {
        let mut tokenizer = parse(tokenizer_json)?;
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::model("tokenizer.json", e.to_string()))?;
        tokenizer.with_padding(None);
        if max_seq_length < 2 {
            return Err(Error::model(
                "sentence_bert_config.json",
                format!("max_seq_length {max_seq_length} leaves no room for [CLS] and [SEP]"),
            ));
        }
        Ok(Self {
            tokenizer,
            max_seq_length,
            pad_id,
        })
    }

    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Token ids with special tokens, truncated to `max_seq_length` keeping the final `[SEP]`
    /// (sentence-transformers keeps `[CLS]`, the first max-2 word pieces, then `[SEP]`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode_counted(text)?.0)
    }

    /// [`Self::encode`], and whether the text had more word pieces than the model reads (its
    /// end was cut off).
    ///
    /// A long text is tokenized by growing prefixes, each cut at a whitespace character: BERT's
    /// normaliser works per character and its pre-tokenizer splits at whitespace, so a prefix
    /// cut there yields exactly the first word pieces of the whole text. A 10 MB record costs
    /// the time of its first few kilobytes, not seconds.
    pub fn encode_counted(&self, text: &str) -> Result<(Vec<u32>, bool)> {
        let mut chars = 4096;
        loop {
            let cut = text.char_indices().nth(chars).map(|(at, _)| at);
            let prefix = match cut.and_then(|at| text[..at].rfind(char::is_whitespace)) {
                Some(at) => &text[..at],
                None => text, // short, or one huge word: the whole text
            };
            let (ids, pieces) = self.encode_all(prefix)?;
            if prefix.len() == text.len() {
                return Ok((ids, pieces > self.max_seq_length));
            }
            if pieces >= self.max_seq_length {
                // the prefix fills the model; the text goes on past it
                let more = !text[prefix.len()..].trim().is_empty();
                return Ok((ids, pieces > self.max_seq_length || more));
            }
            chars *= 4;
        }
    }

    /// The ids of `text` as [`Self::encode`] cuts them, and how many there were before the cut.
    fn encode_all(&self, text: &str) -> Result<(Vec<u32>, usize)> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::InvalidInput(format!("cannot tokenize text: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        let pieces = ids.len();
        if ids.len() > self.max_seq_length {
            let last = ids[ids.len() - 1];
            ids.truncate(self.max_seq_length - 1);
            ids.push(last);
        }
        Ok((ids, pieces))
    }
}
