//! The forwarding sysctl step: the only code that reads or writes `/proc/sys`.
//!
//! Values are captured before the ruleset changes, written after it commits,
//! and restored if a later write fails. The root directory is a parameter so
//! tests can point it at a tree where writes fail.

use crate::ir::{Sysctl, SysctlSetting};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub const PROC_SYS: &str = "/proc/sys";

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
    let p = path(root, key);
    let err = |source| SysctlError {
        key,
        op: Op::Read,
        path: p.clone(),
        source,
    };
    let text = std::fs::read_to_string(&p).map_err(err)?;
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
    let p = path(root, key);
    std::fs::write(&p, if value { "1\n" } else { "0\n" }).map_err(|source| SysctlError {
        key,
        op: Op::Write,
        path: p,
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

/// A write failed; `restore_errors` lists writes that could not be undone.
#[derive(Debug)]
pub struct StepFailure {
    pub error: SysctlError,
    pub restore_errors: Vec<SysctlError>,
}

/// Writes the captured changes in order (skipping values already right). On
/// failure, restores the ones already written, newest first.
pub fn apply(root: &Path, changes: &[SysctlChange]) -> Result<(), StepFailure> {
    for (i, c) in changes.iter().enumerate() {
        if c.old == c.new {
            continue;
        }
        if let Err(error) = write(root, c.key, c.new) {
            let restore_errors = changes[..i]
                .iter()
                .rev()
                .filter(|d| d.old != d.new)
                .filter_map(|d| write(root, d.key, d.old).err())
                .collect();
            return Err(StepFailure {
                error,
                restore_errors,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let f = apply(d.path(), &changes).err().map(|f| f.error.to_string());
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
        assert!(apply(d.path(), &changes).is_ok());
        let msg = capture(d.path(), &[set(Sysctl::Ipv6Forward, true)])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            msg.starts_with("cannot read net.ipv6.conf.all.forwarding"),
            "{msg}"
        );
    }
}
