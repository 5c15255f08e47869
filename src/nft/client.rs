//! The one nf_tables netlink client: a socket with its sequence numbers and receive
//! buffer, one request/reply loop that serves both single gets and dumps (noting the
//! kernel's `NLM_F_DUMP_INTR` flag), one generation-checked read loop, one batch send
//! that drains the replies, and one classification of the kernel's errno values.
//!
//! Callers build requests with [`Writer`] and interpret the messages; this file only
//! moves bytes and says which step failed. All receive-buffer sizing lives here.

use super::msg::{attr, be32_attr, messages};
use super::read::AlignedBuf;
use super::sock::NfSocket;
use super::wire::{MsgType, NLM_F_ECHO, Writer};
use std::io;
use std::time::{Duration, Instant};

/// The user-space buffer one datagram is received into. A dump message is at most one
/// kernel skb (32 KiB); an error reply with extended ack text is far smaller.
const DATAGRAM_BUF: usize = 1 << 20;
/// The kernel-side receive queue of a notification subscriber: room for bursts of
/// notifications from other programs' batches.
const NOTIFY_QUEUE: usize = 32 << 20;
/// Per batch message, room for one capped error reply with its extended ack text.
const REPLY_ROOM: usize = 512;
/// Per echoed message, at least the receive-queue room of one notification buffer
/// (`NLMSG_GOODSIZE` data and its bookkeeping).
const ECHO_ROOM: usize = 8 << 10;
/// Bounds of the kernel-side receive queue sized for a batch's replies.
const BATCH_QUEUE_MIN: usize = DATAGRAM_BUF;
const BATCH_QUEUE_MAX: usize = 256 << 20;
/// Extra send-queue room beyond the batch itself.
const SEND_SLACK: usize = 65536;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Netlink's first message type that carries a payload (lower ones are control).
const NLMSG_MIN_TYPE: u16 = 16;
const NLM_F_DUMP_INTR: u16 = 0x10;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
/// `NFTA_GEN_ID` in a `NEWGEN` message.
const NFTA_GEN_ID: u16 = 1;
/// `NFTA_RULE_HANDLE` in a `NEWRULE` message.
const NFTA_RULE_HANDLE: u16 = 3;

/// Which step of an exchange failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Open,
    SizeBuffers,
    Send,
    Recv,
    /// The kernel answered the request with an error (`source` holds its errno).
    Reply,
    /// The answer lacked what the request asks for.
    Answer,
}

/// A failed exchange: which request (`what`, the caller's name for it), which step.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", self.doing())]
pub struct NlError {
    pub what: &'static str,
    pub step: Step,
    #[source]
    pub source: io::Error,
}

/// What an errno from the kernel means to a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// CAP_NET_ADMIN is missing.
    Permission,
    /// This kernel has no nf_tables (or not this request).
    NoNfTables,
    Other,
}

/// The one errno classification of the kernel layer.
pub fn classify(errno: Option<i32>) -> Refusal {
    match errno {
        Some(libc::EPERM | libc::EACCES) => Refusal::Permission,
        Some(libc::EOPNOTSUPP | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT) => Refusal::NoNfTables,
        _ => Refusal::Other,
    }
}

impl NlError {
    fn new(what: &'static str, step: Step, source: io::Error) -> NlError {
        NlError { what, step, source }
    }

    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    pub fn refusal(&self) -> Refusal {
        classify(self.errno())
    }

    /// "sending the table request", for messages that name the step.
    pub fn doing(&self) -> String {
        let what = self.what;
        match self.step {
            Step::Open => "opening the nf_tables netlink socket".to_string(),
            Step::SizeBuffers => "sizing the socket buffers".to_string(),
            Step::Send => format!("sending the {what} request"),
            Step::Recv => format!("receiving the {what} answer"),
            Step::Reply => format!("the kernel refused the {what} request"),
            Step::Answer => format!("reading the {what} answer"),
        }
    }
}

