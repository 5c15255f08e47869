//! Which network namespace a pending change belongs to: one pending change per
//! namespace. A slot is a short key taken from the namespace's identity (the caller
//! derives it, e.g. from `crate::nsid::NetnsId::key`); it names the change's files
//! (`pending-KEY.json`, `pending-KEY.prev`) and ends every change id (`TIME-PID-KEY`),
//! so a watcher that is given only the id finds its record.

use super::Error;
use std::path::{Path, PathBuf};

/// Longest key accepted (a cookie is at most 17 characters, an inode key about 30).
const KEY_MAX: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    key: String,
    /// The `--netns` name the namespace was given, for messages only.
    netns: Option<String>,
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= KEY_MAX
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Slot {
    /// The slot `key` (lowercase letters, digits and `-`), named `netns` in messages.
    pub fn new(key: &str, netns: Option<&str>) -> Result<Slot, Error> {
        if !valid_key(key) {
            return Err(Error::BadId(key.to_string()));
        }
        Ok(Slot {
            key: key.to_string(),
            netns: netns.map(str::to_string),
        })
    }

    /// The slot a change id ends with.
    pub fn of_id(id: &str) -> Result<Slot, Error> {
        let mut parts = id.splitn(3, '-');
        let (Some(time), Some(pid), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::BadId(id.to_string()));
        };
        let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(time) || !hex(pid) {
            return Err(Error::BadId(id.to_string()));
        }
        Slot::new(key, None)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `--netns` name, when the slot was made for one.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// A new change id in this slot: unique per host, because one pid starts at most
    /// one change per second under the lock.
    pub fn new_id(&self, now: u64) -> String {
        format!("{now:x}-{:x}-{}", std::process::id(), self.key)
    }

    pub fn record_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("pending-{}.json", self.key))
    }

    pub fn previous_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("pending-{}.prev", self.key))
    }

    /// Another file of this slot's change, `PREFIX-KEY.json` (the deferred drop-in).
    pub fn file(&self, dir: &Path, prefix: &str) -> PathBuf {
        dir.join(format!("{prefix}-{}.json", self.key))
    }
}

/// Every slot with a pending-change record in `dir` (sorted by key).
pub fn all(dir: &Path) -> Result<Vec<Slot>, Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut slots: Vec<Slot> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key = name.strip_prefix("pending-")?.strip_suffix(".json")?;
            Slot::new(key, None).ok()
        })
        .collect();
    slots.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_slot_and_bad_ones_are_refused() {
        let s = Slot::new("c1a2f", Some("lab")).expect("slot");
        let id = s.new_id(0x6b0f_4832);
        assert!(
            id.starts_with("6b0f4832-") && id.ends_with("-c1a2f"),
            "{id}"
        );
        assert_eq!(Slot::of_id(&id).expect("slot").key(), "c1a2f");
        let inode = Slot::new("i4-4026531840", None).expect("slot");
        assert_eq!(Slot::of_id(&inode.new_id(9)).expect("slot"), inode);
        for bad in [
            "",
            "6b0f4832-1f",
            "6b0f4832-1f-",
            "x-1f-c1",
            "1-2-../x",
            "1-2-C1",
        ] {
            assert!(Slot::of_id(bad).is_err(), "{bad}");
        }
        assert!(Slot::new(&"a".repeat(65), None).is_err());
        assert_eq!(
            s.record_path(Path::new("/run/hostwall")),
            Path::new("/run/hostwall/pending-c1a2f.json")
        );
    }
}
