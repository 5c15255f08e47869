//! libvirt's networks on this host: the `virbr*` links the kernel has (/proc/net/dev of
//! the current network namespace) and the networks libvirt describes in XML
//! (/etc/libvirt/qemu/networks, /var/lib/libvirt/network), all under the system root.

use std::path::Path;

/// Where libvirt keeps network definitions (persistent, then running status).
const XML_DIRS: [&str; 2] = ["etc/libvirt/qemu/networks", "var/lib/libvirt/network"];
/// Largest network XML file read.
const XML_LIMIT: u64 = 1 << 20;
/// At most this many XML files are read from each directory.
const MAX_FILES: usize = 1024;

/// A network whose dnsmasq serves DNS (and DHCP) on a bridge of this host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Network {
    /// The bridge the guests reach the host on.
    pub bridge: String,
    /// libvirt's name of the network; `None` for a `virbr*` link no XML describes.
    pub name: Option<String>,
    /// The forward mode (`nat`, `route`, `isolated` when there is none).
    pub mode: String,
    /// Whether it routes guests through the host (`nat`, `route`): needs ip_forward.
    pub routes: bool,
}

/// Every network served by dnsmasq on a bridge: from the XML, then the `virbr*` links no
/// XML names (libvirt's default is NAT). Sorted by bridge, one entry per bridge.
pub fn find(root: &Path) -> Vec<Network> {
    let mut found: Vec<Network> = Vec::new();
    for dir in XML_DIRS {
        for net in xml_networks(&root.join(dir)) {
            if !found.iter().any(|n| n.bridge == net.bridge) {
                found.push(net);
            }
        }
    }
    let dev = std::fs::read_to_string(root.join("proc/net/dev")).unwrap_or_default();
    for link in links(&dev) {
        if link.starts_with("virbr") && is_ifname(&link) && !found.iter().any(|n| n.bridge == link)
        {
            found.push(Network {
                bridge: link,
                name: None,
                mode: "nat".into(),
                routes: true,
            });
        }
    }
    found.sort();
    found
}

/// The interface names of a /proc/net/dev table, without libvirt's `-nic` helper taps.
pub fn links(dev: &str) -> Vec<String> {
    dev.lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_string()))
        .filter(|n| !n.is_empty() && !n.ends_with("-nic"))
        .collect()
}

/// A name the policy can quote as an interface: what Linux allows (1 to 15 bytes), in
/// the characters bridges are named with; anything else is left out.
pub fn is_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn xml_networks(dir: &Path) -> Vec<Network> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .take(MAX_FILES)
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| {
            let f = std::fs::File::open(p).ok()?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::Read::take(f, XML_LIMIT), &mut text)
                .ok()?;
            parse(&text)
        })
        .collect()
}

/// The network one libvirt XML document describes (a `<network>`, or the one inside a
/// running network's `<networkstatus>`), when dnsmasq serves it on a bridge: it has a
/// bridge, an `<ip>` and a forward mode of nat, route or none.
pub fn parse(xml: &str) -> Option<Network> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let net = doc
        .root()
        .descendants()
        .find(|n| n.has_tag_name("network"))?;
    let child = |tag: &str| net.children().find(|c| c.has_tag_name(tag));
    let bridge = child("bridge")?.attribute("name")?.to_string();
    if !is_ifname(&bridge) {
        return None;
    }
    child("ip")?;
    let mode = match child("forward") {
        None => "isolated".to_string(),
        Some(f) => f.attribute("mode").unwrap_or("nat").to_string(),
    };
    let routes = matches!(mode.as_str(), "nat" | "route");
    if !routes && mode != "isolated" {
        return None;
    }
    // Shown in the policy's comments: one line, no control character.
    let name = child("name").and_then(|n| n.text()).map(|t| {
        t.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .take(64)
            .collect()
    });
    Some(Network {
        bridge,
        name,
        mode,
        routes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_route_and_isolated_networks_with_a_bridge_and_an_ip_are_served() {
        let default = "<network>\n  <name>default</name>\n  <forward mode='nat'/>\n  <bridge name='virbr0' stp='on'/>\n  <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip>\n</network>\n";
        assert_eq!(
            parse(default),
            Some(Network {
                bridge: "virbr0".into(),
                name: Some("default".into()),
                mode: "nat".into(),
                routes: true
            })
        );
        let status = format!("<networkstatus><class_id bitmap='0-2'/>{default}</networkstatus>");
        assert_eq!(parse(&status).map(|n| n.bridge), Some("virbr0".into()));
        let isolated = "<network><name>lab</name><bridge name='br-lab'/><ip address='10.9.0.1' prefix='24'/></network>";
        assert_eq!(
            parse(isolated).map(|n| (n.mode, n.routes)),
            Some(("isolated".into(), false))
        );
        let bridged =
            "<network><name>host</name><forward mode='bridge'/><bridge name='br0'/></network>";
        assert_eq!(parse(bridged), None);
        let no_ip = "<network><name>x</name><forward mode='nat'/><bridge name='virbr7'/></network>";
        assert_eq!(parse(no_ip), None);
        assert_eq!(parse("<network><bridge name='a'"), None);
        // A bridge name the policy could not quote, or too long for Linux: left out.
        for bad in ["a\"b", "br lab", "averyveryverylongbridge", ""] {
            let x = format!(
                "<network><name>n</name><bridge name='{bad}'/><ip address='10.0.0.1'/></network>"
            );
            assert_eq!(parse(&x), None, "{bad}");
        }
        // A name with a line break stays one comment line.
        let x = "<network><name>x&#10;allow tcp 1-65535</name><bridge name='br1'/><ip address='10.0.0.1'/></network>";
        assert_eq!(
            parse(x).and_then(|n| n.name),
            Some("x?allow tcp 1-65535".into())
        );
    }

    #[test]
    fn links_are_read_from_proc_net_dev() {
        let dev =
            "Inter-|   Receive\n face |bytes\n    lo: 0 0\nvirbr0: 1 2\nvirbr0-nic: 0\n  eth0: 5\n";
        assert_eq!(links(dev), vec!["lo", "virbr0", "eth0"]);
    }
}