/// One kernel error or acknowledgement: for the request with sequence `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub seq: u32,
    /// Positive errno; 0 is an acknowledgement.
    pub errno: i32,
    /// The kernel's extended ack message, when it sent one.
    pub extack: Option<String>,
}

/// What a batch send returned: the error replies, the rules the kernel echoed, the time
/// inside the one send (the kernel validating and committing), and the time including
/// reading the replies.
pub struct Drained {
    pub errors: Vec<Reply>,
    /// For each rule message sent with `NLM_F_ECHO` and committed: its sequence number
    /// and the handle the kernel gave the rule.
    pub echoed: Vec<(u32, u64)>,
    pub send_time: Duration,
    pub total: Duration,
}

/// The generations before and after a read, when they differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    pub before: u32,
    pub after: u32,
}

/// An open nf_tables netlink socket.
pub struct Client {
    sock: NfSocket,
    seq: u32,
    buf: AlignedBuf,
    interrupted: bool,
}

impl Client {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Client, NlError> {
        let sock = NfSocket::open().map_err(|e| NlError::new("socket", Step::Open, e))?;
        // Sequence numbers start from the clock so replies to an earlier process can
        // never be mistaken for ours.
        let seq = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() as u32);
        Ok(Client {
            sock,
            seq,
            buf: AlignedBuf::new(DATAGRAM_BUF),
            interrupted: false,
        })
    }

    /// Opens a socket subscribed to the multicast group `group` (`NFNLGRP_*`), with a
    /// receive queue sized for notification bursts.
    pub fn subscribe(group: u32) -> io::Result<Client> {
        let c = Client::open().map_err(|e| e.source)?;
        c.sock.size_buffers(0, NOTIFY_QUEUE)?;
        c.sock.subscribe(group)?;
        Ok(c)
    }

    /// Joins the multicast group `group` again after [`Client::leave`].
    pub fn join(&self, group: u32) -> io::Result<()> {
        self.sock.subscribe(group)
    }

    /// Leaves the multicast group `group`: the kernel queues no more of its messages here.
    pub fn leave(&self, group: u32) -> io::Result<()> {
        self.sock.unsubscribe(group)
    }

    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The first sequence number of a range of `span` numbers left to a batch.
    pub fn reserve(&mut self, span: u32) -> u32 {
        let first = self.next_seq();
        self.seq = self.seq.wrapping_add(span);
        first
    }

    /// Whether a dump since the last call was flagged `NLM_F_DUMP_INTR`; clears it.
    pub fn take_interrupted(&mut self) -> bool {
        std::mem::take(&mut self.interrupted)
    }

    /// Sends one request (a get with `NLM_F_ACK`, or a dump) and feeds every answer
    /// message to `each` until `NLMSG_DONE` or the final acknowledgement. An error
    /// from `each` ends the exchange early and is returned inside the `Ok`.
    pub fn talk<E>(
        &mut self,
        what: &'static str,
        req: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, NlError> {
        let err = |step| move |e| NlError::new(what, step, e);
        self.sock.send(req).map_err(err(Step::Send))?;
        let want = req
            .get(8..12)
            .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        loop {
            let bytes = self.buf.bytes_mut();
            let Some(n) = self.sock.recv(bytes, true).map_err(err(Step::Recv))? else {
                continue;
            };
            for m in messages(&bytes[..n]) {
                let h = header(m);
                // Leftovers of an earlier exchange (a late ack, an abandoned dump).
                if h.seq != want {
                    continue;
                }
                if h.flags & NLM_F_DUMP_INTR != 0 {
                    self.interrupted = true;
                }
                match h.kind {
                    NLMSG_DONE => return Ok(Ok(())),
                    NLMSG_ERROR => {
                        let r = parse_error(m);
                        return match r.errno {
                            0 => Ok(Ok(())),
                            e => Err(err(Step::Reply)(io::Error::from_raw_os_error(e))),
                        };
                    }
                    k if k >= NLMSG_MIN_TYPE => {
                        if let Err(e) = each(m) {
                            return Ok(Err(e));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every answer message of one request, copied.
    pub fn collect(&mut self, what: &'static str, req: &[u8]) -> Result<Vec<Vec<u8>>, NlError> {
        let mut out = Vec::new();
        let done: Result<(), std::convert::Infallible> = self.talk(what, req, |m| {
            out.push(m.to_vec());
            Ok(())
        })?;
        let Ok(()) = done;
        Ok(out)
    }

    /// The ruleset's generation id (`NFT_MSG_GETGEN`).
    pub fn genid(&mut self) -> Result<u32, NlError> {
        let mut w = Writer::default();
        let seq = self.next_seq();
        w.get_gen(seq);
        let mut id = None;
        let done: Result<(), std::convert::Infallible> = self.talk("generation", &w.buf, |m| {
            id = id.or(be32_attr(m, NFTA_GEN_ID));
            Ok(())
        })?;
        let Ok(()) = done;
        id.ok_or_else(|| {
            NlError::new(
                "generation",
                Step::Answer,
                io::Error::other("no NFTA_GEN_ID in the reply"),
            )
        })
    }

    /// Runs `read` between two generation reads, at most `attempts` times. When the
    /// generation did not move, the read stands; when it did, `judge` decides from the
    /// [`Moved`] record (and the change notifications, whether a dump was flagged
    /// interrupted: [`Client::take_interrupted`]) whether the read still stands
    /// (`Some`) or is taken again (`None`). `Ok(None)` when no attempt stood. The
    /// interrupted flag is cleared before each attempt.
    pub fn read_stable<T, E: From<NlError>>(
        &mut self,
        attempts: u32,
        mut read: impl FnMut(&mut Client, u32) -> Result<T, E>,
        mut judge: impl FnMut(T, Moved) -> Result<Option<T>, E>,
    ) -> Result<Option<T>, E> {
        for _ in 0..attempts {
            self.interrupted = false;
            let before = self.genid()?;
            let value = read(self, before)?;
            let after = self.genid()?;
            if after == before {
                return Ok(Some(value));
            }
            if let Some(v) = judge(value, Moved { before, after })? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// One `sendmsg` of a whole batch of `count` messages, then every queued reply.
    /// The kernel processes a batch synchronously inside the send, so all replies are
    /// queued when it returns: the queue is read until empty instead of waiting for a
    /// batch-end ack (only kernels >= 6.10 send one). A receive-queue overflow
    /// (`ENOBUFS`: replies were dropped) is a [`Step::Recv`] error with that errno.
    ///
    /// A message asking for the kernel's echo (`NLM_F_ECHO`) is sent without asking when
    /// the receive queue cannot be made to hold every echo: echoes come during the
    /// commit, and one dropped would make the replies of a committed batch unreadable.
    ///
    /// The batch's bytes are `bytes` then `tail` (empty unless it was written in two
    /// parts, each whole messages), sent as one datagram.
    pub fn send_batch(
        &mut self,
        bytes: &mut [u8],
        tail: &mut [u8],
        count: usize,
    ) -> Result<Drained, NlError> {
        let what = "batch";
        // An echoed message comes back as the kernel writes it, in a notification buffer
        // of its own on kernels that do not coalesce them (before 5.14): room for that.
        let echoes: usize = (messages(bytes).chain(messages(tail)))
            .filter(|m| header(m).flags & NLM_F_ECHO != 0)
            .map(|m| (2 * m.len()).max(ECHO_ROOM))
            .sum();
        let replies = count.saturating_mul(REPLY_ROOM);
        let recv = (replies.saturating_add(echoes)).clamp(BATCH_QUEUE_MIN, BATCH_QUEUE_MAX);
        let total = bytes.len() + tail.len();
        self.sock
            .size_buffers(total + SEND_SLACK, recv)
            .map_err(|e| NlError::new(what, Step::SizeBuffers, e))?;
        let room = self.sock.recv_room().unwrap_or(0);
        if echoes > 0 && room < replies.saturating_add(echoes) {
            no_echoes(bytes);
            no_echoes(tail);
        }
        let t0 = Instant::now();
        let sent = self
            .sock
            .send_parts(&[bytes, tail])
            .map_err(|e| NlError::new(what, Step::Send, e))?;
        let send_time = t0.elapsed();
        if sent != total {
            let msg = format!("short send: {sent} of {total} bytes");
            return Err(NlError::new(what, Step::Send, io::Error::other(msg)));
        }
        let (mut errors, mut echoed) = (Vec::new(), Vec::new());
        let new_rule = MsgType::NewRule.raw();
        while let Some(d) = self
            .recv_queued()
            .map_err(|e| NlError::new(what, Step::Recv, e))?
        {
            for m in messages(d) {
                let h = header(m);
                if h.kind == NLMSG_ERROR {
                    errors.push(parse_error(m));
                } else if h.kind == new_rule {
                    let handle = m.get(20..).and_then(|a| attr(a, NFTA_RULE_HANDLE));
                    if let Some(b) = handle.and_then(|b| b.get(..8)?.try_into().ok()) {
                        echoed.push((h.seq, u64::from_be_bytes(b)));
                    }
                }
            }
        }
        errors.retain(|r: &Reply| r.errno != 0);
        Ok(Drained {
            errors,
            echoed,
            send_time,
            total: t0.elapsed(),
        })
    }

    /// The next queued datagram, without waiting; `None` when the queue is empty.
    pub fn recv_queued(&mut self) -> io::Result<Option<&[u8]>> {
        let bytes = self.buf.bytes_mut();
        Ok(self.sock.recv(bytes, false)?.map(|n| &bytes[..n]))
    }

    /// Waits until a datagram is queued or `timeout` passes; `Ok(false)` on timeout.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        self.sock.wait_readable(timeout)
    }
}

/// Clears `NLM_F_ECHO` in every message of `bytes`.
fn no_echoes(bytes: &mut [u8]) {
    let mut at = 0;
    while let Some(len) = bytes.get(at..at + 4) {
        let len = u32::from_ne_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let Some(flags) = bytes.get_mut(at + 6..at + 8).filter(|_| len >= 16) else {
            return;
        };
        let f = u16::from_ne_bytes([flags[0], flags[1]]) & !NLM_F_ECHO;
        flags.copy_from_slice(&f.to_ne_bytes());
        at += (len + 3) & !3;
    }
}

struct Header {
    kind: u16,
    flags: u16,
    seq: u32,
}

/// The fields of an `nlmsghdr` ([`messages`] yields at least 16 bytes).
fn header(m: &[u8]) -> Header {
    Header {
        kind: u16::from_ne_bytes([m[4], m[5]]),
        flags: u16::from_ne_bytes([m[6], m[7]]),
        seq: u32::from_ne_bytes([m[8], m[9], m[10], m[11]]),
    }
}

/// Decodes an `NLMSG_ERROR`: errno, the failed request's sequence number, extack text.
pub fn parse_error(m: &[u8]) -> Reply {
    let flags = u16::from_ne_bytes([m[6], m[7]]);
    let get32 = |o: usize| m.get(o..o + 4).map(|b| [b[0], b[1], b[2], b[3]]);
    let errno = get32(16).map_or(libc::EBADMSG, |b| -i32::from_ne_bytes(b));
    let seq = get32(16 + 4 + 8).map_or(0, u32::from_ne_bytes);
    // With NETLINK_CAP_ACK the echoed request is just its 16-byte header (errors echo
    // only the header when capped; acks never echo).
    let orig_len = get32(20).map_or(16, |b| u32::from_ne_bytes(b) as usize);
    let tlv_start = if flags & NLM_F_CAPPED != 0 {
        36
    } else {
        20 + ((orig_len + 3) & !3)
    };
    let extack = (flags & NLM_F_ACK_TLVS != 0)
        .then(|| m.get(tlv_start..).and_then(|t| attr(t, NLMSGERR_ATTR_MSG)))
        .flatten()
        .map(|s| {
            String::from_utf8_lossy(s)
                .trim_end_matches('\0')
                .to_string()
        });
    Reply { seq, errno, extack }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
