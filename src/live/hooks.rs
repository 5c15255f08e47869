//! Kernel numbers -> names: families, the hooks of each family, chain policies, and
//! a base chain's registration (`ChainHead`) as nft writes it.

use super::state::ChainHead;
use crate::ir::{ChainPolicy, Hook};
use crate::nft::read::RawChain;

// NFPROTO_* (linux/netfilter.h).
const INET: u32 = 1;
const IPV4: u32 = 2;
const ARP: u32 = 3;
pub const NETDEV: u32 = 5;
const BRIDGE: u32 = 7;
const IPV6: u32 = 10;

pub fn family_name(f: u32) -> String {
    match f {
        INET => "inet".into(),
        IPV4 => "ip".into(),
        ARP => "arp".into(),
        NETDEV => "netdev".into(),
        BRIDGE => "bridge".into(),
        IPV6 => "ip6".into(),
        n => format!("family {n}"),
    }
}

/// A hook's name in its family: `NF_INET_*` (inet adds ingress), `NF_BR_*`,
/// `NF_ARP_*`, `NF_NETDEV_*`. `None` for a number hostwall does not know.
pub fn hook_name(family: u32, n: u32) -> Option<&'static str> {
    let ip = ["prerouting", "input", "forward", "output", "postrouting"];
    let name = match family {
        IPV4 | IPV6 | BRIDGE => ip.get(n as usize)?,
        INET if n == 5 => "ingress",
        INET => ip.get(n as usize)?,
        ARP => ["input", "output", "forward"].get(n as usize)?,
        NETDEV => ["ingress", "egress"].get(n as usize)?,
        _ => return None,
    };
    Some(name)
}

/// The IR's hook, for the hooks an `inet` filter chain of ours can have.
pub fn ir_hook(family: u32, n: u32) -> Option<Hook> {
    if family != INET {
        return None;
    }
    Some(match n {
        0 => Hook::Prerouting,
        1 => Hook::Input,
        2 => Hook::Forward,
        3 => Hook::Output,
        4 => Hook::Postrouting,
        _ => return None,
    })
}

pub fn policy(p: Option<u32>) -> ChainPolicy {
    match p {
        Some(0) => ChainPolicy::Drop, // NF_DROP
        _ => ChainPolicy::Accept,
    }
}

/// A base chain's registration; `None` for a regular chain.
pub fn head(c: &RawChain) -> Option<ChainHead> {
    let n = c.hook?;
    Some(ChainHead {
        family: family_name(c.family),
        chain_type: c.chain_type.clone().unwrap_or_else(|| "filter".into()),
        hook: hook_name(c.family, n).map_or_else(|| format!("number {n}"), str::to_string),
        devices: c.devices.clone(),
        priority: c.priority.unwrap_or(0),
        policy: policy(c.policy).name().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_names_its_hooks() {
        assert_eq!(hook_name(INET, 5), Some("ingress"));
        assert_eq!(hook_name(IPV4, 5), None);
        assert_eq!(hook_name(NETDEV, 0), Some("ingress"));
        assert_eq!(hook_name(NETDEV, 1), Some("egress"));
        assert_eq!(hook_name(ARP, 1), Some("output"));
        assert_eq!(hook_name(BRIDGE, 4), Some("postrouting"));
        assert_eq!(hook_name(IPV6, 3), Some("output"));
        assert_eq!(hook_name(99, 0), None);
        assert_eq!(
            ir_hook(IPV4, 1),
            None,
            "only our inet table's hooks map to the IR"
        );
    }
}
