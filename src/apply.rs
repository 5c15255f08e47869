//! Applying a ruleset to the kernel: all netlink socket work. One batch, one
//! `sendmsg`, every error reply mapped back to the message (and policy lines)
//! that caused it, the generation id guarding against concurrent changes, then
//! the sysctl step with rollback of both ruleset and sysctls if it fails.

mod guard;
pub mod restore;
mod snapshot;

pub use guard::Guard;

use crate::emit::netlink::{self, Batch, BatchOptions, EmitError};
use crate::ir::Ruleset;
use crate::nft::msg::{attr, messages};
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
    /// The guard of a capture the caller made (`restore::capture`): the batch
    /// is checked against the state it read, so a change to our table since
    /// then is refused with [`ApplyError::Concurrent`]. `None`: a fresh guard.
    pub guard: Option<Guard>,
}

#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    /// Generation the previous state was read at, and the one our commit made
    /// (equal for a dry run).
    pub genid_before: u32,
    pub genid: u32,
    /// Resends after the kernel refused the batch because another table changed
    /// in between (ours had not).
    pub resends: u32,
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
    #[error("table {table} is owned by another process (flags owner)")]
    Owned { table: String },
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
    /// Putting the captured previous table back failed.
    #[error("cannot restore the previous table: {0}")]
    Replay(String),
    /// The table holds things a rollback could not put back: refused before
    /// any change, so no change is committed that cannot be undone.
    #[error(
        "table {table} holds {what} that hostwall cannot restore; remove them or apply without --confirm"
    )]
    Unrestorable { table: String, what: String },
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
    // "", "." and ".." would name /run/netns itself or its parent, which exist
    // but are no namespace (setns then fails with a bare EINVAL).
    let valid = !name.is_empty() && name != "." && name != ".." && !name.contains('/');
    if !valid || !Path::new(&path).is_file() {
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
    let guard = match &opts.guard {
        Some(g) => g.clone(),
        None => {
            let g = Guard::open(&rs.table.name)?;
            g.set_base(nl.get_gen()?);
            g
        }
    };
    let genid_before = guard.base();
    let (changes, interfaces, snapshot) =
        capture_previous(&mut nl, rs, &root, opts.dry_run, &guard)?;
    let t0 = Instant::now();
    let mut batch = netlink::build(rs, &nl.batch_options(Some(genid_before)))?;
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
    let (sent_at, timing) = send_guarded(&mut nl, &mut batch, &guard, &rs.table.name, &mut report)?;
    report.send_time = timing.0;
    report.send_ack_time = timing.1;
    report.genid = next_genid(sent_at);
    if let Err(f) = sysctl::apply(&root, &changes, &interfaces) {
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

/// Sends the batch at the guard's generation. When the kernel refuses it because the
/// ruleset moved on, and the notifications show that only other tables changed, it
/// resends at the current generation (at most [`guard::MAX_RESENDS`] times). Returns
/// the generation the committed batch was sent at.
fn send_guarded(
    nl: &mut Netlink,
    batch: &mut Batch,
    guard: &Guard,
    table: &str,
    report: &mut ApplyReport,
) -> Result<(u32, (Duration, Duration)), ApplyError> {
    let base = guard.base();
    let mut at = base;
    loop {
        match nl.send_batch(batch, at, table) {
            Err(ApplyError::Concurrent { .. }) if report.resends < guard::MAX_RESENDS => {
                let now = nl.get_gen()?;
                if guard.ours_changed(base, now)? {
                    return Err(ApplyError::Concurrent { expected: base });
                }
                batch.set_genid(now);
                at = now;
                report.resends += 1;
            }
            Err(ApplyError::Concurrent { .. }) => {
                return Err(ApplyError::Concurrent { expected: base });
            }
            r => return r.map(|t| (at, t)),
        }
    }
}

/// The generation a commit on top of `genid` creates (the kernel counts up by one and
/// skips 0 when it wraps).
fn next_genid(genid: u32) -> u32 {
    match genid.wrapping_add(1) {
        0 => 1,
        g => g,
    }
}

/// What a failed sysctl step must restore, captured before changing anything:
/// the sysctls' values, their per-interface copies (writing a global forwarding
/// key rewrites every interface's), and the table when there is a step at all.
type Previous = (Vec<SysctlChange>, Vec<sysctl::Interfaces>, Option<Snapshot>);

fn capture_previous(
    nl: &mut Netlink,
    rs: &Ruleset,
    root: &Path,
    dry_run: bool,
    guard: &Guard,
) -> Result<Previous, ApplyError> {
    let failed = |error| ApplyError::Sysctl {
        error,
        rollback: None,
        restore_errors: vec![],
    };
    let changes = sysctl::capture(root, &rs.sysctls).map_err(failed);
    if dry_run || rs.sysctls.is_empty() {
        // A dry run plans with what it could read; nothing will be undone.
        return Ok((changes.unwrap_or_default(), Vec::new(), None));
    }
    let changes = changes?;
    let snapshot = Snapshot::capture(nl, &rs.table.name, guard)?;
    let interfaces = sysctl::capture_all_interfaces(root, &changes).map_err(failed)?;
    Ok((changes, interfaces, Some(snapshot)))
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
        table: &str,
    ) -> Result<(Duration, Duration), ApplyError> {
        let (errors, send_time, total) = self.send_and_drain(&batch.bytes, batch.messages.len())?;
        let first = batch.messages.first().map_or(0, |m| m.seq);
        if let Some(e) = errors.iter().min_by_key(|r| r.seq.wrapping_sub(first)) {
            return Err(kernel_error(batch, e, genid, table));
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

fn kernel_error(batch: &Batch, r: &Reply, genid: u32, table: &str) -> ApplyError {
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

/// The table is held by another process's netlink socket (`flags owner`).
pub(crate) fn owned(table: &str) -> ApplyError {
    ApplyError::Owned {
        table: format!("inet {table}"),
    }
}

fn errno_error(errno: i32, op: &'static str) -> ApplyError {
    sock_err(op)(io::Error::from_raw_os_error(errno))
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
