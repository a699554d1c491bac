//! Record identity by text: a 64-bit hash per record text, the same as the page's
//! `www/texthash.js` (two 32-bit FNV-1a-style hashes over the text's UTF-16 code units, with
//! different offsets), so a project file can name a record by its hash instead of its text,
//! and a dataset's texts can be told apart from another's by one digest.

use sha2::{Digest, Sha256};

/// The two 32-bit hashes of `text` (as `textHashes` in www/texthash.js).
pub fn text_hash(text: &str) -> (u32, u32) {
    let len = text.encode_utf16().count() as u32;
    let mut a: u32 = 0x811c_9dc5;
    let mut b: u32 = 0x0100_0193 ^ len;
    for c in text.encode_utf16() {
        let c = u32::from(c);
        a = (a ^ c).wrapping_mul(0x0100_0193);
        b = (b ^ c).wrapping_mul(0x5bd1_e995);
        b ^= b >> 15;
    }
    (a, b)
}

/// The key a project file gives a record known by its hash: "h1,h2" in decimal.
pub fn text_key(text: &str) -> String {
    let (a, b) = text_hash(text);
    format!("{a},{b}")
}

/// One digest of a dataset's record texts, in order: sha256 over each record's two hashes
/// (little-endian u32), hex, 32 characters. `hashes` is the page's flat [h1, h2, ...] array.
pub fn texts_digest(hashes: &[u32]) -> String {
    let mut d = Sha256::new();
    for h in hashes {
        d.update(h.to_le_bytes());
    }
    d.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// [`texts_digest`] of `texts`.
pub fn texts_hash<S: AsRef<str>>(texts: &[S]) -> String {
    let hashes: Vec<u32> = texts
        .iter()
        .flat_map(|t| {
            let (a, b) = text_hash(t.as_ref());
            [a, b]
        })
        .collect();
    texts_digest(&hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_page() {
        // values printed by www/texthash.js (node: textHashes(["", "a", "héllo 😀"]))
        assert_eq!(text_hash(""), (0x811c_9dc5, 0x0100_0193));
        assert_eq!(text_key("a"), JS_A);
        assert_eq!(text_key("héllo 😀"), JS_HELLO);
    }

    #[test]
    fn digest_follows_order_and_text() {
        let a = texts_hash(&["x", "y"]);
        assert_eq!(a.len(), 32);
        assert_ne!(a, texts_hash(&["y", "x"]));
        assert_ne!(a, texts_hash(&["x", "y "]));
        assert_eq!(a, texts_hash(&["x".to_string(), "y".to_string()]));
    }

    const JS_A: &str = "3826002220,2401981243";
    const JS_HELLO: &str = "1308241232,559086643";
}
