//! What hostwall last committed, per network namespace: the generation id the kernel
//! gave the ruleset and a digest of the policy's input files, so `diff` can answer
//! "in sync" from one cheap GETGEN request when nothing has changed since (the fast
//! path) — without even compiling the policy.
//!
//! Kept under /run (gone at reboot, like the ruleset itself). A missing, unreadable or
//! stale record only costs the fast path, never correctness: `diff` then dumps.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// nf_tables generation id right after our commit.
    pub genid: u32,
    /// `inputs_digest` of every file the policy was compiled from, and of hostwall's
    /// version: the same digest means the same compiled ruleset, without compiling.
    pub digest: String,
    /// The files read besides the policy and site file named on the command line
    /// (includes), in reading order, so `diff` can digest them again.
    pub includes: Vec<String>,
    pub table: String,
    /// The sysctl values the policy sets (`net.ipv4.ip_forward` = true, ...).
    pub sysctls: Vec<(String, bool)>,
    /// Identity of the network namespace applied to (`netns_identity`): a namespace
    /// deleted and created again under the same name restarts its generation ids, so
    /// the name alone could match a record that describes another namespace.
    #[serde(default)]
    pub netns: Option<String>,
    /// The warnings about other tables at generation `genid` of `Warnings` (their base
    /// chains, conflicts with the policy), for the fast path to show; a fast path
    /// needs them computed at the generation it finds.
    #[serde(default)]
    pub warnings: Option<Warnings>,
}

/// Warnings computed from every table at one generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warnings {
    pub genid: u32,
    pub changes: Vec<crate::diff::Change>,
}

/// The network namespace's identity (device and inode of its nsfs file): `/run/netns/NAME`,
/// or this process's own namespace. `None` when it cannot be read.
pub fn netns_identity(netns: Option<&str>) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = match netns {
        Some(name) => Path::new("/run/netns").join(name),
        None => PathBuf::from("/proc/self/ns/net"),
    };
    let m = std::fs::metadata(path).ok()?;
    Some(format!("{}:{}", m.dev(), m.ino()))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over bytes for short strings; eight bytes per step for long ones, so a
/// million-address policy digests in well under a millisecond (the fast path's budget).
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut chunks = bytes.chunks_exact(8);
    if bytes.len() >= 64 {
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h ^ w).wrapping_mul(PRIME).rotate_left(29);
        }
    }
    let rest = if bytes.len() >= 64 {
        chunks.remainder()
    } else {
        bytes
    };
    for b in rest {
        h ^= *b as u64;
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// Digest of the compiler's inputs: hostwall's version, then each file's name and text.
pub fn inputs_digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = fnv(FNV_OFFSET, env!("CARGO_PKG_VERSION").as_bytes());
    for (name, text) in files {
        h = fnv(h, name.as_bytes());
        h = fnv(h, &[0]);
        h = fnv(h, text.as_bytes());
        h = fnv(h, &[0]);
    }
    format!("{h:016x}")
}

/// The record's file for a namespace (`None`: the namespace hostwall runs in). One per
/// namespace: the last apply there.
pub fn path(state_dir: &Path, netns: Option<&str>) -> PathBuf {
    let ns = netns.unwrap_or("self");
    let clean: String = ns
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join(format!("applied-{clean}.json"))
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
        // Short inputs go byte by byte, long ones eight bytes per step: both must see
        // a one-byte change.
        let long = "tcp dport 22 ".repeat(20);
        assert_ne!(
            inputs_digest([("p", long.as_str())]),
            inputs_digest([("p", long.replacen("22", "23", 1).as_str())])
        );
        let a = inputs_digest([("p", "allow ssh"), ("s", "")]);
        assert_eq!(a, inputs_digest([("p", "allow ssh"), ("s", "")]));
        // Moving text between files, or renaming one, is a different input.
        assert_ne!(a, inputs_digest([("p", "allow ss"), ("s", "h")]));
        assert_ne!(a, inputs_digest([("q", "allow ssh"), ("s", "")]));
    }

    #[test]
    fn store_and_load_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), Some("hw/x"));
        assert!(p.ends_with("applied-hw_x.json"));
        let rec = Applied {
            genid: 7,
            digest: inputs_digest([("p", "x")]),
            includes: vec!["/etc/hostwall/nets.policy".into()],
            table: "hostwall".into(),
            sysctls: vec![("net.ipv4.ip_forward".into(), true)],
            netns: Some("4:4026531840".into()),
            warnings: None,
        };
        store(&p, &rec).expect("store");
        assert_eq!(load(&p), Some(rec));
        assert_eq!(load(&dir.path().join("none")), None);
    }
}
