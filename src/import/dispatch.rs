//! The order in which firewalld hands packets to zones by input interface, and its
//! interface wildcard in hostwall's words. firewalld (1.3, `nftables.py`) inserts each
//! interface's dispatch rule right after the source rules, applying zones by name and
//! each zone's interfaces in file order, so the last one applied is tried first.

use super::zone::{Named, Zone};

/// The interface bindings of `active` zones (sorted by name) in firewalld's dispatch
/// order. The default zone's own interfaces are kept only where a wildcard tried after
/// them could take their packets; elsewhere the default zone catches them anyway.
pub(super) fn interfaces<'a>(
    active: &[&'a Zone],
    default_zone: &str,
) -> Vec<(&'a Zone, &'a Named)> {
    let mut all: Vec<(&Zone, &Named)> = (active.iter())
        .flat_map(|z| z.interfaces.iter().map(move |i| (*z, i)))
        .collect();
    all.reverse();
    let wildcard_after: Vec<bool> = (0..all.len())
        .map(|k| all[k + 1..].iter().any(|(_, i)| i.value.ends_with('+')))
        .collect();
    (all.into_iter().zip(wildcard_after))
        .filter(|((z, _), later)| z.name != default_zone || *later)
        .map(|(b, _)| b)
        .collect()
}

/// firewalld's interface name as a policy writes it: a trailing `+` (every name with
/// that prefix) becomes `*`; `None` for `+` alone (every interface), which a policy's
/// `on` cannot say.
pub(super) fn iface_name(name: &str) -> Option<String> {
    match name.strip_suffix('+') {
        Some("") => None,
        Some(prefix) => Some(format!("{prefix}*")),
        None => Some(name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::xml::Pos;

    fn zone(name: &str, ifaces: &[&str]) -> Zone {
        let mut z = crate::import::zone::parse("z.xml", name, "<zone/>").expect("a zone");
        for i in ifaces {
            z.interfaces.push(Named {
                value: (*i).to_string(),
                at: Pos {
                    file: "z.xml".into(),
                    line: 1,
                    col: 1,
                },
            });
        }
        z
    }

    fn order(zones: &[Zone], default_zone: &str) -> Vec<String> {
        let active: Vec<&Zone> = zones.iter().collect();
        (interfaces(&active, default_zone).into_iter())
            .map(|(z, i)| format!("{}:{}", z.name, i.value))
            .collect()
    }

    #[test]
    fn the_last_interface_applied_is_tried_first() {
        let zones = [zone("trusted", &["veth+"]), zone("work", &["eth9", "eth8"])];
        assert_eq!(
            order(&zones, "public"),
            ["work:eth8", "work:eth9", "trusted:veth+"]
        );
    }

    #[test]
    fn a_default_zone_interface_stays_only_before_a_wildcard() {
        let zones = [zone("aaa", &["eth+"]), zone("public", &["eth0"])];
        assert_eq!(order(&zones, "public"), ["public:eth0", "aaa:eth+"]);
        let zones = [zone("public", &["eth0"]), zone("zzz", &["eth+"])];
        assert_eq!(order(&zones, "public"), ["zzz:eth+"]);
    }

    #[test]
    fn a_plus_is_a_prefix_match() {
        assert_eq!(iface_name("veth+").as_deref(), Some("veth*"));
        assert_eq!(iface_name("eth0").as_deref(), Some("eth0"));
        assert_eq!(iface_name("+"), None);
    }
}
