//! Tests of the netlink client: error replies decoded, errno classified, and (as root,
//! in a namespace of their own) gets, dumps, refusals and batches against the kernel.

use super::*;
use crate::nft::wire::{MsgType, NFPROTO_INET, NFPROTO_UNSPEC};

/// An `NLMSG_ERROR` for `seq` with `errno`, the request header echoed (capped), and
/// an extended ack message when given.
fn error_msg(seq: u32, errno: i32, extack: Option<&str>) -> Vec<u8> {
    let mut m = vec![0u8; 36];
    m[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
    let mut flags = NLM_F_CAPPED;
    m[16..20].copy_from_slice(&(-errno).to_ne_bytes());
    m[20..24].copy_from_slice(&16u32.to_ne_bytes());
    m[28..32].copy_from_slice(&seq.to_ne_bytes());
    if let Some(x) = extack {
        flags |= NLM_F_ACK_TLVS;
        let len = 4 + x.len() + 1;
        m.extend_from_slice(&(len as u16).to_ne_bytes());
        m.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        m.extend_from_slice(x.as_bytes());
        m.push(0);
        m.resize(m.len().next_multiple_of(4), 0);
    }
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    m
}

#[test]
fn error_replies_carry_errno_seq_and_extack() {
    let r = parse_error(&error_msg(77, libc::EEXIST, Some("Could not process rule")));
    assert_eq!(r.seq, 77);
    assert_eq!(r.errno, libc::EEXIST);
    assert_eq!(r.extack.as_deref(), Some("Could not process rule"));
    let ack = parse_error(&error_msg(5, 0, None));
    assert_eq!((ack.seq, ack.errno, ack.extack), (5, 0, None));
}

#[test]
fn a_truncated_error_reply_is_not_an_acknowledgement() {
    let m = error_msg(9, libc::ENOENT, None);
    assert_eq!(parse_error(&m[..16]).errno, libc::EBADMSG);
}

#[test]
fn errno_classes() {
    assert_eq!(classify(Some(libc::EPERM)), Refusal::Permission);
    assert_eq!(classify(Some(libc::EACCES)), Refusal::Permission);
    for e in [libc::EOPNOTSUPP, libc::EPROTONOSUPPORT, libc::EAFNOSUPPORT] {
        assert_eq!(classify(Some(e)), Refusal::NoNfTables, "errno {e}");
    }
    assert_eq!(classify(Some(libc::ENOENT)), Refusal::Other);
    assert_eq!(classify(None), Refusal::Other);
}

#[test]
fn errors_name_the_request_and_the_step() {
    let e = NlError::new(
        "rule",
        Step::Reply,
        io::Error::from_raw_os_error(libc::ENOENT),
    );
    assert!(
        e.to_string()
            .starts_with("the kernel refused the rule request: ")
    );
    assert_eq!(e.errno(), Some(libc::ENOENT));
    let e = NlError::new("set", Step::Recv, io::Error::other("x"));
    assert_eq!(e.to_string(), "receiving the set answer: x");
}

/// Runs `f` on a thread in a fresh network namespace of its own.
fn in_fresh_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            crate::netns::unshare_thread().unwrap_or_else(|e| panic!("unshare: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn dump(c: &mut Client, ty: MsgType, family: u8, table: Option<&str>) -> Vec<Vec<u8>> {
    let mut w = Writer::default();
    let seq = c.next_seq();
    w.dump_request(ty, family, seq, table, None);
    c.collect("test", &w.buf).unwrap_or_else(|e| panic!("{e}"))
}

/// One batch: begin, add table `name`, end; returns the client's view of it.
fn add_table(c: &mut Client, name: &str) -> Drained {
    let first = c.reserve(8);
    let mut w = Writer::default();
    w.batch_begin(first, None);
    w.table(first + 1, name, true);
    w.batch_end(first + 2);
    c.send_batch(&mut w.buf, &mut [], 3)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
#[ignore = "needs root"]
fn gets_dumps_batches_and_refusals_against_the_kernel() {
    in_fresh_netns(|| {
        let mut c = Client::open().unwrap_or_else(|e| panic!("{e}"));
        let g0 = c.genid().unwrap_or_else(|e| panic!("{e}"));
        assert!(dump(&mut c, MsgType::GetTable, NFPROTO_UNSPEC, None).is_empty());
        let sent = add_table(&mut c, "hwclient");
        assert!(sent.errors.is_empty(), "{:?}", sent.errors);
        assert_ne!(c.genid().unwrap_or_else(|e| panic!("{e}")), g0);
        let tables = dump(&mut c, MsgType::GetTable, NFPROTO_UNSPEC, None);
        assert_eq!(tables.len(), 1);
        assert_eq!(crate::nft::msg::str_attr(&tables[0], 1), Some("hwclient"));
        // A batch the kernel refuses comes back as an error reply naming its message.
        let mut w = Writer::default();
        let first = c.reserve(8);
        w.batch_begin(first, None);
        w.chain(first + 1, "nosuch", "input", None);
        w.batch_end(first + 2);
        let refused = c
            .send_batch(&mut w.buf, &mut [], 3)
            .unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<(u32, i32)> = refused.errors.iter().map(|r| (r.seq, r.errno)).collect();
        assert_eq!(seqs, vec![(first + 1, libc::ENOENT)]);
        // A get of a missing table is refused with ENOENT at the reply step.
        let mut w = Writer::default();
        let seq = c.next_seq();
        let m = w.begin_msg(
            MsgType::GetTable.raw(),
            crate::nft::wire::NLM_F_ACK,
            seq,
            NFPROTO_INET,
            0,
        );
        w.put_str(1, "nosuch");
        w.end_msg(m);
        let e = c
            .collect("table", &w.buf)
            .err()
            .unwrap_or_else(|| panic!("no error"));
        assert_eq!((e.step, e.errno()), (Step::Reply, Some(libc::ENOENT)));
        // The exchange after a refusal still finds its own answer.
        assert_eq!(dump(&mut c, MsgType::GetTable, NFPROTO_INET, None).len(), 1);
    });
}

#[test]
#[ignore = "needs root"]
fn a_stable_read_is_retaken_only_when_the_judge_says_so() {
    in_fresh_netns(|| {
        let mut c = Client::open().unwrap_or_else(|e| panic!("{e}"));
        let mut other = Client::open().unwrap_or_else(|e| panic!("{e}"));
        let mut reads = 0;
        let mut judged = Vec::new();
        let got: Result<Option<u32>, NlError> = c.read_stable(
            3,
            |_, at| {
                reads += 1;
                // A commit during the first two reads moves the generation.
                if reads <= 2 {
                    add_table(&mut other, &format!("t{reads}"));
                }
                Ok(at)
            },
            |v, moved| {
                assert_ne!(moved.before, moved.after);
                judged.push(v);
                Ok(None)
            },
        );
        assert_eq!(reads, 3);
        assert_eq!(judged.len(), 2);
        assert!(matches!(got, Ok(Some(_))), "the third read saw no commit");
        let never: Result<Option<u32>, NlError> = c.read_stable(
            2,
            |_, at| {
                reads += 1;
                add_table(&mut other, &format!("t{reads}"));
                Ok(at)
            },
            |_, _| Ok(None),
        );
        assert!(matches!(never, Ok(None)));
    });
}

#[test]
fn encodes_a_setelem_dump_request() {
    let mut w = Writer::default();
    w.dump_request(
        MsgType::GetSetElem,
        NFPROTO_INET,
        9,
        Some("hw"),
        Some("abcd"),
    );
    let m = &w.buf;
    // Header 16 + nfgenmsg 4; "hw\0" is 7 bytes -> 8; "abcd\0" is 9 -> 12.
    assert_eq!(m.len(), 40);
    assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]), 40);
    let h = header(m);
    assert_eq!(h.kind, (10 << 8) | 13);
    assert_eq!(h.flags, 0x301);
    assert_eq!(h.seq, 9);
    assert_eq!(m[16], NFPROTO_INET);
    assert_eq!(&m[20..22], &7u16.to_ne_bytes());
    assert_eq!(crate::nft::msg::str_attr(m, 1), Some("hw"));
    assert_eq!(crate::nft::msg::str_attr(m, 2), Some("abcd"));
    // Every family, no table: the header and nfgenmsg only.
    let mut w = Writer::default();
    w.dump_request(MsgType::GetChain, NFPROTO_UNSPEC, 3, None, None);
    assert_eq!((w.buf.len(), w.buf[16]), (20, NFPROTO_UNSPEC));
}

