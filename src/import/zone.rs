//! A firewalld zone (`zones/NAME.xml`): what it matches (interfaces, sources), what it
//! allows (services, ports, protocols, rich rules), what it blocks (ICMP blocks), its
//! target, and every element hostwall cannot express, with its place.

use super::rich::{self, Rich};
use super::service::{self, PortItem};
use super::xml::{self, Pos, XmlError};

/// What a zone does with a packet none of its rules decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// firewalld's `default`: ICMP accepted, everything else rejected.
    Default,
    Accept,
    Drop,
    Reject,
}

/// Something of the input that is not in the imported policy, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub at: Pos,
    pub what: String,
    pub why: String,
}

/// A name or address with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub value: String,
    pub at: Pos,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub target: Target,
    pub services: Vec<Named>,
    pub ports: Vec<PortItem>,
    pub protocols: Vec<Named>,
    pub icmp_blocks: Vec<Named>,
    pub interfaces: Vec<Named>,
    /// Source addresses (CIDRs or addresses, as firewalld wrote them).
    pub sources: Vec<Named>,
    pub rules: Vec<Rich>,
    pub skipped: Vec<Skipped>,
    /// What concerns forwarded traffic, which the import leaves out (docs/import.md).
    pub forwarding: Vec<Skipped>,
}

/// Reads `zones/NAME.xml`; every problem at once.
pub fn parse(file: &str, name: &str, text: &str) -> Result<Zone, Vec<XmlError>> {
    let doc = xml::parse(file, text).map_err(|e| vec![e])?;
    let root = doc.root_element();
    if root.tag_name().name() != "zone" {
        let found = root.tag_name().name();
        let msg = format!("expected <zone>, found <{found}>");
        return Err(vec![xml::error(file, root, msg)]);
    }
    let mut errors = Vec::new();
    let target = match root.attribute("target").unwrap_or("default") {
        "default" => Target::Default,
        "ACCEPT" => Target::Accept,
        "DROP" => Target::Drop,
        "%%REJECT%%" | "REJECT" => Target::Reject,
        other => {
            errors.push(xml::error(
                file,
                root,
                format!("unknown zone target `{other}`"),
            ));
            Target::Default
        }
    };
    let mut z = Zone {
        target,
        ..empty(name)
    };
    for el in xml::elements(root) {
        if let Err(e) = read_element(file, el, &mut z) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(z)
    } else {
        Err(errors)
    }
}

/// A zone with nothing in it and the `default` target.
pub(super) fn empty(name: &str) -> Zone {
    Zone {
        name: name.to_string(),
        target: Target::Default,
        services: Vec::new(),
        ports: Vec::new(),
        protocols: Vec::new(),
        icmp_blocks: Vec::new(),
        interfaces: Vec::new(),
        sources: Vec::new(),
        rules: Vec::new(),
        skipped: Vec::new(),
        forwarding: Vec::new(),
    }
}

fn named(file: &str, el: roxmltree::Node<'_, '_>, attr: &str) -> Result<Named, XmlError> {
    Ok(Named {
        value: xml::attr(file, el, attr)?.to_string(),
        at: xml::pos(file, el),
    })
}

pub(super) fn read_element(
    file: &str,
    el: roxmltree::Node<'_, '_>,
    z: &mut Zone,
) -> Result<(), XmlError> {
    let skip = |why: &str| Skipped {
        at: xml::pos(file, el),
        what: element_text(el),
        why: why.to_string(),
    };
    match el.tag_name().name() {
        "short" | "description" | "version" => {}
        "service" => z.services.push(named(file, el, "name")?),
        "port" => z.ports.push(service::port_item(file, el)?),
        "protocol" => z.protocols.push(named(file, el, "value")?),
        "icmp-block" => z.icmp_blocks.push(named(file, el, "name")?),
        "interface" => z.interfaces.push(named(file, el, "name")?),
        "source" => match el.attribute("address") {
            Some(_) => z.sources.push(named(file, el, "address")?),
            None => z.skipped.push(skip(
                "a zone source by MAC address or ipset: hostwall matches addresses only, so \
                 the zone's rules are not applied to it",
            )),
        },
        "rule" => z.rules.push(rich::parse(file, el)?),
        "forward" => z.forwarding.push(skip(
            "forwarding between the zone's interfaces: the imported policy has no forward \
             block, so forwarded traffic is left to the host's other tables",
        )),
        "masquerade" => z
            .skipped
            .push(skip("masquerading (NAT): hostwall does not do NAT")),
        "forward-port" => z
            .skipped
            .push(skip("port forwarding (DNAT): hostwall does not do NAT")),
        "source-port" => z.skipped.push(skip(
            "a source port: hostwall rules match destination ports only",
        )),
        "icmp-block-inversion" => z.skipped.push(skip(
            "ICMP block inversion: the ICMP blocks are imported as blocks, not as the only \
             ICMP allowed",
        )),
        other => z.skipped.push(skip(&format!(
            "<{other}> is not something hostwall imports"
        ))),
    }
    Ok(())
}

/// An element as it was written, on one line: `<forward-port port="80" protocol="tcp"/>`.
pub fn element_text(el: roxmltree::Node<'_, '_>) -> String {
    let text = el.document().input_text();
    let r = el.range();
    let raw = text.get(r.start..r.end).unwrap_or("");
    let one: Vec<&str> = raw.split_whitespace().collect();
    let mut s = one.join(" ");
    if s.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}
