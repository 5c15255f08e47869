//! The `xt` (iptables compatibility) matches and targets iptables-nft writes for
//! libvirt, docker and other iptables users, read from their binary info blocks into
//! what the host IR can say: `-m conntrack --ctstate` and `-m state --state` are
//! `ct state` conditions, `-j REJECT` a reject of its ICMP code, `-j MASQUERADE`/`SNAT`
//! source NAT, `-j DNAT`/`REDIRECT` destination NAT, and targets that never end a
//! packet's path (`CHECKSUM`, `LOG`, `MARK`, ...) nothing. Every other form, and every
//! option these readers do not model, stays unknown.

use super::expr_read::E;
use crate::ir::host::{Action, Cond};
use crate::ir::{CtState, Match, NfProto};
use crate::nft::expr_attr;

/// What an `xt` match says of a packet.
pub enum XtMatch {
    /// Says nothing of the verdict (`comment`).
    Harmless,
    Cond(Cond),
    Unknown,
}

/// Targets that change the packet or log it but never end its path.
const HARMLESS_TARGETS: &[&str] = &[
    "CHECKSUM", "LOG", "NFLOG", "MARK", "CONNMARK", "TCPMSS", "CT", "NOTRACK", "TRACE", "DSCP",
    "TOS", "CLASSIFY", "TTL", "HL",
];

/// `XT_CONNTRACK_STATE` in `match_flags`: the only conntrack option read; and
/// `XT_CONNTRACK_STATE_ALIAS`, set when iptables wrote `-m state` as conntrack.
const XT_CONNTRACK_STATE: u16 = 1;
const XT_CONNTRACK_STATE_ALIAS: u16 = 1 << 13;
/// Offsets in `struct xt_conntrack_mtinfo{1,2,3}`: eight 16-byte addresses, two u32
/// expiries, the l4 protocol and four ports, then the flags and the state mask.
const CONNTRACK_FLAGS_AT: usize = 146;
const CONNTRACK_STATE_AT: usize = 150;
/// xt's untracked bit (`1 << (IP_CT_NUMBER + 3)` for conntrack; `state` uses nft's 64).
const XT_CONNTRACK_UNTRACKED: u32 = 1 << 8;

/// Reads a `match` expression.
pub fn condition(e: &E) -> XtMatch {
    let name = name_of(e, expr_attr::MT_NAME);
    let rev = e.num(expr_attr::MT_REV).unwrap_or(u64::MAX);
    let info = e.get(expr_attr::MT_INFO).unwrap_or_default();
    match name.as_str() {
        "comment" => XtMatch::Harmless,
        "conntrack" if (1..=3).contains(&rev) => conntrack(info, rev),
        // struct xt_state_info { unsigned int statemask; }: nft's bits.
        "state" if rev == 0 => match u32_at(info, 0) {
            Some(mask) if mask & !0x4f == 0 && mask != 0 => {
                XtMatch::Cond(Cond::Is(Match::CtState(CtState(mask))))
            }
            _ => XtMatch::Unknown,
        },
        _ => XtMatch::Unknown,
    }
}

fn conntrack(info: &[u8], rev: u64) -> XtMatch {
    let (Some(flags), Some(invert)) = (
        u16_at(info, CONNTRACK_FLAGS_AT),
        u16_at(info, CONNTRACK_FLAGS_AT + 2),
    ) else {
        return XtMatch::Unknown;
    };
    let mask = match rev {
        1 => info.get(CONNTRACK_STATE_AT).map(|b| u32::from(*b)),
        _ => u16_at(info, CONNTRACK_STATE_AT).map(u32::from),
    };
    let Some(mask) = mask else {
        return XtMatch::Unknown;
    };
    let state_only = flags & !XT_CONNTRACK_STATE_ALIAS == XT_CONNTRACK_STATE;
    if !state_only || invert & !XT_CONNTRACK_STATE != 0 || mask == 0 {
        return XtMatch::Unknown;
    }
    // invalid, established, related, new are nft's bits; untracked is moved; SNAT and
    // DNAT (bits 6 and 7) are states nft's `ct state` has no bit for.
    if mask & !(0xf | XT_CONNTRACK_UNTRACKED) != 0 {
        return XtMatch::Unknown;
    }
    let mut bits = mask & 0xf;
    if mask & XT_CONNTRACK_UNTRACKED != 0 {
        bits |= CtState::UNTRACKED;
    }
    let m = Match::CtState(CtState(bits));
    XtMatch::Cond(if invert != 0 {
        Cond::Not(m)
    } else {
        Cond::Is(m)
    })
}

