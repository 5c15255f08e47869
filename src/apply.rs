//! Applying a ruleset to the kernel: all netlink socket work. One batch, one
//! `sendmsg`, every error reply mapped back to the message (and policy lines)
//! that caused it, the generation id guarding against concurrent changes, then
//! the sysctl step with rollback of both ruleset and sysctls if it fails.

pub mod restore;
mod snapshot;

use crate::emit::netlink::{self, Batch, BatchOptions, EmitError};
use crate::ir::Ruleset;
use crate::nft::sock::{self, NfSocket};
use crate::nft::wire::{MsgType, Writer};
use crate::source::Span;
use crate::sysctl::{self, SysctlChange, SysctlError};
use snapshot::Snapshot;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    /// Enter `/run/netns/NAME` before opening the socket and the sysctl step.
    pub netns: Option<String>,
    /// Build everything, send nothing.
    pub dry_run: bool,
    /// Where sysctls live; `None` means `/proc/sys`. Tests point it elsewhere.
    pub sysctl_root: Option<PathBuf>,
    /// The generation id the caller saw (e.g. when it captured the previous
    /// state): the batch is guarded by it instead of a fresh read, so any
    /// change since then is refused with [`ApplyError::Concurrent`].
    pub expect_genid: Option<u32>,
}

#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    /// Generation before the change, and after it (equal for a dry run).
    pub genid_before: u32,
    pub genid: u32,
    pub messages: usize,
    pub batch_bytes: usize,
    pub build_time: Duration,
    /// Time inside the one `sendmsg`: the kernel validating and committing.
    pub send_time: Duration,
    /// `send_time` plus reading the replies.
    pub send_ack_time: Duration,
    pub sysctls: Vec<SysctlChange>,
    /// Dry run: one line per message that would be sent.
    pub plan: Vec<String>,
    pub dry_run: bool,
}

/// What went wrong, by phase. Nothing is left changed unless stated.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("network namespace {name:?} not found ({path})")]
    NetnsMissing { name: String, path: String },
    #[error("cannot enter network namespace {name:?}: {source}")]
    Netns { name: String, source: io::Error },
    #[error("permission denied: changing the firewall needs CAP_NET_ADMIN (run as root)")]
    Permission,
    #[error("the kernel has no nf_tables support (module nf_tables not available)")]
    NoNfTables,
    #[error("netlink socket error while {op}: {source}")]
    Socket { op: &'static str, source: io::Error },
    #[error("cannot build the batch: {0}")]
    Emit(#[from] EmitError),
    #[error("the kernel refused {what}: {message}")]
    Kernel {
        errno: i32,
        /// strerror text, plus the kernel's extended ack message if present.
        message: String,
        /// Which message: "rule 4 of chain input".
        what: String,
        origin: Vec<Span>,
    },
    #[error(
        "ruleset changed concurrently (generation {expected} is no longer current); nothing was applied, try again"
    )]
    Concurrent { expected: u32 },
    #[error("the kernel did not commit the batch and sent no error (replies lost?)")]
    NotCommitted,
    #[error("{error}; {}", rollback_summary(.rollback, .restore_errors))]
    Sysctl {
        error: SysctlError,
        /// Rolling the ruleset back to its previous state failed.
        rollback: Option<Box<ApplyError>>,
        restore_errors: Vec<SysctlError>,
    },
    #[error("cannot read the current table for rollback: {0}")]
    Snapshot(String),
}

fn rollback_summary(rollback: &Option<Box<ApplyError>>, restore: &[SysctlError]) -> String {
    let mut s = match rollback {
        None => "the ruleset was rolled back to its previous state".to_string(),
        Some(e) => format!("ROLLBACK FAILED, the new ruleset is still loaded: {e}"),
    };
    for e in restore {
        s.push_str(&format!("; also could not restore: {e}"));
    }
    s
}

impl ApplyError {
    /// Policy lines behind the failure, for `file:line:col` rendering.
    pub fn origin(&self) -> &[Span] {
        match self {
            ApplyError::Kernel { origin, .. } => origin,
            _ => &[],
        }
    }
}

/// Makes the kernel's table `rs.table.name` exactly `rs`, then the sysctls.
pub fn apply(rs: &Ruleset, opts: &ApplyOptions) -> Result<ApplyReport, ApplyError> {
    in_netns(opts.netns.as_deref(), || apply_here(rs, opts))
}

