//! SHA-256 digests, as lowercase hex: the apply record's input digest (what `diff`'s
//! fast path compares) and the integrity digest of a saved previous-state blob.

use sha2::{Digest, Sha256};

/// Length of a digest in hex characters.
pub const HEX_LEN: usize = 64;

/// SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 over a sequence of byte strings, each framed by its length, so moving bytes
/// from one part to the next always gives another digest.
pub fn sha256_framed<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex(&h.finalize())
}

/// Whether `s` looks like a digest this module made (so a damaged record is refused
/// with a clear reason rather than compared).
pub fn is_hex_digest(s: &str) -> bool {
    s.len() == HEX_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `bytes` as lowercase hex (two digits a byte).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The bytes lowercase or uppercase hex `s` spells; `None` for an odd length or a
/// character that is not a hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_and_framing() {
        // FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_hex_digest(&sha256_hex(b"")));
        assert!(!is_hex_digest("abc"));
        let parts = |a: &'static str, b: &'static str| sha256_framed([a.as_bytes(), b.as_bytes()]);
        assert_ne!(parts("ab", "c"), parts("a", "bc"));
        assert_eq!(parts("ab", "c"), parts("ab", "c"));
    }
}
