//! A firewalld service definition (`services/NAME.xml`): its ports, protocols, source
//! ports, helpers, destinations and includes, and how they read as catalog ports or as text.

use super::xml::{self, Pos, XmlError};
use crate::model::Proto;

/// One `<port>` or `<source-port>`: a protocol and, for port protocols, a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortItem {
    pub proto: String,
    /// `None` when the element names no port (firewalld allows that for `ah`, `esp`…).
    pub range: Option<(u16, u16)>,
    pub at: Pos,
}

/// A firewalld service definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub short: Option<String>,
    pub ports: Vec<PortItem>,
    pub source_ports: Vec<PortItem>,
    pub protocols: Vec<String>,
    /// `<module>` and `<helper>` names: conntrack helpers firewalld attaches.
    pub helpers: Vec<String>,
    /// `<destination ipv4= ipv6=>` addresses.
    pub destinations: Vec<String>,
    pub includes: Vec<String>,
}

/// Reads `services/NAME.xml` (`file` names it in errors); every problem at once.
pub fn parse(file: &str, name: &str, text: &str) -> Result<Service, Vec<XmlError>> {
    let doc = xml::parse(file, text).map_err(|e| vec![e])?;
    let root = doc.root_element();
    if root.tag_name().name() != "service" {
        return Err(vec![xml::error(
            file,
            root,
            format!("expected <service>, found <{}>", root.tag_name().name()),
        )]);
    }
    let mut s = Service {
        name: name.to_string(),
        ..Service::default()
    };
    let mut errors = Vec::new();
    for el in xml::elements(root) {
        if let Err(e) = read_element(file, el, &mut s) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(errors)
    }
}

fn read_element(file: &str, el: roxmltree::Node<'_, '_>, s: &mut Service) -> Result<(), XmlError> {
    match el.tag_name().name() {
        "short" => s.short = el.text().map(|t| t.trim().to_string()),
        "description" | "version" => {}
        "port" => s.ports.push(port_item(file, el)?),
        "source-port" => s.source_ports.push(port_item(file, el)?),
        "protocol" => s.protocols.push(xml::attr(file, el, "value")?.to_string()),
        "module" | "helper" => s.helpers.push(xml::attr(file, el, "name")?.to_string()),
        "include" => s.includes.push(xml::attr(file, el, "service")?.to_string()),
        "destination" => {
            for fam in ["ipv4", "ipv6"] {
                if let Some(a) = el.attribute(fam) {
                    s.destinations.push(a.to_string());
                }
            }
        }
        other => {
            return Err(xml::error(
                file,
                el,
                format!("unknown element <{other}> in a service"),
            ));
        }
    }
    Ok(())
}

/// `<port protocol="tcp" port="5900-5903"/>`.
pub fn port_item(file: &str, el: roxmltree::Node<'_, '_>) -> Result<PortItem, XmlError> {
    let proto = xml::attr(file, el, "protocol")?.to_string();
    let text = el.attribute("port").unwrap_or("");
    let range = if text.is_empty() {
        None
    } else {
        Some(port_range(text).ok_or_else(|| {
            xml::error(file, el, format!("`{text}` is not a port or a port range"))
        })?)
    };
    Ok(PortItem {
        proto,
        range,
        at: xml::pos(file, el),
    })
}

/// `22`, `5900-5903` (firewalld also writes ranges with `:`).
pub fn port_range(text: &str) -> Option<(u16, u16)> {
    let (lo, hi) = text.split_once(['-', ':']).unwrap_or((text, text));
    let (lo, hi) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
    (lo <= hi).then_some((lo, hi))
}

/// A port protocol the policy language has.
pub fn proto(name: &str) -> Option<Proto> {
    match name {
        "tcp" => Some(Proto::Tcp),
        "udp" => Some(Proto::Udp),
        "sctp" => Some(Proto::Sctp),
        _ => None,
    }
}

impl Service {
    /// The service as catalog ports, when it is nothing but tcp/udp/sctp destination ports.
    pub fn catalog_ports(&self) -> Option<Vec<(Proto, u16, u16)>> {
        let plain = self.source_ports.is_empty()
            && self.protocols.is_empty()
            && self.helpers.is_empty()
            && self.destinations.is_empty()
            && self.includes.is_empty();
        if !plain || self.ports.is_empty() {
            return None;
        }
        (self.ports.iter())
            .map(|p| Some((proto(&p.proto)?, p.range?.0, p.range?.1)))
            .collect()
    }

    /// `tcp 5432`, `udp 5355; destination 224.0.0.252, ff02::1:3`, `includes http, https`:
    /// everything the service opens, in a fixed order.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.ports.is_empty() {
            parts.push(items_text(&self.ports));
        }
        let lists = [
            ("protocol", &self.protocols),
            ("helper", &self.helpers),
            ("destination", &self.destinations),
            ("includes", &self.includes),
        ];
        if !self.source_ports.is_empty() {
            parts.push(format!("source port {}", items_text(&self.source_ports)));
        }
        for (what, list) in lists {
            if !list.is_empty() {
                parts.push(format!("{what} {}", list.join(", ")));
            }
        }
        parts.join("; ")
    }
}

/// Port items grouped by protocol in order: `tcp 80, 443 udp 443`.
fn items_text(items: &[PortItem]) -> String {
    let mut out = String::new();
    let mut last: Option<&str> = None;
    for p in items {
        if last == Some(p.proto.as_str()) {
            out.push_str(", ");
        } else {
            if last.is_some() {
                out.push(' ');
            }
            out.push_str(&p.proto);
            last = Some(&p.proto);
            if p.range.is_none() {
                continue;
            }
            out.push(' ');
        }
        match p.range {
            Some((lo, hi)) if lo == hi => out.push_str(&lo.to_string()),
            Some((lo, hi)) => out.push_str(&format!("{lo}-{hi}")),
            None => {}
        }
    }
    out
}
