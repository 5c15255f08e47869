//! The built-in service catalog, as data (ICMP type names are `ir::ICMP_TYPES`).

use crate::model::Proto;

/// A built-in service: name, (protocol, first port, last port) groups, and why it is there.
pub struct Builtin {
    pub name: &'static str,
    pub ports: &'static [(Proto, u16, u16)],
    pub about: &'static str,
}

use Proto::{Tcp, Udp};

/// The catalog. Ports follow the host-security guide where it names them.
pub const CATALOG: &[Builtin] = &[
    Builtin {
        name: "ssh",
        ports: &[(Tcp, 22, 22)],
        about: "SSH",
    },
    Builtin {
        name: "vdsm-reg",
        ports: &[(Tcp, 80, 80), (Tcp, 443, 443)],
        about: "vdsm-reg (RHEV manager registration)",
    },
    Builtin {
        name: "spice",
        ports: &[(Tcp, 5634, 6166)],
        about: "SPICE guest consoles",
    },
    Builtin {
        name: "kvm-migration",
        ports: &[(Tcp, 49152, 49216)],
        about: "KVM live migration",
    },
    Builtin {
        name: "libvirt-tls",
        ports: &[(Tcp, 16514, 16514)],
        about: "libvirtd over TLS",
    },
    Builtin {
        name: "libvirt-tcp",
        ports: &[(Tcp, 16509, 16509)],
        about: "libvirtd plain TCP (unencrypted)",
    },
    Builtin {
        name: "vnc",
        ports: &[(Tcp, 5900, 5999)],
        about: "VNC guest consoles (100 displays)",
    },
    Builtin {
        name: "dns",
        ports: &[(Udp, 53, 53), (Tcp, 53, 53)],
        about: "DNS",
    },
    Builtin {
        name: "dhcp",
        ports: &[(Udp, 67, 67), (Udp, 547, 547)],
        about: "DHCP and DHCPv6 server",
    },
    Builtin {
        name: "http",
        ports: &[(Tcp, 80, 80)],
        about: "HTTP",
    },
    Builtin {
        name: "https",
        ports: &[(Tcp, 443, 443)],
        about: "HTTPS",
    },
    Builtin {
        name: "nfs",
        ports: &[(Tcp, 2049, 2049)],
        about: "NFSv4",
    },
    Builtin {
        name: "iscsi",
        ports: &[(Tcp, 3260, 3260)],
        about: "iSCSI target",
    },
    Builtin {
        name: "ntp",
        ports: &[(Udp, 123, 123)],
        about: "NTP",
    },
    Builtin {
        name: "snmp",
        ports: &[(Udp, 161, 161)],
        about: "SNMP agent",
    },
];

/// Looks a built-in up by name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    CATALOG.iter().find(|b| b.name == name)
}

/// Names of all built-ins, for "did you mean".
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    CATALOG.iter().map(|b| b.name)
}

/// `catalog: ssh is tcp 22` — how diagnostics describe a catalog entry.
pub fn describe(name: &str, ports: &[(Proto, u16, u16)]) -> String {
    format!("catalog: {name} is {}", ports_text(ports))
}

/// `udp 53 tcp 53`, `tcp 80, 443`: grouped by protocol in order, as the policy would write it.
pub fn ports_text(ports: &[(Proto, u16, u16)]) -> String {
    let mut out = String::new();
    let mut last: Option<Proto> = None;
    for &(p, lo, hi) in ports {
        if last == Some(p) {
            out.push_str(", ");
        } else {
            if last.is_some() {
                out.push(' ');
            }
            out.push_str(p.name());
            out.push(' ');
            last = Some(p);
        }
        if lo == hi {
            out.push_str(&lo.to_string());
        } else {
            out.push_str(&format!("{lo}-{hi}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_catalog_entries_as_policy_text() {
        let dns = builtin("dns").map(|b| b.ports).unwrap_or(&[]);
        assert_eq!(describe("dns", dns), "catalog: dns is udp 53 tcp 53");
        let v = builtin("vdsm-reg").map(|b| b.ports).unwrap_or(&[]);
        assert_eq!(ports_text(v), "tcp 80, 443");
    }
}
