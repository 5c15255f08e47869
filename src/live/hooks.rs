//! Kernel numbers -> names: families, the hooks of each family, chain policies, and
//! a base chain's registration (`ChainHead`) as nft writes it.

use super::state::ChainHead;
use crate::ir::{ChainPolicy, Hook};
use crate::nft::read::RawChain;
use crate::nft::vocab::{Family, InetHook};

/// A family's name as nft spells it.
pub fn family_name(f: u32) -> String {
    match Family::try_from(f) {
        Ok(Family::Inet) => "inet".into(),
        Ok(Family::Ipv4) => "ip".into(),
        Ok(Family::Arp) => "arp".into(),
        Ok(Family::Netdev) => "netdev".into(),
        Ok(Family::Bridge) => "bridge".into(),
        Ok(Family::Ipv6) => "ip6".into(),
        Ok(Family::Unspec) | Err(_) => format!("family {f}"),
    }
}

/// A hook's name in its family: `NF_INET_*` (inet adds ingress), `NF_BR_*`,
/// `NF_ARP_*`, `NF_NETDEV_*`. `None` for a number hostwall does not know.
pub fn hook_name(family: u32, n: u32) -> Option<&'static str> {
    let inet = InetHook::try_from(n).ok();
    let name = match Family::try_from(family).ok()? {
        Family::Ipv4 | Family::Ipv6 | Family::Bridge if inet != Some(InetHook::Ingress) => {
            inet?.name()
        }
        Family::Inet => inet?.name(),
        Family::Arp => ["input", "output", "forward"].get(n as usize)?,
        Family::Netdev => ["ingress", "egress"].get(n as usize)?,
        _ => return None,
    };
    Some(name)
}

/// The IR's hook, for the hooks an `inet` filter chain of ours can have.
pub fn ir_hook(family: u32, n: u32) -> Option<Hook> {
    (family == Family::Inet.raw())
        .then(|| crate::ir::kernel::hook_of(n))
        .flatten()
}

/// A chain's policy: drop, or accept for any other code (and for none).
pub fn policy(p: Option<u32>) -> ChainPolicy {
    crate::ir::kernel::policy_of(p)
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
        let [inet, ipv4, arp, netdev, bridge, ipv6] = [
            Family::Inet,
            Family::Ipv4,
            Family::Arp,
            Family::Netdev,
            Family::Bridge,
            Family::Ipv6,
        ]
        .map(Family::raw);
        assert_eq!(hook_name(inet, 5), Some("ingress"));
        assert_eq!(hook_name(ipv4, 5), None);
        assert_eq!(hook_name(netdev, 0), Some("ingress"));
        assert_eq!(hook_name(netdev, 1), Some("egress"));
        assert_eq!(hook_name(arp, 1), Some("output"));
        assert_eq!(hook_name(bridge, 4), Some("postrouting"));
        assert_eq!(hook_name(ipv6, 3), Some("output"));
        assert_eq!(hook_name(99, 0), None);
        assert_eq!(ir_hook(inet, 1), Some(Hook::Input));
        assert_eq!(ir_hook(inet, 5), None, "ingress has no IR hook");
        assert_eq!(
            ir_hook(ipv4, 1),
            None,
            "only our inet table's hooks map to the IR"
        );
    }
}