/// Runs `f` in `/run/netns/NAME` (or right here for `None`). setns() changes only
/// the calling thread, so a scoped thread keeps the caller in its own namespace.
pub(crate) fn in_netns<T: Send, E: From<ApplyError> + Send>(
    netns: Option<&str>,
    f: impl FnOnce() -> Result<T, E> + Send,
) -> Result<T, E> {
    let Some(name) = netns else {
        return f();
    };
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            enter_named_netns(name)?;
            f()
        });
        h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn enter_named_netns(name: &str) -> Result<(), ApplyError> {
    let path = format!("/run/netns/{name}");
    if name.contains('/') || !Path::new(&path).exists() {
        return Err(ApplyError::NetnsMissing {
            name: name.to_string(),
            path,
        });
    }
    sock::enter_netns(Path::new(&path)).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) => ApplyError::Permission,
        _ => ApplyError::Netns {
            name: name.to_string(),
            source: e,
        },
    })
}

fn apply_here(rs: &Ruleset, opts: &ApplyOptions) -> Result<ApplyReport, ApplyError> {
    let root = opts
        .sysctl_root
        .clone()
        .unwrap_or_else(|| PathBuf::from(sysctl::PROC_SYS));
    let mut nl = Netlink::open()?;
    let genid_before = match opts.expect_genid {
        Some(g) => g,
        None => nl.get_gen()?,
    };
    // Capture what a failed sysctl step must restore, before changing anything.
    let changes = sysctl::capture(&root, &rs.sysctls).map_err(|error| ApplyError::Sysctl {
        error,
        rollback: None,
        restore_errors: vec![],
    });
    let (changes, snapshot) = match (&rs.sysctls.is_empty(), opts.dry_run) {
        (true, _) | (_, true) => (changes.unwrap_or_default(), None),
        (false, false) => (changes?, Some(Snapshot::capture(&mut nl, &rs.table.name)?)),
    };
    let t0 = Instant::now();
    let batch = netlink::build(rs, &nl.batch_options(Some(genid_before)))?;
    let mut report = ApplyReport {
        genid_before,
        genid: genid_before,
        messages: batch.messages.len(),
        batch_bytes: batch.bytes.len(),
        build_time: t0.elapsed(),
        sysctls: changes.clone(),
        dry_run: opts.dry_run,
        ..ApplyReport::default()
    };
    if opts.dry_run {
        report.plan = plan(&batch, &changes);
        return Ok(report);
    }
    let timing = nl.send_batch(&batch, genid_before)?;
    report.send_time = timing.0;
    report.send_ack_time = timing.1;
    report.genid = nl.get_gen()?;
    if let Err(f) = sysctl::apply(&root, &changes) {
        let rollback = match snapshot {
            Some(s) => s.restore(&mut nl, &rs.table.name).err().map(Box::new),
            None => None,
        };
        return Err(ApplyError::Sysctl {
            error: f.error,
            rollback,
            restore_errors: f.restore_errors,
        });
    }
    Ok(report)
}

fn plan(batch: &Batch, changes: &[SysctlChange]) -> Vec<String> {
    let mut out: Vec<String> = batch
        .messages
        .iter()
        .map(|m| format!("seq {:>6}  {:>6} bytes  {}", m.seq, m.len, m.what))
        .collect();
    out.extend(
        changes
            .iter()
            .filter(|c| c.old != c.new)
            .map(|c| format!("sysctl {c}")),
    );
    out
}

/// One kernel reply: an error (or ack) for the request with sequence `seq`.
#[derive(Debug)]
struct Reply {
    seq: u32,
    errno: i32,
    extack: Option<String>,
}

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const RECV_BUF: usize = 1 << 20;

/// A netfilter netlink socket plus a sequence counter.
pub(crate) struct Netlink {
    sock: NfSocket,
    seq: u32,
    buf: Vec<u8>,
}

fn sock_err(op: &'static str) -> impl Fn(io::Error) -> ApplyError {
    move |e| match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => ApplyError::Permission,
        Some(libc::EPROTONOSUPPORT) => ApplyError::NoNfTables,
        _ => ApplyError::Socket { op, source: e },
    }
}

