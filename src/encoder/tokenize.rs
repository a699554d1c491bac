//! Tokenization with sentence-transformers' semantics, not tokenizer.json's.
//!
//! The shipped all-MiniLM-L6-v2 tokenizer.json truncates at 128 and pads to a fixed 128;
//! sentence-transformers overrides both: it truncates at `max_seq_length` (256, from
//! sentence_bert_config.json) keeping [CLS] and [SEP], and pads only to the longest input of
//! a batch, with an attention mask. So the tokenizer's own truncation and padding are
//! switched off here and both are done by hand.

use tokenizers::Tokenizer;

use crate::error::{Error, Result};

/// A BERT word-piece tokenizer with the sequence limit sentence-transformers applies.
pub struct SentenceTokenizer {
    tokenizer: Tokenizer,
    max_seq_length: usize,
    pad_id: u32,
}

impl SentenceTokenizer {
    /// Loads tokenizer.json bytes; `max_seq_length` counts [CLS] and [SEP].
    pub fn load(tokenizer_json: &[u8], max_seq_length: usize, pad_id: u32) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| Error::model("tokenizer.json", format!("cannot parse: {e}")))?;
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

    /// Token ids with special tokens, truncated to `max_seq_length` keeping the final [SEP]
    /// (sentence-transformers keeps [CLS], the first max-2 word pieces, then [SEP]).
    ///
    /// A long text is tokenized by growing prefixes, each cut at a whitespace character: BERT's
    /// normaliser works per character and its pre-tokenizer splits at whitespace, so a prefix
    /// cut there yields exactly the first word pieces of the whole text. A 10 MB record costs
    /// the time of its first few kilobytes, not seconds.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut chars = 4096;
        loop {
            let cut = text.char_indices().nth(chars).map(|(at, _)| at);
            let prefix = match cut.and_then(|at| text[..at].rfind(char::is_whitespace)) {
                Some(at) => &text[..at],
                None => text, // short, or one huge word: the whole text
            };
            let ids = self.encode_all(prefix)?;
            if prefix.len() == text.len() || ids.len() >= self.max_seq_length {
                return Ok(ids);
            }
            chars *= 4;
        }
    }

    fn encode_all(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::InvalidInput(format!("cannot tokenize text: {e}")))?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.len() > self.max_seq_length {
            let last = ids[ids.len() - 1];
            ids.truncate(self.max_seq_length - 1);
            ids.push(last);
        }
        Ok(ids)
    }
}
