//! The forwarding sysctl step: the only code that reads or writes `/proc/sys`.
//!
//! Values are captured before the ruleset changes, written after it commits,
//! and restored if a later write fails. The root directory is a parameter so
//! tests can point it at a tree where writes fail.
//!
//! Writing a global forwarding key makes the kernel copy the value into every
//! interface's `conf/IF/forwarding` (and `conf/default`), so those copies are
//! captured too and put back after the global key when a step is undone:
//! otherwise "restored" would still leave every interface changed.

use crate::ir::{Sysctl, SysctlSetting};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub const PROC_SYS: &str = "/proc/sys";

/// This boot's random id (`kernel.random.boot_id`, the same in every namespace): what
/// tells a namespace identity of this boot from one of an earlier boot.
pub fn boot_id() -> io::Result<String> {
    let text = std::fs::read_to_string(Path::new(PROC_SYS).join("kernel/random/boot_id"))?;
    let id = text.trim();
    if id.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "empty boot id"));
    }
    Ok(id.to_string())
}

/// `/proc/sys/KEY` for a dotted key (`net.ipv4.ip_forward`).
fn key_path(key: &str) -> PathBuf {
    Path::new(PROC_SYS).join(key.replace('.', "/"))
}

/// Reads any sysctl by dotted key, as the calling thread's namespace sees it (the
/// `net` keys belong to the namespace of the thread that opens the file), trimmed.
pub fn read_key(key: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(key_path(key))?.trim().to_string())
}

/// Writes any sysctl by dotted key in the calling thread's namespace. For namespaces
/// a caller created (`verify`'s lab); the host's forwarding step is [`apply`].
pub fn write_key(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(key_path(key), value)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot {} {} ({}): {source}", if *.op == Op::Read { "read" } else { "write" }, .key.name(), .path.display())]
pub struct SysctlError {
    pub key: Sysctl,
    pub op: Op,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// One sysctl as it was and as the policy wants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysctlChange {
    pub key: Sysctl,
    pub old: bool,
    pub new: bool,
}

impl fmt::Display for SysctlChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} (was {})",
            self.key.name(),
            self.new as u8,
            self.old as u8
        )
    }
}

/// `root/net/ipv4/ip_forward` for `net.ipv4.ip_forward`.
pub fn path(root: &Path, key: Sysctl) -> PathBuf {
    root.join(key.name().replace('.', "/"))
}

pub fn read(root: &Path, key: Sysctl) -> Result<bool, SysctlError> {
    read_path(&path(root, key), key)
}

/// Reads a 0/1 file; errors name `key`, the setting it belongs to.
fn read_path(p: &Path, key: Sysctl) -> Result<bool, SysctlError> {
    let err = |source| SysctlError {
        key,
        op: Op::Read,
        path: p.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(p).map_err(err)?;
    match text.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected value {other:?}"),
        ))),
    }
}

pub fn write(root: &Path, key: Sysctl, value: bool) -> Result<(), SysctlError> {
    write_path(&path(root, key), key, value)
}

fn write_path(p: &Path, key: Sysctl, value: bool) -> Result<(), SysctlError> {
    std::fs::write(p, if value { "1\n" } else { "0\n" }).map_err(|source| SysctlError {
        key,
        op: Op::Write,
        path: p.to_path_buf(),
        source,
    })
}

/// Reads the current value of every sysctl the policy sets.
pub fn capture(root: &Path, settings: &[SysctlSetting]) -> Result<Vec<SysctlChange>, SysctlError> {
    settings
        .iter()
        .map(|s| {
            Ok(SysctlChange {
                key: s.key,
                old: read(root, s.key)?,
                new: s.value,
            })
        })
        .collect()
}

/// The per-interface copies of one global key, as they were before it was
/// written: paths relative to the sysctl root
/// (`net/ipv4/conf/eth0/forwarding`) and their values.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Interfaces {
    pub values: Vec<(String, bool)>,
}

/// `net/ipv4/conf` for `net.ipv4.ip_forward`, `net/ipv6/conf` for
/// `net.ipv6.conf.all.forwarding`: where the kernel propagates a write.
fn conf_dir(key: Sysctl) -> &'static str {
    match key {
        Sysctl::Ipv4Forward => "net/ipv4/conf",
        Sysctl::Ipv6Forward => "net/ipv6/conf",
    }
}

/// Reads every `conf/*/forwarding` the kernel overwrites when `key` is
/// written (`all` is the global key itself, or mirrors it). A tree without
/// the directory (a test tree) has none.
pub fn capture_interfaces(root: &Path, key: Sysctl) -> Result<Interfaces, SysctlError> {
    let dir = root.join(conf_dir(key));
    let err = |path: PathBuf| {
        move |source| SysctlError {
            key,
            op: Op::Read,
            path,
            source,
        }
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Interfaces::default()),
        Err(e) => return Err(err(dir)(e)),
    };
    let mut names = Vec::new();
    for e in entries {
        let name = e.map_err(err(dir.clone()))?.file_name();
        let name = name.to_string_lossy().into_owned();
        if name != "all" {
            names.push(name);
        }
    }
    names.sort();
    let mut values = Vec::new();
    for name in names {
        let rel = format!("{}/{name}/forwarding", conf_dir(key));
        match read_path(&root.join(&rel), key) {
            Ok(v) => values.push((rel, v)),
            // The interface went away since the listing: nothing to restore.
            Err(e) if e.source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Interfaces { values })
}

