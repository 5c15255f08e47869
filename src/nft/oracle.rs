//! Test-only: libnftnl as the oracle for the safe encoder, compiled with the `oracle`
//! feature (which tests, examples and benches turn on through the crate's dev-dependency
//! on itself) and absent from release builds. `reference_message` builds a rule through
//! the nftnl crate, with each expression turned into a libnftnl one (`Expression for
//! Expr`); `rule_debug_text` prints a rule message as `nft --debug=netlink` does.

use super::expr::{DYNSET_OP_UPDATE, Expr, cut_nul, reject_code};
use super::rule::RuleTarget;
use super::vocab::{CtKey, LimitType, Register};
use super::wire::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, WireError, Writer};
use nftnl::expr::Expression;
use nftnl::nftnl_sys as sys;
use nftnl::{Chain, MsgType, NlMsg, ProtoFamily, Rule, Table};
use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr::NonNull;

/// The same NEWRULE message as `RuleTarget::write`, built by libnftnl
/// through the nftnl crate: the reference encoding for tests.
pub fn reference_message(
    table: &str,
    chain: &str,
    seq: u32,
    exprs: &[Expr],
    comment: Option<&str>,
) -> Result<Vec<u8>, WireError> {
    // libnftnl writes into a fixed buffer without bounds checks: only hand it
    // rules whose (identical) direct encoding fits with room to spare.
    let max = nftnl::nft_nlmsg_maxsize() as usize;
    let mut direct = Writer::default();
    RuleTarget::new(table, chain)?.write(&mut direct, seq, exprs, comment)?;
    if direct.buf.len() > max / 2 {
        return Err(WireError("rule too large for the reference encoder".into()));
    }
    let nul = |_| WireError("name contains NUL".into());
    let t = CString::new(table).map_err(nul)?;
    let c = CString::new(chain).map_err(nul)?;
    let table = Table::new(&t, ProtoFamily::Inet);
    let chain = Chain::new(&c, &table);
    let mut rule = Rule::new(&chain);
    for e in exprs {
        rule.add_expr(e);
    }
    if let Some(text) = comment {
        let cs = CString::new(text).map_err(nul)?;
        rule.set_comment(cs).map_err(|e| WireError(e.to_string()))?;
    }
    let mut buf = vec![0u8; max];
    // SAFETY: `buf` holds the `nft_nlmsg_maxsize()` bytes the NlMsg contract
    // requires; libnftnl writes one netlink message starting at its head.
    unsafe { rule.write(buf.as_mut_ptr() as *mut c_void, seq, MsgType::Add) };
    let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if !(16..=max).contains(&len) {
        return Err(WireError(format!("libnftnl wrote a {len} byte message")));
    }
    buf.truncate(len);
    // The crate asks for EXCL|ACK; hostwall sends rules without them.
    let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND;
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    Ok(buf)
}