/// Reads a `target` expression: `None` for a target that never ends the path.
pub fn action(e: &E, nf: Option<NfProto>) -> Option<Action> {
    let name = name_of(e, expr_attr::TG_NAME);
    let info = e.get(expr_attr::TG_INFO).unwrap_or_default();
    let unknown = || Some(Action::Unknown(format!("xt target {name}")));
    match name.as_str() {
        n if HARMLESS_TARGETS.contains(&n) => None,
        "MASQUERADE" | "SNAT" => Some(Action::SourceNat),
        "DNAT" | "REDIRECT" => Some(Action::DestNat(format!("xt target {name}"))),
        "REJECT" => match (nf, u32_at(info, 0)) {
            (Some(nf), Some(with)) => reject(nf, with).map(Action::Reject).or_else(unknown),
            _ => unknown(),
        },
        _ => unknown(),
    }
}

/// Whether a `target` expression is `-j REJECT` (of any kind: it refuses the packet).
pub fn rejects(e: &E) -> bool {
    name_of(e, expr_attr::TG_NAME) == "REJECT"
}

/// An extension's name: a fixed-size, NUL-padded field.
fn name_of(e: &E, attr: u32) -> String {
    let b = e.get(attr).unwrap_or_default();
    let b = b.split(|&c| c == 0).next().unwrap_or_default();
    String::from_utf8_lossy(b).into_owned()
}

