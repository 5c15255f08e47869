//! The system log, and the only code that writes to it: one datagram per entry to the
//! journal's native socket (structured fields: `MESSAGE`, `PRIORITY`,
//! `SYSLOG_IDENTIFIER=hostwall`, plus the caller's `HOSTWALL_*` fields), or, when the
//! journal is not there, one RFC 3164 line to the syslog socket with the fields
//! appended as `key=value`. Both paths are settable so tests can bind their own
//! sockets. Sending never blocks for long (a 1 s send timeout) and its failure is only
//! returned, never fatal: what is being logged (a revert) matters more than the log.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// systemd-journald's native protocol socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// The syslog socket (rsyslog, syslog-ng, busybox syslogd, or journald's own).
pub const SYSLOG_SOCKET: &str = "/dev/log";

const IDENT: &str = "hostwall";
/// `LOG_DAEMON`.
const FACILITY: u8 = 3;
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Where entries go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemLog {
    pub journal: PathBuf,
    pub syslog: PathBuf,
}

impl Default for SystemLog {
    fn default() -> Self {
        SystemLog {
            journal: PathBuf::from(JOURNAL_SOCKET),
            syslog: PathBuf::from(SYSLOG_SOCKET),
        }
    }
}

/// syslog severities used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
}

/// One log entry. Field names are journal field names: upper case letters, digits and
/// `_`, not starting with `_` (for example `HOSTWALL_ID`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub priority: Priority,
    pub message: String,
    pub fields: Vec<(&'static str, String)>,
}

/// Which socket took the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Journal,
    Syslog,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write to the system log: journal {}: {journal}; syslog {}: {syslog}", paths.0.display(), paths.1.display())]
pub struct LogError {
    paths: (PathBuf, PathBuf),
    journal: std::io::Error,
    syslog: std::io::Error,
}

impl SystemLog {
    /// Sends `entry` to the journal, else to syslog.
    pub fn send(&self, entry: &Entry) -> Result<Sent, LogError> {
        let journal = match datagram(&self.journal, &journal_payload(entry)) {
            Ok(()) => return Ok(Sent::Journal),
            Err(e) => e,
        };
        match datagram(&self.syslog, syslog_payload(entry).as_bytes()) {
            Ok(()) => Ok(Sent::Syslog),
            Err(syslog) => Err(LogError {
                paths: (self.journal.clone(), self.syslog.clone()),
                journal,
                syslog,
            }),
        }
    }
}

fn datagram(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    sock.set_write_timeout(Some(SEND_TIMEOUT))?;
    sock.send_to(bytes, path).map(|_| ())
}

/// The journal's native format: `KEY=value\n`, or for a value holding a newline
/// `KEY\n`, its length as a little-endian u64, the value, `\n`.
pub fn journal_payload(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    let mut field = |key: &str, value: &str| {
        out.extend_from_slice(key.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    };
    field("MESSAGE", &entry.message);
    field("PRIORITY", &(entry.priority as u8).to_string());
    field("SYSLOG_IDENTIFIER", IDENT);
    field("SYSLOG_FACILITY", &FACILITY.to_string());
    field("SYSLOG_PID", &std::process::id().to_string());
    for (k, v) in &entry.fields {
        field(k, v);
    }
    out
}

/// `<PRI>hostwall[PID]: MESSAGE (key=value ...)` on one line; the receiving daemon
/// adds the time stamp.
pub fn syslog_payload(entry: &Entry) -> String {
    let pri = u16::from(FACILITY) * 8 + entry.priority as u16;
    let mut line = format!("<{pri}>{IDENT}[{}]: {}", std::process::id(), entry.message);
    let fields: Vec<String> = entry
        .fields
        .iter()
        .map(|(k, v)| {
            let key = k
                .strip_prefix("HOSTWALL_")
                .unwrap_or(k)
                .to_ascii_lowercase();
            format!("{key}={v:?}")
        })
        .collect();
    if !fields.is_empty() {
        line.push_str(&format!(" ({})", fields.join(" ")));
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            priority: Priority::Warning,
            message: "reverted change c1".into(),
            fields: vec![
                ("HOSTWALL_ID", "c1".into()),
                ("HOSTWALL_ERROR", "line one\nline two".into()),
            ],
        }
    }

    fn bound(dir: &Path, name: &str) -> (UnixDatagram, PathBuf) {
        let p = dir.join(name);
        let s = UnixDatagram::bind(&p).expect("bind");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        (s, p)
    }

    fn recv(s: &UnixDatagram) -> Vec<u8> {
        let mut buf = vec![0u8; 65536];
        let n = s.recv(&mut buf).expect("a datagram");
        buf.truncate(n);
        buf
    }

    #[test]
    fn journal_gets_native_fields_with_binary_multiline_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (journal, jp) = bound(dir.path(), "journal");
        let log = SystemLog {
            journal: jp,
            syslog: dir.path().join("no-syslog"),
        };
        assert_eq!(log.send(&entry()).expect("sent"), Sent::Journal);
        let got = recv(&journal);
        let text = String::from_utf8_lossy(&got);
        for line in [
            "MESSAGE=reverted change c1\n",
            "PRIORITY=4\n",
            "SYSLOG_IDENTIFIER=hostwall\n",
            "HOSTWALL_ID=c1\n",
        ] {
            assert!(text.contains(line), "{line:?} missing in {text:?}");
        }
        let mut multi = b"HOSTWALL_ERROR\n".to_vec();
        multi.extend_from_slice(&17u64.to_le_bytes());
        multi.extend_from_slice(b"line one\nline two\n");
        assert!(got.windows(multi.len()).any(|w| w == multi.as_slice()));
    }

    #[test]
    fn without_a_journal_it_falls_back_to_syslog_and_reports_when_both_fail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (syslog, sp) = bound(dir.path(), "log");
        let log = SystemLog {
            journal: dir.path().join("no-journal"),
            syslog: sp,
        };
        assert_eq!(log.send(&entry()).expect("sent"), Sent::Syslog);
        let line = String::from_utf8(recv(&syslog)).expect("utf-8");
        let head = format!("<28>hostwall[{}]: reverted change c1 (", std::process::id());
        assert!(line.starts_with(&head), "{line}");
        assert!(line.contains("id=\"c1\""), "{line}");
        assert!(!line.contains('\n'), "{line}");
        let none = SystemLog {
            journal: dir.path().join("a"),
            syslog: dir.path().join("b"),
        };
        let err = none.send(&entry()).expect_err("nowhere to send");
        assert!(
            err.to_string()
                .starts_with("cannot write to the system log: journal ")
        );
    }
}
