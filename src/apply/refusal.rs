//! What the kernel's answers mean for an apply: a batch's error reply mapped back to
//! the message (and policy lines) that caused it, the client's transport errors, and
//! the errors of entering the change's namespace, as [`ApplyError`]s.

use super::ApplyError;
use crate::emit::netlink::{self, Batch};
use crate::netns::{NETNS_DIR, NetnsError};
use crate::nft::client::{NlError, Refusal, Reply, Step};
use std::io;

/// The first error reply of a batch, by the message it names.
pub(super) fn batch_error(batch: &Batch, r: &Reply, genid: u32, table: &str) -> ApplyError {
    let msg = batch.message(r.seq);
    let is_begin = msg.is_some_and(|m| m.what == netlink::BatchPart::BatchBegin);
    match r.errno {
        libc::ERESTART if is_begin => return ApplyError::Concurrent { expected: genid },
        // Without CAP_NET_ADMIN nfnetlink refuses the whole batch at its
        // begin message; EPERM on a table operation past it is the table's
        // owner flag (another process holds it), not a capability problem.
        libc::EPERM if is_begin || msg.is_none() => return ApplyError::Permission,
        libc::EPERM => return owned(table),
        libc::EPROTONOSUPPORT | libc::EOPNOTSUPP if is_begin => return ApplyError::NoNfTables,
        _ => {}
    }
    let mut message = io::Error::from_raw_os_error(r.errno).to_string();
    if let Some(x) = &r.extack {
        message.push_str(&format!(" ({x})"));
    }
    ApplyError::Kernel {
        errno: r.errno,
        message,
        what: msg.map_or_else(
            || format!("message with sequence {}", r.seq),
            |m| m.what.to_string(),
        ),
        origin: msg.map(|m| m.origin.clone()).unwrap_or_default(),
    }
}

/// A batch's transport failure: a receive-queue overflow dropped replies, so
/// whether the kernel committed cannot be told from them.
pub(super) fn batch_transport(e: NlError) -> ApplyError {
    match (e.step, e.errno()) {
        (Step::Recv, Some(libc::ENOBUFS)) => ApplyError::NotCommitted,
        _ => ApplyError::from(e),
    }
}

/// The table is held by another process's netlink socket (`flags owner`).
pub(crate) fn owned(table: &str) -> ApplyError {
    ApplyError::Owned {
        table: format!("inet {table}"),
    }
}

impl From<NlError> for ApplyError {
    fn from(e: NlError) -> ApplyError {
        match e.refusal() {
            Refusal::Permission => ApplyError::Permission,
            Refusal::NoNfTables => ApplyError::NoNfTables,
            Refusal::Other => ApplyError::Socket {
                op: match e.step {
                    Step::Reply | Step::Answer => format!("reading the {}", e.what),
                    _ => e.doing(),
                },
                source: e.source,
            },
        }
    }
}

/// Entering the change's namespace failed.
pub(super) fn netns(e: NetnsError) -> ApplyError {
    match e {
        NetnsError::Missing(name) => ApplyError::NetnsMissing {
            path: format!("{NETNS_DIR}/{name}"),
            name,
        },
        NetnsError::Enter { source, .. } if source.raw_os_error() == Some(libc::EPERM) => {
            ApplyError::Permission
        }
        NetnsError::Enter { name, source } | NetnsError::Io { name, source, .. } => {
            ApplyError::Netns { name, source }
        }
        // A panic on the namespace thread, or (not returned when entering) a failure
        // to create or configure one.
        other => ApplyError::Netns {
            name: String::new(),
            source: io::Error::other(other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nl(step: Step, errno: i32) -> NlError {
        NlError {
            what: "generation",
            step,
            source: io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn transport_errors_by_errno_and_step() {
        assert!(matches!(
            ApplyError::from(nl(Step::Reply, libc::EPERM)),
            ApplyError::Permission
        ));
        assert!(matches!(
            ApplyError::from(nl(Step::Open, libc::EACCES)),
            ApplyError::Permission
        ));
        let no = ApplyError::from(nl(Step::Open, libc::EPROTONOSUPPORT));
        assert!(matches!(no, ApplyError::NoNfTables));
        let other = ApplyError::from(nl(Step::Reply, libc::EINVAL));
        assert!(
            other
                .to_string()
                .starts_with("netlink socket error while reading the generation: ")
        );
        let lost = batch_transport(nl(Step::Recv, libc::ENOBUFS));
        assert!(matches!(lost, ApplyError::NotCommitted));
        let sent = batch_transport(nl(Step::Send, libc::ENOBUFS));
        assert!(matches!(sent, ApplyError::Socket { .. }));
    }

    #[test]
    fn namespace_errors() {
        let missing = netns(NetnsError::Missing("lab".into()));
        assert_eq!(
            missing.to_string(),
            "network namespace \"lab\" not found (/run/netns/lab)"
        );
        let denied = NetnsError::Enter {
            name: "lab".into(),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(matches!(netns(denied), ApplyError::Permission));
        let bad = NetnsError::Enter {
            name: "lab".into(),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert!(matches!(netns(bad), ApplyError::Netns { name, .. } if name == "lab"));
    }
}