impl Netlink {
    pub(crate) fn open() -> Result<Netlink, ApplyError> {
        let sock = NfSocket::open().map_err(sock_err("opening the socket"))?;
        // Sequence numbers start from the clock so replies to an earlier
        // process can never be mistaken for ours.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(1);
        Ok(Netlink {
            sock,
            seq,
            buf: vec![0; RECV_BUF],
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn batch_options(&mut self, genid: Option<u32>) -> BatchOptions {
        let first_seq = self.next_seq();
        // Leave the batch's sequence range to the batch.
        self.seq = self.seq.wrapping_add(1 << 24);
        BatchOptions { first_seq, genid }
    }

    /// Sends one request and collects every message of the reply until the
    /// final error/ack or NLMSG_DONE. Errors map by errno.
    pub(crate) fn request(
        &mut self,
        w: &Writer,
        op: &'static str,
    ) -> Result<Vec<Vec<u8>>, ApplyError> {
        self.sock.send(&w.buf).map_err(sock_err(op))?;
        let want = w
            .buf
            .get(8..12)
            .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        let mut out = Vec::new();
        loop {
            let n = match self.sock.recv(&mut self.buf, true).map_err(sock_err(op))? {
                Some(n) => n,
                None => continue,
            };
            for m in messages(&self.buf[..n]) {
                // Leftovers of an earlier exchange (a late ack) are not ours.
                if u32::from_ne_bytes([m[8], m[9], m[10], m[11]]) != want {
                    continue;
                }
                let ty = u16::from_ne_bytes([m[4], m[5]]);
                match ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let r = parse_error(m);
                        return match r.errno {
                            0 => Ok(out),
                            e => Err(errno_error(e, op)),
                        };
                    }
                    _ => out.push(m.to_vec()),
                }
            }
        }
    }

    /// The ruleset generation id (`NFT_MSG_GETGEN`), acked so the reply ends.
    pub(crate) fn get_gen(&mut self) -> Result<u32, ApplyError> {
        let mut w = Writer::default();
        let seq = self.next_seq();
        let m = w.begin_msg(
            MsgType::GetGen.raw(),
            crate::nft::wire::NLM_F_ACK,
            seq,
            0,
            0,
        );
        w.end_msg(m);
        let msgs = self.request(&w, "reading the generation id")?;
        let gen_msg = msgs
            .iter()
            .find(|m| u16::from_ne_bytes([m[4], m[5]]) == MsgType::NewGen.raw());
        let id = gen_msg
            .and_then(|m| attr(&m[20..], 1))
            .filter(|a| a.len() >= 4);
        id.map(|a| u32::from_be_bytes([a[0], a[1], a[2], a[3]]))
            .ok_or(ApplyError::Socket {
                op: "reading the generation id",
                source: io::Error::other("no NFTA_GEN_ID in the reply"),
            })
    }

    /// Sends the whole batch in one `sendmsg` and maps any error reply back to
    /// its message. The kernel processes a batch synchronously inside the send,
    /// so every reply is queued when it returns: read until the queue is empty
    /// instead of waiting for a batch-end ack (only kernels >= 6.10 send one).
    fn send_batch(
        &mut self,
        batch: &Batch,
        genid: u32,
    ) -> Result<(Duration, Duration), ApplyError> {
        let (errors, send_time, total) = self.send_and_drain(&batch.bytes, batch.messages.len())?;
        let first = batch.messages.first().map_or(0, |m| m.seq);
        if let Some(e) = errors.iter().min_by_key(|r| r.seq.wrapping_sub(first)) {
            return Err(kernel_error(batch, e, genid));
        }
        // No error: confirm the commit happened (a bumped generation).
        if self.get_gen()? == genid {
            return Err(ApplyError::NotCommitted);
        }
        Ok((send_time, total))
    }

    /// Sends a prepared batch (rollback); returns the first error reply (by
    /// sequence number: `first_seq` is the batch's first), as (seq, errno, extack).
    fn request_batch(
        &mut self,
        w: &Writer,
        first_seq: u32,
    ) -> Result<Option<(u32, i32, Option<String>)>, ApplyError> {
        let count = messages(&w.buf).count();
        let (errors, _, _) = self.send_and_drain(&w.buf, count)?;
        Ok(errors
            .into_iter()
            .min_by_key(|r| r.seq.wrapping_sub(first_seq))
            .map(|r| (r.seq, r.errno, r.extack)))
    }

    /// One `sendmsg` of `bytes`, then every queued reply. The kernel processes
    /// a batch synchronously inside the send, so all replies are queued when it
    /// returns: read until the queue is empty instead of waiting for a
    /// batch-end ack (only kernels >= 6.10 send one). Returns the error
    /// replies, the time inside the send, and the total.
    fn send_and_drain(
        &mut self,
        bytes: &[u8],
        count: usize,
    ) -> Result<(Vec<Reply>, Duration, Duration), ApplyError> {
        let op = "sending the batch";
        // Room for one capped error reply (with extack text) per message.
        let recv = (count * 512).clamp(RECV_BUF, 256 << 20);
        self.sock
            .size_buffers(bytes.len() + 65536, recv)
            .map_err(sock_err("sizing socket buffers"))?;
        let t0 = Instant::now();
        let sent = self.sock.send(bytes).map_err(sock_err(op))?;
        let send_time = t0.elapsed();
        if sent != bytes.len() {
            let msg = format!("short send: {sent} of {} bytes", bytes.len());
            return Err(ApplyError::Socket {
                op,
                source: io::Error::other(msg),
            });
        }
        let mut errors = Vec::new();
        while let Some(n) =
            self.sock
                .recv(&mut self.buf, false)
                .map_err(|e| match e.raw_os_error() {
                    // The receive queue overflowed: some replies were dropped.
                    Some(libc::ENOBUFS) => ApplyError::NotCommitted,
                    _ => sock_err("reading batch replies")(e),
                })?
        {
            for m in messages(&self.buf[..n]) {
                if u16::from_ne_bytes([m[4], m[5]]) == NLMSG_ERROR {
                    let r = parse_error(m);
                    if r.errno != 0 {
                        errors.push(r);
                    }
                }
            }
        }
        Ok((errors, send_time, t0.elapsed()))
    }
}

fn kernel_error(batch: &Batch, r: &Reply, genid: u32) -> ApplyError {
    let msg = batch.message(r.seq);
    let is_begin = msg.is_some_and(|m| m.what == netlink::What::BatchBegin);
    match r.errno {
        libc::ERESTART if is_begin => return ApplyError::Concurrent { expected: genid },
        libc::EPERM => return ApplyError::Permission,
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

fn errno_error(errno: i32, op: &'static str) -> ApplyError {
    sock_err(op)(io::Error::from_raw_os_error(errno))
}

/// Splits a datagram into its netlink messages.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if buf.len() < 16 {
            return None;
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < 16 || len > buf.len() {
            return None;
        }
        let (m, rest) = buf.split_at(len);
        buf = &rest[(((len + 3) & !3) - len).min(rest.len())..];
        Some(m)
    })
}

