//! What hostwall last committed, per network namespace: the generation id the kernel
//! gave the ruleset and a digest of the ruleset, so `diff` can answer "in sync" from one
//! cheap GETGEN request when nothing has changed since (the fast path).
//!
//! Kept under /run (gone at reboot, like the ruleset itself). A missing, unreadable or
//! stale record only costs the fast path, never correctness: `diff` then dumps.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// nf_tables generation id right after our commit.
    pub genid: u32,
    /// `digest` of the nft text of what was committed.
    pub digest: String,
    pub table: String,
}

/// Stable 64-bit FNV-1a digest, hex. Not for security: it tells "same ruleset text".
pub fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The record's file for a namespace (`None`: the namespace hostwall runs in).
pub fn path(state_dir: &Path, netns: Option<&str>, table: &str) -> PathBuf {
    let ns = netns.unwrap_or("self");
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect()
    };
    state_dir.join(format!("applied-{}-{}.json", clean(ns), clean(table)))
}

pub fn load(path: &Path) -> Option<Applied> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes atomically (temporary file, then rename).
pub fn store(path: &Path, rec: &Applied) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(rec).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_stable_and_sensitive() {
        assert_eq!(digest(""), "cbf29ce484222325");
        assert_ne!(digest("tcp dport 22"), digest("tcp dport 23"));
    }

    #[test]
    fn store_and_load_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), Some("hw/x"), "hostwall");
        assert!(p.ends_with("applied-hw_x-hostwall.json"));
        let rec = Applied {
            genid: 7,
            digest: digest("x"),
            table: "hostwall".into(),
        };
        store(&p, &rec).expect("store");
        assert_eq!(load(&p), Some(rec));
        assert_eq!(load(&dir.path().join("none")), None);
    }
}