/// `ipt_reject_with` / `ip6t_reject_with` as the text the native reject reads as.
fn reject(nf: NfProto, with: u32) -> Option<String> {
    let code = match (nf, with) {
        (NfProto::Ipv4, 7) | (NfProto::Ipv6, 6) => return Some("reject with tcp reset".into()),
        (NfProto::Ipv4, 3) => return Some("reject".into()),
        // net, host, protocol unreachable; net, host, admin prohibited
        (NfProto::Ipv4, 0..=2) => with,
        (NfProto::Ipv4, 5) => 9,
        (NfProto::Ipv4, 6) => 10,
        (NfProto::Ipv4, 8) => 13,
        // no route, admin prohibited, beyond scope, address and port unreachable
        (NfProto::Ipv6, 0..=4) => with,
        _ => return None,
    };
    Some(format!("reject (type 0 code {code})"))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::test_exprs::{ex, u32b};

    /// A 29-byte, NUL-padded extension name, as the kernel dumps it.
    fn name(n: &str) -> Vec<u8> {
        let mut b = n.as_bytes().to_vec();
        b.resize(29, 0);
        b
    }

    fn target(n: &str, info: &[u8]) -> crate::nft::read::RawExpr {
        let n = name(n);
        ex(
            "target",
            &[
                (expr_attr::TG_NAME, &n),
                (expr_attr::TG_REV, &u32b(0)),
                (expr_attr::TG_INFO, info),
            ],
            "target",
        )
    }

    /// `struct xt_conntrack_mtinfo3` with these flags and state mask.
    fn conntrack_info(flags: u16, invert: u16, state: u16) -> Vec<u8> {
        let mut b = vec![0u8; 160];
        b[146..148].copy_from_slice(&flags.to_ne_bytes());
        b[148..150].copy_from_slice(&invert.to_ne_bytes());
        b[150..152].copy_from_slice(&state.to_ne_bytes());
        b
    }

    fn conntrack(rev: u32, info: &[u8]) -> XtMatch {
        let n = name("conntrack");
        let x = ex(
            "match",
            &[
                (expr_attr::MT_NAME, &n),
                (expr_attr::MT_REV, &u32b(rev)),
                (expr_attr::MT_INFO, info),
            ],
            "match",
        );
        condition(&E(&x))
    }

    fn ct(bits: u32) -> Match {
        Match::CtState(CtState(bits))
    }

    #[test]
    fn conntrack_states_read_as_ct_state_and_other_options_stay_unknown() {
        let est_rel = CtState::ESTABLISHED | CtState::RELATED;
        let is = |x: XtMatch| match x {
            XtMatch::Cond(c) => Some(c),
            _ => None,
        };
        assert_eq!(
            is(conntrack(3, &conntrack_info(1, 0, 6))),
            Some(Cond::Is(ct(est_rel)))
        );
        assert_eq!(
            is(conntrack(2, &conntrack_info(1, 1, 8))),
            Some(Cond::Not(ct(CtState::NEW)))
        );
        // `-m state` written as conntrack (the alias flag), untracked moved to nft's bit.
        let alias = conntrack_info(1 | 1 << 13, 0, 1 | 1 << 8);
        assert_eq!(
            is(conntrack(3, &alias)),
            Some(Cond::Is(ct(CtState::INVALID | CtState::UNTRACKED)))
        );
        // rev 1 keeps the mask in one byte.
        let mut rev1 = conntrack_info(1, 0, 0);
        rev1[150] = 2;
        assert_eq!(
            is(conntrack(1, &rev1)),
            Some(Cond::Is(ct(CtState::ESTABLISHED)))
        );
        // --ctorigsrc (another flag), SNAT state (bit 6), a short block, an unknown rev.
        for (rev, info) in [
            (3, conntrack_info(1 | 2, 0, 2)),
            (3, conntrack_info(1, 0, 1 << 6)),
            (3, conntrack_info(1, 0, 0)),
            (3, vec![0u8; 100]),
            (4, conntrack_info(1, 0, 2)),
        ] {
            assert!(
                matches!(conntrack(rev, &info), XtMatch::Unknown),
                "{rev} {info:?}"
            );
        }
    }

    #[test]
    fn targets_read_as_what_they_do_to_the_packet() {
        let v4 = Some(NfProto::Ipv4);
        let v6 = Some(NfProto::Ipv6);
        let act = |n: &str, with: u32, nf| action(&E(&target(n, &u32b(with))), nf);
        let rej = |t: &str| Some(Action::Reject(t.into()));
        assert_eq!(act("REJECT", 3, v4), rej("reject"));
        assert_eq!(act("REJECT", 7, v4), rej("reject with tcp reset"));
        assert_eq!(act("REJECT", 8, v4), rej("reject (type 0 code 13)"));
        assert_eq!(act("REJECT", 6, v4), rej("reject (type 0 code 10)"));
        assert_eq!(act("REJECT", 4, v6), rej("reject (type 0 code 4)"));
        assert_eq!(act("REJECT", 6, v6), rej("reject with tcp reset"));
        // An echo-reply "reject" or an unknown family is not guessed.
        assert!(matches!(act("REJECT", 4, v4), Some(Action::Unknown(_))));
        assert!(matches!(act("REJECT", 3, None), Some(Action::Unknown(_))));
        assert!(rejects(&E(&target("REJECT", &u32b(3)))));
        assert_eq!(act("MASQUERADE", 0, v4), Some(Action::SourceNat));
        assert!(matches!(act("DNAT", 0, v4), Some(Action::DestNat(_))));
        assert_eq!(act("CHECKSUM", 0, v4), None);
        assert_eq!(act("LOG", 0, v6), None);
        assert_eq!(
            act("SECMARK", 0, v4),
            Some(Action::Unknown("xt target SECMARK".into()))
        );
    }
}