/// Decodes an NLMSG_ERROR: errno, the failed request's seq, extack text.
fn parse_error(m: &[u8]) -> Reply {
    let flags = u16::from_ne_bytes([m[6], m[7]]);
    let get32 = |o: usize| m.get(o..o + 4).map(|b| [b[0], b[1], b[2], b[3]]);
    let errno = get32(16).map_or(0, |b| -i32::from_ne_bytes(b));
    let seq = get32(16 + 4 + 8).map_or(0, u32::from_ne_bytes);
    // With NETLINK_CAP_ACK the echoed request is just its 16-byte header
    // (errors always echo only the header when capped; acks never echo).
    let orig_len = get32(20).map_or(16, |b| u32::from_ne_bytes(b) as usize);
    let tlv_start = if flags & 0x100 != 0 {
        36
    } else {
        20 + ((orig_len + 3) & !3)
    };
    let extack = if flags & NLM_F_ACK_TLVS != 0 {
        m.get(tlv_start..)
            .and_then(|t| attr(t, NLMSGERR_ATTR_MSG))
            .map(|s| {
                String::from_utf8_lossy(s)
                    .trim_end_matches('\0')
                    .to_string()
            })
    } else {
        None
    };
    Reply { seq, errno, extack }
}

/// The payload of the first attribute of type `ty` in `buf`.
pub(crate) fn attr(mut buf: &[u8], ty: u16) -> Option<&[u8]> {
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let t = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        if t == ty {
            return Some(&buf[4..len]);
        }
        buf = &buf[((len + 3) & !3).min(buf.len())..];
    }
    None
}