/// Writes the captured per-interface values back (after the global key, which
/// overwrote them all). Interfaces removed since the capture are skipped.
pub fn restore_interfaces(root: &Path, key: Sysctl, saved: &Interfaces) -> Vec<SysctlError> {
    saved
        .values
        .iter()
        .filter_map(|(rel, v)| match write_path(&root.join(rel), key, *v) {
            Err(e) if e.source.kind() == io::ErrorKind::NotFound => None,
            r => r.err(),
        })
        .collect()
}

/// A write failed; `restore_errors` lists writes that could not be undone.
#[derive(Debug)]
pub struct StepFailure {
    pub error: SysctlError,
    pub restore_errors: Vec<SysctlError>,
}

/// Captures the per-interface copies of every key `changes` will write.
pub fn capture_all_interfaces(
    root: &Path,
    changes: &[SysctlChange],
) -> Result<Vec<Interfaces>, SysctlError> {
    changes
        .iter()
        .map(|c| match c.old == c.new {
            true => Ok(Interfaces::default()),
            false => capture_interfaces(root, c.key),
        })
        .collect()
}

/// Writes the captured changes in order (skipping values already right). On
/// failure, restores the ones already written, newest first, each global key
/// followed by its per-interface copies (`interfaces[i]` belongs to
/// `changes[i]`; missing entries restore none).
pub fn apply(
    root: &Path,
    changes: &[SysctlChange],
    interfaces: &[Interfaces],
) -> Result<(), StepFailure> {
    for (i, c) in changes.iter().enumerate() {
        if c.old == c.new {
            continue;
        }
        if let Err(error) = write(root, c.key, c.new) {
            return Err(StepFailure {
                error,
                restore_errors: undo(root, &changes[..i], interfaces),
            });
        }
    }
    Ok(())
}

/// Restores `written` newest first; returns what could not be restored.
fn undo(root: &Path, written: &[SysctlChange], interfaces: &[Interfaces]) -> Vec<SysctlError> {
    let mut errors = Vec::new();
    for (i, d) in written.iter().enumerate().rev() {
        if d.old == d.new {
            continue;
        }
        match write(root, d.key, d.old) {
            Err(e) => errors.push(e),
            Ok(()) => {
                if let Some(saved) = interfaces.get(i) {
                    errors.extend(restore_interfaces(root, d.key, saved));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_key_reads_by_its_dotted_name() {
        let id = boot_id().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_key("kernel.random.boot_id").ok(), Some(id));
        assert_eq!(
            key_path("net.ipv4.ip_forward"),
            Path::new("/proc/sys/net/ipv4/ip_forward")
        );
        let missing = read_key("net.hostwall.no_such_key").err().map(|e| e.kind());
        assert_eq!(missing, Some(io::ErrorKind::NotFound));
    }

    fn tree(ip4: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        std::fs::create_dir_all(d.path().join("net/ipv4")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(d.path().join("net/ipv4/ip_forward"), ip4).unwrap_or_else(|e| panic!("{e}"));
        // ipv6 forwarding is a directory: reading and writing it fail.
        std::fs::create_dir_all(d.path().join("net/ipv6/conf/all/forwarding"))
            .unwrap_or_else(|e| panic!("{e}"));
        d
    }

    fn set(key: Sysctl, value: bool) -> SysctlSetting {
        SysctlSetting {
            key,
            value,
            origin: None,
        }
    }

    #[test]
    fn failed_write_restores_earlier_writes() {
        let d = tree("0\n");
        let mut changes = capture(d.path(), &[set(Sysctl::Ipv4Forward, true)]).unwrap_or_default();
        changes.push(SysctlChange {
            key: Sysctl::Ipv6Forward,
            old: false,
            new: true,
        });
        let f = apply(d.path(), &changes, &[])
            .err()
            .map(|f| f.error.to_string());
        let msg = f.unwrap_or_default();
        assert!(
            msg.starts_with("cannot write net.ipv6.conf.all.forwarding"),
            "{msg}"
        );
        assert_eq!(read(d.path(), Sysctl::Ipv4Forward).ok(), Some(false));
    }

    #[test]
    fn unchanged_values_are_not_written() {
        let d = tree("1\n");
        let changes = capture(d.path(), &[set(Sysctl::Ipv4Forward, true)]).unwrap_or_default();
        assert_eq!(changes.len(), 1);
        assert!(apply(d.path(), &changes, &[]).is_ok());
        let msg = capture(d.path(), &[set(Sysctl::Ipv6Forward, true)])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.starts_with("cannot read net.ipv6.conf.all.forwarding"),
            "{msg}"
        );
    }

    #[test]
    fn interface_copies_are_captured_and_restored_without_all() {
        let d = tree("0\n");
        for (dir, v) in [("all", "0\n"), ("default", "0\n"), ("eth0.100", "1\n")] {
            let p = d.path().join("net/ipv4/conf").join(dir);
            std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(p.join("forwarding"), v).unwrap_or_else(|e| panic!("{e}"));
        }
        let saved =
            capture_interfaces(d.path(), Sysctl::Ipv4Forward).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = saved.values.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "net/ipv4/conf/default/forwarding",
                "net/ipv4/conf/eth0.100/forwarding"
            ]
        );
        // The kernel's propagation, by hand: everything becomes 0.
        std::fs::write(d.path().join("net/ipv4/conf/eth0.100/forwarding"), "0\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(restore_interfaces(d.path(), Sysctl::Ipv4Forward, &saved).is_empty());
        let back = std::fs::read_to_string(d.path().join("net/ipv4/conf/eth0.100/forwarding"));
        assert_eq!(back.ok().as_deref(), Some("1\n"));
        // No conf directory (IPv6 here): nothing to capture.
        let none = capture_interfaces(d.path(), Sysctl::Ipv6Forward).map(|i| i.values.len());
        assert_eq!(none.ok(), Some(0));
    }
}
