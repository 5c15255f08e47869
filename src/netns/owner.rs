//! Owner identity of the namespaces this process creates, and reaping the
//! ones whose owner is gone.
//!
//! [`Netns::create_unique`](super::Netns::create_unique) names a namespace
//! `PREFIX-<pid>-<start>-<random>`: `start` is the owner's start time (field 22
//! of `/proc/<pid>/stat`, clock ticks since boot), so a pid the kernel has
//! since given to another process does not pass for the owner. A process
//! killed by SIGKILL cannot remove its namespaces; [`reap_orphans`] removes
//! every namespace of a prefix whose owner is no longer running (no such
//! process, a zombie, or another start time). On any doubt (an unreadable
//! `/proc` entry, a name of another form) the namespace is left alone: a live
//! run's namespaces are never touched. Names of the older form
//! `PREFIX-<pid>-<random>` are reaped only when no process has that pid.
//! Owners are looked up in the caller's pid namespace.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

/// Who created a namespace: a process id and, when known, its start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub start: Option<u64>,
}

impl Owner {
    /// This process (its start time is `None` only if `/proc/self/stat` is unreadable).
    pub fn current() -> Owner {
        static START: OnceLock<Option<u64>> = OnceLock::new();
        let start = *START.get_or_init(|| process_start(std::process::id()).ok().flatten());
        Owner {
            pid: std::process::id(),
            start,
        }
    }

    /// The part of a namespace name after `PREFIX-` and before the random tail.
    pub fn tag(&self) -> String {
        match self.start {
            Some(start) => format!("{}-{start}", self.pid),
            None => self.pid.to_string(),
        }
    }

    /// Whether the owner may still be running: `false` only when certain it is not.
    pub fn alive(&self) -> bool {
        match process_start(self.pid) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(_) => true,
            Ok(None) => false, // a zombie: it will never remove anything again
            Ok(Some(start)) => self.start.is_none_or(|s| s == start),
        }
    }
}

/// The owner named by `name` if it is `PREFIX-<pid>-<start>-<hex>` or
/// `PREFIX-<pid>-<hex>`; `None` for any other name.
pub fn parse(prefix: &str, name: &str) -> Option<Owner> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let parts: Vec<&str> = rest.split('-').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let (pid, start, tail) = match parts.as_slice() {
        [pid, start, tail] if digits(start) => (*pid, Some(start.parse().ok()?), *tail),
        [pid, tail] => (*pid, None, *tail),
        _ => return None,
    };
    if !digits(pid) || !hex(tail) {
        return None;
    }
    Some(Owner {
        pid: pid.parse().ok()?,
        start,
    })
}

/// A process's start time, `None` for a zombie; `NotFound` when there is no such process.
fn process_start(pid: u32) -> io::Result<Option<u64>> {
    let stat = fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))?;
    // The command name is in parentheses and may hold anything: fields start after the last ')'.
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc stat format");
    let after = stat.rfind(')').map(|i| &stat[i + 1..]).ok_or_else(bad)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return Ok(None);
    }
    let start = fields.get(19).ok_or_else(bad)?;
    start.parse().map(Some).map_err(|_| bad())
}

/// What [`reap_orphans`] did.
#[derive(Debug, Default)]
pub struct Reaped {
    /// Names of the orphaned namespaces removed.
    pub removed: Vec<String>,
    /// Orphans that could not be removed, with the error.
    pub failed: Vec<(String, io::Error)>,
}

/// Removes every namespace named `PREFIX-<owner>-<random>` whose owner is gone.
pub fn reap_orphans(prefix: &str) -> Reaped {
    let mut reaped = Reaped::default();
    let names = match super::list() {
        Ok(names) => names,
        Err(e) => {
            reaped.failed.push((super::NETNS_DIR.to_string(), e));
            return reaped;
        }
    };
    for name in names {
        let Some(owner) = parse(prefix, &name) else {
            continue;
        };
        if owner.alive() {
            continue;
        }
        let path = Path::new(super::NETNS_DIR).join(&name);
        match super::detach_and_unlink(&path) {
            Ok(()) => reaped.removed.push(name),
            // Another run reaped it at the same moment.
            Err(_) if !path.exists() => {}
            Err(e) => reaped.failed.push((name, e)),
        }
    }
    reaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_owner() {
        let me = Owner::current();
        assert_eq!(me.pid, std::process::id());
        assert!(me.start.is_some(), "own start time is readable");
        let name = format!("hw-v-{}-00ab12", me.tag());
        assert_eq!(parse("hw-v", &name), Some(me));
        assert_eq!(
            parse("hw-v", "hw-v-42-00ab12"),
            Some(Owner {
                pid: 42,
                start: None
            })
        );
        for other in [
            "hw-v-42",
            "hw-v-x-1-00ab12",
            "hw-v-42-1-2-00ab12",
            "hw-vx-42-1-00ab12",
            "hw-v-42-1-zz",
            "guest-lab",
            "hw-v--1-00ab12",
        ] {
            assert_eq!(parse("hw-v", other), None, "{other}");
        }
    }

    #[test]
    fn liveness_is_pid_and_start_time() {
        let me = Owner::current();
        assert!(me.alive());
        // The same pid with another start time is a reused pid: its owner is gone.
        let reused = Owner {
            start: me.start.map(|s| s + 1),
            ..me
        };
        assert!(!reused.alive());
        // A process that has exited (and been waited for) is gone.
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        let gone = Owner { pid, start: None };
        // The pid could be reused at once by another process; only then is it alive.
        if process_start(pid).is_err() {
            assert!(!gone.alive());
        }
    }

    #[test]
    fn zombies_are_gone() {
        let child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        // Not waited for: it becomes a zombie once it exits.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while process_start(pid).ok().flatten().is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let start = Owner { pid, start: None };
        assert!(!start.alive(), "a zombie owner is gone");
        drop(child);
    }
}
