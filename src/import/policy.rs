//! A firewalld policy (`policies/NAME.xml`, firewalld ≥ 0.9): its ingress and egress zones,
//! priority and target, and its rules read as a zone's. Only a policy from `ANY` to `HOST`
//! that runs before the zones (a negative priority) is host input the import expresses;
//! every other one is listed with its place.

use super::xml::{self, Pos, XmlError};
use super::zone::{self, Named, Skipped, Zone};

/// What a policy does with a packet none of its rules decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyTarget {
    /// Hand the packet on to the next policy or zone.
    Continue,
    Accept,
    Drop,
    Reject,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub at: Pos,
    pub target: PolicyTarget,
    /// firewalld's default is -1: before the zones.
    pub priority: i32,
    pub ingress: Vec<Named>,
    pub egress: Vec<Named>,
    /// Its services, ports, protocols, ICMP blocks and rich rules, as a zone holds them
    /// (the zone's target is unused).
    pub body: Zone,
}

/// Reads `policies/NAME.xml`; every problem at once.
pub fn parse(file: &str, name: &str, text: &str) -> Result<Policy, Vec<XmlError>> {
    let doc = xml::parse(file, text).map_err(|e| vec![e])?;
    let root = doc.root_element();
    if root.tag_name().name() != "policy" {
        let found = root.tag_name().name();
        let msg = format!("expected <policy>, found <{found}>");
        return Err(vec![xml::error(file, root, msg)]);
    }
    let mut errors = Vec::new();
    let target = match root.attribute("target").unwrap_or("CONTINUE") {
        "CONTINUE" => PolicyTarget::Continue,
        "ACCEPT" => PolicyTarget::Accept,
        "DROP" => PolicyTarget::Drop,
        "REJECT" | "%%REJECT%%" => PolicyTarget::Reject,
        other => {
            let msg = format!("unknown policy target `{other}`");
            errors.push(xml::error(file, root, msg));
            PolicyTarget::Continue
        }
    };
    let priority = match root.attribute("priority").map(|p| p.trim().parse::<i32>()) {
        None => -1,
        Some(Ok(p)) if p != 0 && (-32768..=32767).contains(&p) => p,
        Some(_) => {
            let msg = "a policy priority is -32768 to 32767, not 0".to_string();
            errors.push(xml::error(file, root, msg));
            -1
        }
    };
    let mut p = Policy {
        at: xml::pos(file, root),
        target,
        priority,
        ingress: Vec::new(),
        egress: Vec::new(),
        body: zone::empty(name),
    };
    for el in xml::elements(root) {
        let read = match el.tag_name().name() {
            "ingress-zone" => named(file, el).map(|n| p.ingress.push(n)),
            "egress-zone" => named(file, el).map(|n| p.egress.push(n)),
            _ => zone::read_element(file, el, &mut p.body),
        };
        if let Err(e) = read {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(p)
    } else {
        Err(errors)
    }
}

fn named(file: &str, el: roxmltree::Node<'_, '_>) -> Result<Named, XmlError> {
    Ok(Named {
        value: xml::attr(file, el, "name")?.to_string(),
        at: xml::pos(file, el),
    })
}

impl Policy {
    /// Why the policy is not host input before the zones, or `None` when it is.
    pub fn not_input(&self) -> Option<String> {
        let only = |list: &[Named], zone: &str| list.len() == 1 && list[0].value == zone;
        let names = |list: &[Named]| {
            let v: Vec<&str> = list.iter().map(|n| n.value.as_str()).collect();
            v.join(", ")
        };
        let (from, to) = (names(&self.ingress), names(&self.egress));
        if !only(&self.egress, "HOST") {
            return Some(format!(
                "a policy from {from} to {to}: traffic not to the host (forwarded or the \
                 host's own output), which the imported input policy does not hold"
            ));
        }
        if !only(&self.ingress, "ANY") {
            return Some(format!(
                "a policy from {from} to HOST: only a policy from ANY to HOST is imported"
            ));
        }
        (self.priority > 0).then(|| {
            format!(
                "a policy from ANY to HOST with priority {} (after the zones, which decide \
                 first): not imported",
                self.priority
            )
        })
    }

    /// The policy as one listed item: it is not imported.
    pub fn skipped(&self, why: String) -> Skipped {
        Skipped {
            at: self.at.clone(),
            what: format!("policy {}", self.body.name),
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::import::convert::{Config, File, firewalld};

    fn file(dir: &str, name: &str, text: &str) -> File {
        File {
            name: name.into(),
            path: format!("{dir}/{name}.xml"),
            text: text.into(),
        }
    }

    fn import(policies: &[(&str, &str)]) -> crate::import::Imported {
        let cfg = Config {
            zones: vec![file(
                "zones",
                "public",
                "<zone><service name=\"ssh\"/></zone>\n",
            )],
            stock_services: vec![file(
                "services",
                "ssh",
                "<service><port protocol=\"tcp\" port=\"22\"/></service>",
            )],
            policies: (policies.iter())
                .map(|(n, t)| file("policies", n, t))
                .collect(),
            ..Config::default()
        };
        firewalld(&cfg).unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// A policy from ANY to HOST before the zones is input: its rules (an ICMP type rule
    /// as well) come first, in priority order, and its target decides what is left.
    #[test]
    fn an_any_to_host_policy_is_input_before_the_zones_issue13() {
        let early = "<policy target=\"DROP\" priority=\"-20\">\n<ingress-zone name=\"ANY\"/>\n\
            <egress-zone name=\"HOST\"/>\n<port port=\"5001\" protocol=\"udp\"/>\n\
            <rule family=\"ipv4\"><source address=\"192.0.2.0/24\"/><icmp-type name=\"echo-request\"/><accept/></rule>\n</policy>\n";
        let earlier = "<policy priority=\"-30\"><ingress-zone name=\"ANY\"/><egress-zone name=\"HOST\"/>\
            <rule><destination address=\"2001:db8::7\"/><port port=\"6001\" protocol=\"tcp\"/><reject/></rule></policy>";
        let out = import(&[("early", early), ("earlier", earlier)]);
        let p = &out.policy;
        let at = |l: &str| p.find(l).unwrap_or_else(|| panic!("{l:?} not in\n{p}"));
        let lines = [
            "    reject tcp 6001 to 2001:db8::7/128  # rich rule\n",
            "    allow udp 5001\n",
            "    allow icmp echo-request from 192.0.2.0/24  # rich rule\n",
            "    drop from 0.0.0.0/0, ::/0  # the policy's target\n",
            "    # zone public",
        ];
        let places: Vec<usize> = lines.iter().map(|l| at(l)).collect();
        assert!(places.windows(2).all(|w| w[0] < w[1]), "{p}");
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    }

    /// Forward, egress, zone-to-HOST and after-the-zones policies are listed at the
    /// policy's place; one with no zones is a note.
    #[test]
    fn other_policies_are_listed_at_their_place_issue13() {
        let fwd = "<policy target=\"ACCEPT\">\n<ingress-zone name=\"internal\"/>\n<egress-zone name=\"external\"/>\n</policy>\n";
        let out = "<?xml version=\"1.0\"?>\n<policy target=\"REJECT\"><ingress-zone name=\"HOST\"/><egress-zone name=\"ANY\"/></policy>\n";
        let zoned = "<policy><ingress-zone name=\"public\"/><egress-zone name=\"HOST\"/><service name=\"ssh\"/></policy>";
        let late = "<policy priority=\"5\"><ingress-zone name=\"ANY\"/><egress-zone name=\"HOST\"/><port port=\"1\" protocol=\"tcp\"/></policy>";
        let idle = "<policy><port port=\"2\" protocol=\"tcp\"/></policy>";
        let o = import(&[
            ("fwd", fwd),
            ("out", out),
            ("zoned", zoned),
            ("late", late),
            ("idle", idle),
        ]);
        let listed: Vec<String> = (o.skipped.iter())
            .map(|s| format!("{}: {}: {}", s.at, s.what, s.why))
            .collect();
        let all = listed.join("\n");
        for want in [
            "policies/fwd.xml:1:1: policy fwd: a policy from internal to external",
            "policies/out.xml:2:1: policy out: a policy from HOST to ANY",
            "policies/zoned.xml:1:1: policy zoned: a policy from public to HOST",
            "policies/late.xml:1:1: policy late: a policy from ANY to HOST with priority 5",
        ] {
            assert!(all.contains(want), "{want}\n{all}");
        }
        assert_eq!(listed.len(), 4, "{all}");
        assert!(format!("{:?}", o.forwarding).contains("policy idle"));
        assert!(!o.policy.contains("tcp 1\n") && !o.policy.contains("tcp 2\n"));
    }

    #[test]
    fn a_malformed_policy_is_an_error_at_its_place() {
        let cfg = Config {
            policies: vec![
                file("policies", "a", "<policy target=\"MAYBE\" priority=\"0\"/>"),
                file("policies", "b", "<zone/>"),
            ],
            ..Config::default()
        };
        let e = firewalld(&cfg).expect_err("malformed");
        let all: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all[0].contains("policies/a.xml:1:1") && all[0].contains("MAYBE"));
        assert!(all[2].contains("expected <policy>"), "{all:?}");
    }
}