/// Renders one NEWRULE message (`bytes` starts at its nlmsghdr) as libnftnl
/// prints it: one `[ expr ... ]` line per expression. `None` if it does not parse.
pub fn rule_debug_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 20 {
        return None;
    }
    let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if len > bytes.len() {
        return None;
    }
    // nlmsghdr must be 4-byte aligned for libnftnl's attribute walk.
    let mut aligned = vec![0u32; len.div_ceil(4)];
    // SAFETY: `aligned` holds at least `len` bytes; the copy stays in bounds.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), aligned.as_mut_ptr() as *mut u8, len);
    }
    let mut out = vec![0u8; 64 * 1024];
    // SAFETY: the rule object is freed on every path; nlmsg_parse reads only
    // within the message length the header declares (checked above), and
    // snprintf writes at most `out.len()` bytes including the NUL.
    unsafe {
        let r = sys::nftnl_rule_alloc();
        if r.is_null() {
            return None;
        }
        let ok = sys::nftnl_rule_nlmsg_parse(aligned.as_ptr() as *const _, r) >= 0;
        if ok {
            sys::nftnl_rule_snprintf(out.as_mut_ptr() as *mut c_char, out.len(), r, 0, 0);
        }
        sys::nftnl_rule_free(r);
        if !ok {
            return None;
        }
        Some(
            CStr::from_ptr(out.as_ptr() as *const c_char)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

fn cstring(s: &str) -> CString {
    CString::new(cut_nul(s)).unwrap_or_default()
}

/// The libnftnl form: the reference encoding the tests compare `encode` with.
impl Expression for Expr {
    fn to_expr(&self, _rule: &Rule) -> NonNull<sys::nftnl_expr> {
        let name = cstring(self.name());
        // SAFETY: nftnl_expr_alloc returns a fresh expression or NULL (checked);
        // each setter copies its argument, and the attribute keys are the ones
        // libnftnl defines for this expression name, with the value types its
        // setters expect. Ownership passes to the rule (`nftnl_rule_add_expr`).
        unsafe {
            let Some(e) = NonNull::new(sys::nftnl_expr_alloc(name.as_ptr())) else {
                panic!("libnftnl could not allocate a {} expression", self.name());
            };
            let p = e.as_ptr();
            let u32_ = |k: u32, v: u32| sys::nftnl_expr_set_u32(p, k as u16, v);
            let data = |k: u32, d: &[u8]| {
                sys::nftnl_expr_set(p, k as u16, d.as_ptr() as *const c_void, d.len() as u32);
            };
            let s = |k: u32, v: &str| {
                let c = cstring(v);
                sys::nftnl_expr_set_str(p, k as u16, c.as_ptr());
            };
            match self {
                Expr::Meta(key) => {
                    u32_(sys::NFTNL_EXPR_META_KEY, key.raw());
                    u32_(sys::NFTNL_EXPR_META_DREG, Register::R1.raw());
                }
                Expr::CtState => {
                    u32_(sys::NFTNL_EXPR_CT_KEY, CtKey::State.raw());
                    u32_(sys::NFTNL_EXPR_CT_DREG, Register::R1.raw());
                }
                Expr::Payload { base, offset, len } => {
                    u32_(sys::NFTNL_EXPR_PAYLOAD_DREG, Register::R1.raw());
                    u32_(sys::NFTNL_EXPR_PAYLOAD_BASE, base.raw());
                    u32_(sys::NFTNL_EXPR_PAYLOAD_OFFSET, *offset);
                    u32_(sys::NFTNL_EXPR_PAYLOAD_LEN, *len);
                }
                Expr::Cmp { op, data: d } => {
                    u32_(sys::NFTNL_EXPR_CMP_SREG, Register::R1.raw());
                    u32_(sys::NFTNL_EXPR_CMP_OP, op.raw());
                    data(sys::NFTNL_EXPR_CMP_DATA, d.get().unwrap_or_default());
                }
                Expr::Bitwise { mask } => {
                    let m = mask.get().unwrap_or_default();
                    u32_(sys::NFTNL_EXPR_BITWISE_SREG, Register::R1.raw());
                    u32_(sys::NFTNL_EXPR_BITWISE_DREG, Register::R1.raw());
                    u32_(sys::NFTNL_EXPR_BITWISE_LEN, m.len() as u32);
                    data(sys::NFTNL_EXPR_BITWISE_MASK, m);
                    data(sys::NFTNL_EXPR_BITWISE_XOR, &vec![0; m.len()]);
                }
                Expr::Lookup { set, set_id } => {
                    u32_(sys::NFTNL_EXPR_LOOKUP_SREG, Register::R1.raw());
                    s(sys::NFTNL_EXPR_LOOKUP_SET, set);
                    u32_(sys::NFTNL_EXPR_LOOKUP_SET_ID, *set_id);
                }
                Expr::Counter => {}
                Expr::Limit { rate, unit, burst } => {
                    sys::nftnl_expr_set_u64(p, sys::NFTNL_EXPR_LIMIT_RATE as u16, *rate);
                    sys::nftnl_expr_set_u64(p, sys::NFTNL_EXPR_LIMIT_UNIT as u16, *unit);
                    u32_(sys::NFTNL_EXPR_LIMIT_BURST, *burst);
                    u32_(sys::NFTNL_EXPR_LIMIT_TYPE, LimitType::Pkts.raw());
                    u32_(sys::NFTNL_EXPR_LIMIT_FLAGS, 0);
                }
                Expr::Dynset {
                    set,
                    set_id,
                    rate,
                    unit,
                    burst,
                } => {
                    u32_(sys::NFTNL_EXPR_DYNSET_SREG_KEY, Register::R1.raw());
                    u32_(sys::NFTNL_EXPR_DYNSET_OP, DYNSET_OP_UPDATE);
                    s(sys::NFTNL_EXPR_DYNSET_SET_NAME, set);
                    u32_(sys::NFTNL_EXPR_DYNSET_SET_ID, *set_id);
                    // The dynset takes ownership of the nested expression.
                    let inner = Expr::limit(*rate, *unit, *burst).to_expr(_rule);
                    let key = sys::NFTNL_EXPR_DYNSET_EXPR as u16;
                    sys::nftnl_expr_set(p, key, inner.as_ptr() as *const c_void, 0);
                }
                Expr::Log {
                    prefix,
                    group,
                    level,
                } => {
                    if let Some(pr) = prefix {
                        s(sys::NFTNL_EXPR_LOG_PREFIX, pr);
                    }
                    if let Some(g) = group {
                        sys::nftnl_expr_set_u16(p, sys::NFTNL_EXPR_LOG_GROUP as u16, *g);
                    }
                    if let Some(l) = level {
                        u32_(sys::NFTNL_EXPR_LOG_LEVEL, *l);
                    }
                }
                Expr::Verdict(v) => {
                    u32_(sys::NFTNL_EXPR_IMM_DREG, Register::Verdict.raw());
                    u32_(sys::NFTNL_EXPR_IMM_VERDICT, v.raw());
                }
                Expr::Reject(ty, code) => {
                    u32_(sys::NFTNL_EXPR_REJECT_TYPE, ty.raw());
                    let code = reject_code(*code);
                    sys::nftnl_expr_set_u8(p, sys::NFTNL_EXPR_REJECT_CODE as u16, code);
                }
            }
            e
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::vocab::{
        CmpOp, IcmpxCode, MetaKey, PayloadBase, RejectType,
        VerdictCode::{Accept, Drop},
    };

    /// Every expression form and option hostwall emits, in rule-sized groups.
    fn rules() -> Vec<(Vec<Expr>, Option<String>)> {
        let ifname = *b"virbr0\0\0\0\0\0\0\0\0\0\0";
        vec![
            (vec![], None),
            (vec![Expr::verdict(Accept)], Some("a comment".into())),
            (
                vec![
                    Expr::meta(MetaKey::L4Proto),
                    Expr::cmp(CmpOp::Eq, &[6]),
                    Expr::payload(PayloadBase::Transport, 2, 2),
                    Expr::cmp(CmpOp::Eq, &22u16.to_be_bytes()),
                    Expr::verdict(Accept),
                ],
                None,
            ),
            (
                vec![
                    Expr::meta(MetaKey::IifName),
                    Expr::cmp(CmpOp::Eq, &ifname),
                    Expr::meta(MetaKey::OifName),
                    Expr::cmp(CmpOp::Eq, b"vnet"),
                    Expr::ct_state(),
                    Expr::bitwise_mask(&6u32.to_ne_bytes()),
                    Expr::cmp(CmpOp::Neq, &0u32.to_ne_bytes()),
                    Expr::counter(),
                    Expr::verdict(Drop),
                ],
                Some("x".into()),
            ),
            (
                vec![
                    Expr::meta(MetaKey::NfProto),
                    Expr::cmp(CmpOp::Eq, &[10]),
                    Expr::payload(PayloadBase::Network, 8, 16),
                    Expr::bitwise_mask(&[0xff; 16]),
                    Expr::cmp(CmpOp::Eq, &[0x20; 16]),
                    Expr::payload(PayloadBase::Transport, 2, 2),
                    Expr::cmp(CmpOp::Gte, &1000u16.to_be_bytes()),
                    Expr::cmp(CmpOp::Lte, &2000u16.to_be_bytes()),
                    Expr::lookup("some-set", 3),
                    Expr::limit(10, 60, 5),
                    Expr::payload(PayloadBase::Network, 12, 4),
                    Expr::source_limit("ssh_limit4", 9, 10, 60, 5),
                    Expr::payload(PayloadBase::Network, 8, 16),
                    Expr::source_limit("a_limit6", 1, 3, 86_400, 4_000_000),
                    Expr::log(Some("hostwall: "), Some(7), None),
                    Expr::log(None, None, None),
                    Expr::log(Some("p"), None, None),
                    Expr::log(None, Some(2), None),
                    Expr::log(Some("p"), None, Some(6)),
                    Expr::log(None, None, Some(0)),
                    Expr::reject(RejectType::TcpRst, None),
                    Expr::reject(RejectType::IcmpxUnreach, Some(IcmpxCode::AdminProhibited)),
                    Expr::reject(RejectType::IcmpxUnreach, Some(IcmpxCode::PortUnreach)),
                ],
                Some("c".repeat(ORACLE_MAX_COMMENT)),
            ),
        ]
    }

    /// The nftnl crate's `set_comment` writes into a 128-byte userdata buffer, so the
    /// longest comment it can encode is 125 bytes (TLV header and NUL included).
    const ORACLE_MAX_COMMENT: usize = 125;

    fn hex(b: &[u8]) -> String {
        b.chunks(4)
            .map(|c| c.iter().map(|x| format!("{x:02x}")).collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn direct_encoding_equals_libnftnl_byte_for_byte() {
        let target = RuleTarget::new("hostwall", "input").unwrap_or_else(|e| panic!("{e}"));
        for (i, (exprs, comment)) in rules().iter().enumerate() {
            let mut w = Writer::default();
            target
                .write(&mut w, 42 + i as u32, exprs, comment.as_deref())
                .unwrap_or_else(|e| panic!("{e}"));
            let want = reference_message(
                "hostwall",
                "input",
                42 + i as u32,
                exprs,
                comment.as_deref(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(hex(&w.buf), hex(&want), "rule {i} differs");
        }
    }
}

#[cfg(test)]
mod boundary_tests {
    use std::path::Path;

    /// Every `.rs` file under `dir`, with its text.
    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                out.push((p.display().to_string(), text));
            }
        }
    }

    /// The libnftnl encoder (the nftnl crate, expression building, rule printing) and
    /// its abort on allocation failure live only in this feature-gated file, and the
    /// nftnl crate is an optional dependency only the `oracle` feature enables, so a
    /// release build compiles none of it (issue #9 item 5).
    #[test]
    fn libnftnl_encoder_is_only_in_the_test_only_oracle() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        sources(&root.join("src"), &mut files);
        assert!(files.len() > 50, "walked {} files", files.len());
        let oracle_only = [
            "use nftnl::",
            "nftnl::expr",
            "nftnl_expr_alloc",
            "nftnl_expr_set",
            "nftnl_rule_snprintf",
            "nftnl_udata",
            "process::abort",
        ];
        for (path, text) in &files {
            if path.ends_with("src/nft/oracle.rs") {
                continue;
            }
            for needle in oracle_only {
                // The one other abort, which has nothing to do with libnftnl: a thread
                // that cannot return to its own network namespace (tidy's `MAY_EXIT`).
                if needle == "process::abort" && path.ends_with("src/netns/enter.rs") {
                    continue;
                }
                assert!(!text.contains(needle), "{path} uses `{needle}`");
            }
        }
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
        let nftnl = manifest
            .lines()
            .find(|l| l.starts_with("nftnl ="))
            .unwrap_or_default();
        assert!(nftnl.contains("optional = true"), "{nftnl}");
        assert!(manifest.contains("oracle = [\"dep:nftnl\"]"));
        let module = std::fs::read_to_string(root.join("src/nft/mod.rs")).unwrap_or_default();
        assert!(module.contains("#[cfg(feature = \"oracle\")]\npub mod oracle;"));
    }
}
