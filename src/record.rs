//! What hostwall last committed, per network namespace: the generation id the kernel
//! gave the ruleset and a digest of the policy's input files, so `diff` can answer
//! "in sync" from one cheap GETGEN request when nothing has changed since (the fast
//! path) — without even compiling the policy.
//!
//! Kept under /run (gone at reboot, like the ruleset itself). A missing, unreadable or
//! stale record only costs the fast path, never correctness: `diff` then dumps. The
//! state directory's trust rule ([`crate::safe::trust`]) applies: a record that someone
//! else could have written would let them make `diff` say "in sync", so it is refused.

use crate::nsid::NetnsId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record of our last commit in one namespace (`applied-*.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRecord {
    /// nf_tables generation id right after our commit.
    pub genid: u32,
    /// `inputs_digest` (BLAKE3, hex) of every file the policy was compiled from, and of
    /// hostwall's version: the same digest means the same compiled ruleset, without
    /// compiling.
    pub digest: String,
    /// The files read besides the policy and site file named on the command line
    /// (includes), in reading order, so `diff` can digest them again.
    pub includes: Vec<String>,
    pub table: String,
    /// The sysctl values the policy sets (`net.ipv4.ip_forward` = true, ...).
    pub sysctls: Vec<(String, bool)>,
    /// Identity of the network namespace applied to ([`NetnsId`]: boot id and namespace
    /// cookie, which the kernel never repeats): a namespace deleted and created again
    /// under the same name restarts its generation ids, and may even get the old nsfs
    /// inode, so neither the name nor the inode could tell it from this one. `None`: it
    /// could not be identified, and the fast path is off.
    #[serde(default)]
    pub netns: Option<NetnsId>,
    /// The warnings about other tables at generation `genid` of `Warnings` (their base
    /// chains, conflicts with the policy), for the fast path to show; a fast path
    /// needs them computed at the generation it finds.
    #[serde(default)]
    pub warnings: Option<Warnings>,
    /// The policy applied: its canonical path, or the built-in's or standard input's
    /// display name, so `diff` and `apply` can say the live table came from another one.
    #[serde(default)]
    pub policy: Option<String>,
    /// The input files as they were when their texts were digested: while each still
    /// is exactly that file, `apply` knows the digest without reading or hashing them.
    #[serde(default)]
    pub stamps: Option<InputStamps>,
    /// [`inputs_checksum`] of the same inputs: another checksum proves they changed
    /// without hashing them; the same one proves nothing, and `digest` decides. `None`:
    /// not taken (a record written by an older build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// The input files of a digest, each by its identity and change times, taken only when
/// the times prove the file did not change after its text was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStamps {
    /// hostwall's version: the digest covers it, so another version never reuses it.
    pub version: String,
    /// In the digest's order: the policy, the site file, the includes.
    pub files: Vec<FileStamp>,
}

/// One file: its path, identity (device, inode), size and times in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

/// How long before its reading began a file must have last changed for its stamp to
/// vouch for the text read. The kernel sets ctime from a clock that lags by up to a
/// tick; a change during or after the read then shows as a ctime at most a tick before
/// the read began, far inside this margin.
const SETTLED_NS: i128 = 1_000_000_000;

impl InputStamps {
    /// Stamps of `paths` when each is the very file whose text was read (`read_at`
    /// gives, for a file's identity and times, when its reading began; `None`: that
    /// file was not read) and it last changed (ctime) at least a second before that
    /// moment: then it did not change while or after it was read, and a file put in its
    /// place since (a renamed directory, a retargeted symlink) is not the one read.
    /// `None` when one changed more recently, was not read, or cannot be stat'ed.
    pub fn take(
        paths: &[PathBuf],
        read_at: impl Fn(&FileStamp) -> Option<std::time::SystemTime>,
    ) -> Option<InputStamps> {
        let ns = |t: std::time::SystemTime| {
            let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some(d.as_nanos() as i128)
        };
        let files = paths
            .iter()
            .map(|p| {
                let f = FileStamp::of(p)?;
                let began = ns(read_at(&f)?)?;
                (f.ctime_ns <= began - SETTLED_NS).then_some(f)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(InputStamps {
            version: env!("CARGO_PKG_VERSION").into(),
            files,
        })
    }

    /// Whether `paths` are the stamped files and each is still exactly as stamped: any
    /// write, rename over, truncation or attribute change since moves its ctime (which
    /// no caller can set back) or its identity.
    pub fn hold(&self, paths: &[PathBuf]) -> bool {
        self.version == env!("CARGO_PKG_VERSION")
            && self.files.len() == paths.len()
            && (self.files.iter().zip(paths))
                .all(|(f, p)| f.path == *p && FileStamp::of(p).as_ref() == Some(f))
    }
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        Some(FileStamp::of_metadata(path, &std::fs::metadata(path).ok()?))
    }

    /// The stamp of `path` from metadata already read (an open file's `fstat`).
    pub fn of_metadata(path: &Path, m: &std::fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        FileStamp {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }

    /// The same file in the same state, wherever it was found.
    pub fn same_file(&self, other: &FileStamp) -> bool {
        (self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns)
            == (
                other.dev,
                other.ino,
                other.size,
                other.mtime_ns,
                other.ctime_ns,
            )
    }
}

/// Warnings computed from every table at one generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warnings {
    pub genid: u32,
    pub changes: Vec<crate::diff::Change>,
}

/// BLAKE3 of the compiler's inputs: hostwall's version, then each file's name and the
/// BLAKE3 of its text, every part framed by its length. Forging another policy with the
/// same digest would take a BLAKE3 second preimage. (A record whose digest an older
/// build took otherwise matches nothing: the apply that reads it compiles and compares
/// instead.)
pub fn inputs_digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    inputs_digest_bytes(files.into_iter().map(|(n, t)| (n, t.as_bytes())))
}

/// [`inputs_digest`] of texts as bytes: the same digest for the same texts. A file's
/// bytes after a leading byte-order mark are its text whenever it decodes without a
/// problem (`text::decode`), and only such files make a policy that can be applied and
/// recorded: so a file need not be decoded to be compared with a record.
pub fn inputs_digest_bytes<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let hashed = (files.into_iter()).map(|(name, text)| (name, *blake3::hash(text).as_bytes()));
    inputs_digest_hashed(hashed)
}

/// [`inputs_digest`] of each file's name and the BLAKE3 of its text
/// (`source::SourceFile::digest`, taken once for the file and on several threads).
pub fn inputs_digest_hashed<'a>(files: impl IntoIterator<Item = (&'a str, [u8; 32])>) -> String {
    let head = [
        b"hostwall-inputs-2".as_slice(),
        env!("CARGO_PKG_VERSION").as_bytes(),
    ];
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for (name, digest) in files {
        parts.push(name.as_bytes().to_vec());
        parts.push(digest.to_vec());
    }
    crate::digest::blake3_framed(head.into_iter().chain(parts.iter().map(Vec::as_slice)))
}

/// A fast check of the compiler's inputs: each file's name, the length of its text
/// and [`crate::digest::checksum`] of it, folded by that checksum again (hex). It is a
/// function of the inputs, so inputs with another checksum are other inputs; it is no
/// hash, so the same checksum proves nothing, and only [`inputs_digest`] can show the
/// inputs are the same. A policy edited since its last apply is known as changed
/// without its BLAKE3 (1.6 MB in cache: 0.11 ms against 0.25 here), which is then taken beside
/// the batch instead of before the parse.
pub fn inputs_checksum<'a>(files: impl IntoIterator<Item = (&'a str, usize, u64)>) -> String {
    let mut c = crate::digest::Checksum::new();
    for (name, len, sum) in files {
        c.update(&(name.len() as u64).to_le_bytes());
        c.update(name.as_bytes());
        c.update(&(len as u64).to_le_bytes());
        c.update(&sum.to_le_bytes());
    }
    format!("{:016x}", c.finish())
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

/// The record is a few hundred bytes plus the include list.
const LIMIT: u64 = 16 << 20;

/// Reads the record at `path`: `Ok(None)` when there is none (or the state directory
/// does not exist) or it is not a record of this version; an error when the state
/// directory or the file is not trusted.
pub fn load(path: &Path) -> Result<Option<ApplyRecord>, crate::safe::Error> {
    use crate::safe::trust;
    let dir = state_dir_of(path);
    if !trust::dir_exists(dir)? {
        return Ok(None);
    }
    trust::check_dir(dir)?;
    let Some(bytes) = trust::read_file(path, LIMIT)? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Writes atomically (temporary file, then rename), owner-only, into a trusted state
/// directory (created when missing); not synced to disk: the record only stands for a
/// ruleset in the namespace it names, and that identity (boot id, namespace cookie) is
/// never the same after a reboot, so a crash can cost the fast path, never trust. A
/// torn or missing file is simply no record. Renamed over the old one: a reader (a
/// metrics scrape) never finds none in between.
pub fn store(path: &Path, rec: &ApplyRecord) -> Result<(), crate::safe::Error> {
    crate::safe::trust::ensure_dir(state_dir_of(path))?;
    let text = serde_json::to_vec(rec).map_err(|e| crate::safe::Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    crate::safe::atomic_write_unsynced(path, &text, 0o600)
}

fn state_dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_stable_and_sensitive() {
        let long = "tcp dport 22 ".repeat(20);
        assert_ne!(
            inputs_digest([("p", long.as_str())]),
            inputs_digest([("p", long.replacen("22", "23", 1).as_str())])
        );
        let a = inputs_digest([("p", "allow ssh"), ("s", "")]);
        assert_eq!(a, inputs_digest([("p", "allow ssh"), ("s", "")]));
        assert!(crate::digest::is_hex_digest(&a), "{a}");
        // Moving text between files, or renaming one, is a different input.
        assert_ne!(a, inputs_digest([("p", "allow ss"), ("s", "h")]));
        assert_ne!(a, inputs_digest([("q", "allow ssh"), ("s", "")]));
        assert_ne!(a, inputs_digest([("pa", "llow ssh"), ("s", "")]));
    }

    /// A 64-bit FNV-style digest, here only to build a colliding pair of policies: the
    /// record's digest must tell them apart.
    fn fnv64(mut h: u64, bytes: &[u8]) -> u64 {
        let (blocks, rest) = if bytes.len() >= 64 {
            bytes.split_at(bytes.len() / 8 * 8)
        } else {
            (&[][..], bytes)
        };
        for c in blocks.chunks_exact(8) {
            h = word(h, c);
        }
        for b in rest {
            h = (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME);
        }
        h
    }

    const FNV_PRIME: u64 = 0x0100_0000_01b3;

    /// One eight-byte step of the old digest's long-input path.
    fn word(h: u64, c: &[u8]) -> u64 {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        (h ^ w).wrapping_mul(FNV_PRIME).rotate_left(29)
    }

    fn fnv_digest(name: &str, text: &str) -> u64 {
        let h = fnv64(0xcbf2_9ce4_8422_2325, env!("CARGO_PKG_VERSION").as_bytes());
        let h = fnv64(fnv64(h, name.as_bytes()), &[0]);
        fnv64(fnv64(h, text.as_bytes()), &[0])
    }

    /// A policy opening every TCP port whose last comment is chosen so that its old
    /// 64-bit digest equals `honest`'s: the forgery the outside review made.
    fn forge(name: &str, honest: &str) -> String {
        let start = fnv64(0xcbf2_9ce4_8422_2325, env!("CARGO_PKG_VERSION").as_bytes());
        let start = fnv64(fnv64(start, name.as_bytes()), &[0]);
        let target = fnv64(start, honest.as_bytes());
        // Inverse of the odd prime modulo 2^64 (Newton's iteration).
        let mut inv: u64 = 1;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(FNV_PRIME.wrapping_mul(inv)));
        }
        let mut head = String::from("policy forged {\n    allow tcp 1-65535\n}\n# ");
        while (head.len() + 16) % 8 != 0 || head.len() + 16 < honest.len() {
            head.push(' ');
        }
        assert_eq!(head.len() + 16, honest.len(), "honest text length must fit");
        // The old digest's state after the forged text's head, one word at a time.
        let before = head.as_bytes().chunks_exact(8).fold(start, word);
        for seed in 0u64.. {
            let x: Vec<u8> = (0..8)
                .map(|i| b'a' + ((seed >> (3 * i)) % 26) as u8)
                .collect();
            let mid = word(before, &x);
            let want = target.rotate_right(29).wrapping_mul(inv) ^ mid;
            let y = want.to_le_bytes();
            if y.iter().all(|b| (0x21..0x7f).contains(b)) {
                let forged = format!(
                    "{head}{}{}",
                    String::from_utf8_lossy(&x),
                    String::from_utf8_lossy(&y)
                );
                return forged;
            }
        }
        unreachable!("the seed space is unbounded")
    }

    #[test]
    fn forged_policy_with_a_colliding_64bit_digest_gets_another_digest_issue8() {
        // Both multiples of 8 bytes long, so a 64-bit word-wise digest mixes whole words only.
        for honest in [
            "policy honest {\n    allow ssh\n}\n# padding to a whole block.....\n",
            "policy web {\n    allow ssh\n    allow tcp 443\n}\n#......................\n",
        ] {
            let honest = format!("{honest:<88}");
            let forged = forge("/etc/hostwall/host.policy", &honest);
            assert!(forged.contains("allow tcp 1-65535"));
            assert_ne!(forged, honest);
            assert_eq!(
                fnv_digest("/etc/hostwall/host.policy", &forged),
                fnv_digest("/etc/hostwall/host.policy", &honest),
                "the pair collides under the old digest"
            );
            assert_ne!(
                inputs_digest([("/etc/hostwall/host.policy", forged.as_str())]),
                inputs_digest([("/etc/hostwall/host.policy", honest.as_str())]),
            );
        }
    }

    #[test]
    fn a_file_is_stamped_only_when_it_was_the_one_read_and_settled_before() {
        use std::time::{Duration, SystemTime};
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.policy"), dir.path().join("b.policy"));
        std::fs::write(&a, "policy a {\n}\n").expect("write");
        std::fs::write(&b, "policy b {\n}\n").expect("write");
        let read_a = FileStamp::of(&a).expect("stat");
        let changed = SystemTime::UNIX_EPOCH + Duration::from_nanos(read_a.ctime_ns as u64);
        let read = |began: SystemTime| {
            let read_a = read_a.clone();
            move |f: &FileStamp| f.same_file(&read_a).then_some(began)
        };
        let paths = [a.clone()];
        // Read half a second after its last change: it may have changed while read.
        assert_eq!(
            InputStamps::take(&paths, read(changed + Duration::from_millis(500))),
            None
        );
        let later = changed + Duration::from_secs(2);
        let s = InputStamps::take(&paths, read(later)).expect("settled");
        assert!(s.hold(&paths));
        // Another file now at the path (a rename over it): not the file read.
        std::fs::rename(&b, &a).expect("rename");
        assert_eq!(InputStamps::take(&paths, read(later)), None);
        assert!(!s.hold(&paths));
    }

    #[test]
    fn store_and_load_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(&dir.path().join("state"), Some("hw/x"));
        assert!(p.ends_with("applied-hw_x.json"));
        let rec = ApplyRecord {
            genid: 7,
            digest: inputs_digest([("p", "x")]),
            includes: vec!["/etc/hostwall/nets.policy".into()],
            table: "hostwall".into(),
            sysctls: vec![("net.ipv4.ip_forward".into(), true)],
            netns: Some(NetnsId {
                boot: "b9dbfc08-6cd0-4d6e-ba18-8a6478c471b2".into(),
                cookie: Some(4097),
                inode: "4:4026531840".into(),
            }),
            warnings: None,
            policy: Some("/etc/hostwall/host.policy".into()),
            stamps: None,
            checksum: Some(inputs_checksum([("p", 1, crate::digest::checksum(b"x"))])),
        };
        store(&p, &rec).expect("store");
        assert_eq!(load(&p).expect("trusted"), Some(rec));
        assert_eq!(load(&p.with_file_name("none")).expect("trusted"), None);
        // No state directory at all: nothing recorded, not an error.
        assert_eq!(
            load(&dir.path().join("missing/x.json")).expect("absent"),
            None
        );
    }
}