#[test]
fn a_generation_request_asks_for_an_ack() {
    let mut w = Writer::default();
    w.get_gen(4);
    let h = header(&w.buf);
    assert_eq!(h.kind, (10 << 8) | 16);
    assert_eq!(h.flags, 0x1 | 0x4, "request | ack: the answer has an end");
}

/// A 16-byte message header of `kind` with `flags`.
fn header_only(kind: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut m = vec![0u8; 16];
    m[..4].copy_from_slice(&16u32.to_ne_bytes());
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m
}

/// Only the rule messages of a batch ask for echoes, and only up to the limit; the
/// client takes the request back from every message when it cannot hold the echoes.
#[test]
fn echoes_are_asked_for_rules_up_to_a_limit_and_taken_back_whole() {
    use crate::emit::netlink::{Batch, BatchPart, Message};
    let rule = MsgType::NewRule.raw();
    let batch = || {
        let parts = [
            BatchPart::Chain("input".into()),
            BatchPart::Rule {
                chain: "input".into(),
                index: 1,
            },
            BatchPart::Rule {
                chain: "input".into(),
                index: 2,
            },
        ];
        let mut bytes = Vec::new();
        let mut messages = Vec::new();
        for (i, what) in parts.into_iter().enumerate() {
            messages.push(Message {
                seq: i as u32,
                offset: bytes.len(),
                len: 16,
                what,
                origin: Vec::new(),
            });
            bytes.extend(header_only(rule, 0x400, i as u32));
        }
        Batch {
            bytes,
            tail: Vec::new(),
            messages,
        }
    };
    let flags = |b: &[u8]| -> Vec<u16> { messages(b).map(|m| header(m).flags).collect() };
    let mut few = batch();
    assert!(!few.echo_rules(1), "two rules, at most one asked");
    assert_eq!(flags(&few.bytes), [0x400; 3]);
    assert!(few.echo_rules(2));
    assert_eq!(
        flags(&few.bytes),
        [0x400, 0x400 | NLM_F_ECHO, 0x400 | NLM_F_ECHO]
    );
    no_echoes(&mut few.bytes);
    assert_eq!(flags(&few.bytes), [0x400; 3]);
}
