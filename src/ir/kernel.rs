//! The IR's forms as the kernel numbers them (`nft::vocab`): one table per form, a
//! `match` from IR to kernel that the encoder (`emit::netlink`) writes, read back by the
//! live decoder through the same table (`*_of` functions search it), so the two
//! directions cannot disagree.

use super::{ChainPolicy, Hook, LogLevel, NfProto, RejectWith, SetKey};
use crate::nft::vocab::{DataType, Family, IcmpxCode, InetHook, RejectType, VerdictCode};

pub const HOOKS: [Hook; 5] = [
    Hook::Prerouting,
    Hook::Input,
    Hook::Forward,
    Hook::Output,
    Hook::Postrouting,
];
pub const NFPROTOS: [NfProto; 2] = [NfProto::Ipv4, NfProto::Ipv6];
pub const POLICIES: [ChainPolicy; 2] = [ChainPolicy::Accept, ChainPolicy::Drop];
pub const SET_KEYS: [SetKey; 5] = [
    SetKey::Ipv4Addr,
    SetKey::Ipv6Addr,
    SetKey::InetService,
    SetKey::IcmpType,
    SetKey::Icmpv6Type,
];
pub const REJECTS: [RejectWith; 3] = [
    RejectWith::TcpReset,
    RejectWith::IcmpxAdminProhibited,
    RejectWith::IcmpxPortUnreachable,
];

impl From<Hook> for InetHook {
    fn from(h: Hook) -> InetHook {
        match h {
            Hook::Prerouting => InetHook::Prerouting,
            Hook::Input => InetHook::Input,
            Hook::Forward => InetHook::Forward,
            Hook::Output => InetHook::Output,
            Hook::Postrouting => InetHook::Postrouting,
        }
    }
}

impl From<NfProto> for Family {
    fn from(p: NfProto) -> Family {
        match p {
            NfProto::Ipv4 => Family::Ipv4,
            NfProto::Ipv6 => Family::Ipv6,
        }
    }
}

impl From<ChainPolicy> for VerdictCode {
    fn from(p: ChainPolicy) -> VerdictCode {
        match p {
            ChainPolicy::Accept => VerdictCode::Accept,
            ChainPolicy::Drop => VerdictCode::Drop,
        }
    }
}

impl From<SetKey> for DataType {
    fn from(k: SetKey) -> DataType {
        match k {
            SetKey::Ipv4Addr => DataType::Ipv4Addr,
            SetKey::Ipv6Addr => DataType::Ipv6Addr,
            SetKey::InetService => DataType::InetService,
            SetKey::IcmpType => DataType::IcmpType,
            SetKey::Icmpv6Type => DataType::Icmpv6Type,
        }
    }
}

/// The reject type and, for ICMPX, its code.
pub fn reject_parts(r: RejectWith) -> (RejectType, Option<IcmpxCode>) {
    match r {
        RejectWith::TcpReset => (RejectType::TcpRst, None),
        RejectWith::IcmpxAdminProhibited => {
            (RejectType::IcmpxUnreach, Some(IcmpxCode::AdminProhibited))
        }
        RejectWith::IcmpxPortUnreachable => {
            (RejectType::IcmpxUnreach, Some(IcmpxCode::PortUnreach))
        }
    }
}

fn find<T: Copy, K: PartialEq>(all: &[T], to_kernel: impl Fn(T) -> K, k: K) -> Option<T> {
    all.iter().copied().find(|v| to_kernel(*v) == k)
}

/// The IR hook of an `inet` chain's hook number (ingress has none).
pub fn hook_of(n: u32) -> Option<Hook> {
    find(&HOOKS, InetHook::from, InetHook::try_from(n).ok()?)
}

/// The IR's layer-3 protocol of a `meta nfproto` value.
pub fn nfproto_of(n: u32) -> Option<NfProto> {
    find(&NFPROTOS, Family::from, Family::try_from(n).ok()?)
}

/// A chain policy's IR form: drop is drop, anything else accepts (as the kernel does
/// for a chain without a policy).
pub fn policy_of(code: Option<u32>) -> ChainPolicy {
    let code = code.and_then(|c| VerdictCode::try_from(c).ok());
    code.and_then(|c| find(&POLICIES, VerdictCode::from, c))
        .unwrap_or(ChainPolicy::Accept)
}

/// The IR key of an nft datatype id.
pub fn set_key_of(datatype: u32) -> Option<SetKey> {
    find(
        &SET_KEYS,
        DataType::from,
        DataType::try_from(datatype).ok()?,
    )
}

/// The IR form of a reject expression's type and code.
pub fn reject_of(ty: u32, code: u32) -> Option<RejectWith> {
    let ty = RejectType::try_from(ty).ok()?;
    let code = match ty {
        RejectType::IcmpxUnreach => Some(IcmpxCode::try_from(code).ok()?),
        _ if code == 0 => None,
        _ => return None,
    };
    find(&REJECTS, reject_parts, (ty, code))
}

/// `NFTA_LOG_LEVEL` as nft writes it: absent for `warn` (the kernel's default, which a
/// dump reports as 4), else the syslog number.
pub fn log_level_attr(level: LogLevel) -> Option<u32> {
    (level != LogLevel::Warn).then(|| level.number())
}

/// A dumped `NFTA_LOG_LEVEL` (absent: the kernel's default, `warn`); `None` for a level
/// the IR has no form for (nft's `audit`, 8).
pub fn log_level_of(n: Option<u64>) -> Option<LogLevel> {
    n.map_or(Some(LogLevel::Warn), LogLevel::from_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ir_form_reads_back_from_its_kernel_number() {
        for h in HOOKS {
            assert_eq!(hook_of(InetHook::from(h).raw()), Some(h));
        }
        for p in NFPROTOS {
            assert_eq!(nfproto_of(Family::from(p).raw()), Some(p));
        }
        for p in POLICIES {
            assert_eq!(policy_of(Some(VerdictCode::from(p).raw())), p);
        }
        for k in SET_KEYS {
            assert_eq!(set_key_of(DataType::from(k).raw()), Some(k));
        }
        for r in REJECTS {
            let (ty, code) = reject_parts(r);
            assert_eq!(reject_of(ty.raw(), code.map_or(0, IcmpxCode::raw)), Some(r));
        }
    }

    #[test]
    fn kernel_numbers_without_an_ir_form_read_as_none() {
        assert_eq!(hook_of(InetHook::Ingress.raw()), None);
        assert_eq!(hook_of(77), None);
        assert_eq!(nfproto_of(Family::Inet.raw()), None);
        assert_eq!(policy_of(None), ChainPolicy::Accept);
        assert_eq!(policy_of(Some(VerdictCode::Drop.raw())), ChainPolicy::Drop);
        assert_eq!(set_key_of(DataType::IfName.raw()), None);
        assert_eq!(reject_of(RejectType::TcpRst.raw(), 1), None);
        assert_eq!(
            reject_of(RejectType::IcmpxUnreach.raw(), IcmpxCode::HostUnreach.raw()),
            None
        );
        assert_eq!(reject_of(RejectType::IcmpUnreach.raw(), 0), None);
    }
}
