//! firewalld's active zones → one hostwall policy. Zones are tried as firewalld dispatches
//! them (source zones, then interface zones, then the default zone), each as a run of
//! rules scoped by `from` or `on` and closed by its target, so the first match decides as
//! in firewalld; inside a zone, blocks come before allows. Whatever has no hostwall form is
//! returned as [`Skipped`], never dropped silently.

use super::conf;
use super::dispatch;
use super::policy::{self, Policy, PolicyTarget};
use super::service::{self, Service};
use super::write::Writer;
use super::xml::{Pos, XmlError};
use super::zone::{self, Skipped, Zone};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};

/// One input file: its name (zone or service), path and text.
#[derive(Clone, Debug)]
pub struct File {
    pub name: String,
    pub path: String,
    pub text: String,
}

/// firewalld's configuration as read: zones and services with the configuration
/// directory's files already preferred over the defaults.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `firewalld.conf`, if there is one.
    pub conf: Option<File>,
    pub zones: Vec<File>,
    /// Services of the default directory (firewalld's own).
    pub stock_services: Vec<File>,
    /// Services of the configuration directory (the admin's).
    pub custom_services: Vec<File>,
    /// Policies (`policies/*.xml`, firewalld ≥ 0.9), the admin's over firewalld's.
    pub policies: Vec<File>,
}

/// The policy text and everything it leaves out.
#[derive(Debug)]
pub struct Imported {
    pub policy: String,
    /// What the policy does not express of the host's input (the exit code says so).
    pub skipped: Vec<Skipped>,
    /// What concerns forwarded traffic, which the import leaves out by design, and
    /// policies firewalld applies to nothing (no ingress or egress zone).
    pub forwarding: Vec<Skipped>,
    pub default_zone: String,
}

/// How far `<include>`s are followed.
const MAX_INCLUDE_DEPTH: usize = 8;

/// Converts the active zones of `cfg` into a policy; every XML problem of the files it
/// reads at once.
pub fn firewalld(cfg: &Config) -> Result<Imported, Vec<XmlError>> {
    let mut errors = Vec::new();
    let mut zones = Vec::new();
    for f in &cfg.zones {
        match zone::parse(&f.path, &f.name, &f.text) {
            Ok(z) => zones.push(z),
            Err(e) => errors.extend(e),
        }
    }
    let mut policies = Vec::new();
    for f in &cfg.policies {
        match policy::parse(&f.path, &f.name, &f.text) {
            Ok(p) => policies.push(p),
            Err(e) => errors.extend(e),
        }
    }
    let services = Services::read(cfg, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = Writer::new(services);
    let mut forwarding = Vec::new();
    input_policies(&mut out, &mut forwarding, &mut policies);
    let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
    let default_zone = default_zone(cfg, &names, &mut out.skipped);
    let active: Vec<&Zone> = (zones.iter())
        .filter(|z| z.name == default_zone || !z.interfaces.is_empty() || !z.sources.is_empty())
        .collect();
    for z in &active {
        out.skipped.extend(z.skipped.iter().cloned());
        forwarding.extend(z.forwarding.iter().cloned());
        let nets = out.sources(z);
        if !nets.is_empty() {
            out.zone(z, &Scope::From(nets));
        }
    }
    for (z, i) in dispatch::interfaces(&active, &default_zone) {
        match dispatch::iface_name(&i.value) {
            Some(name) => out.zone(z, &Scope::On(name)),
            None => out.skipped.push(Skipped {
                at: i.at.clone(),
                what: format!("interface {} of zone {}", i.value, z.name),
                why: "every interface: not imported (a policy's `on` names interfaces)".into(),
            }),
        }
    }
    if let Some(z) = active.iter().find(|z| z.name == default_zone) {
        out.zone(z, &Scope::Anywhere);
    } else {
        out.lines.push("    default reject".into());
    }
    let mut skipped = std::mem::take(&mut out.skipped);
    // A zone applied in several scopes reports each of its gaps once.
    let mut seen = BTreeSet::new();
    skipped.retain(|s| seen.insert((s.at.file.clone(), s.at.line, s.at.col, s.why.clone())));
    Ok(Imported {
        policy: out.finish(cfg, &default_zone, &active),
        skipped,
        forwarding,
        default_zone,
    })
}

/// The policies from ANY to HOST that run before the zones, in firewalld's order (by
/// priority, then name): each one's rules, then its target unless `CONTINUE`. Every other
/// policy is listed.
fn input_policies(out: &mut Writer, forwarding: &mut Vec<Skipped>, policies: &mut [Policy]) {
    policies.sort_by(|a, b| (a.priority, &a.body.name).cmp(&(b.priority, &b.body.name)));
    for p in policies.iter() {
        if p.ingress.is_empty() || p.egress.is_empty() {
            let why = "no ingress or egress zone: firewalld applies it to nothing".to_string();
            forwarding.push(p.skipped(why));
            continue;
        }
        if let Some(why) = p.not_input() {
            out.skipped.push(p.skipped(why));
            continue;
        }
        out.skipped.extend(p.body.skipped.iter().cloned());
        forwarding.extend(p.body.forwarding.iter().cloned());
        let name = &p.body.name;
        let priority = p.priority;
        (out.lines).push(format!(
            "    # policy {name}: ANY to HOST, priority {priority}"
        ));
        out.body(&p.body, &Scope::Anywhere);
        let verdict = match p.target {
            PolicyTarget::Continue => continue,
            PolicyTarget::Accept => "allow",
            PolicyTarget::Drop => "drop",
            PolicyTarget::Reject => "reject",
        };
        out.everything(verdict, "the policy's target");
    }
}

fn conf_path(cfg: &Config) -> String {
    cfg.conf
        .as_ref()
        .map_or_else(|| "firewalld.conf".into(), |c| c.path.clone())
}

/// The default zone firewalld uses: `firewalld.conf`'s `DefaultZone` as firewalld reads
/// it, or its fallback when that names no zone (listed: the admin's setting is not what
/// applies). With no fallback zone either, the name stays and no zone is the default.
fn default_zone(cfg: &Config, zones: &[&str], skipped: &mut Vec<Skipped>) -> String {
    let set = (cfg.conf.as_ref()).and_then(|c| conf::value(&c.text, "DefaultZone"));
    let configured = set
        .as_ref()
        .map_or(conf::FALLBACK_ZONE, |s| s.value.as_str());
    let effective = conf::effective_default(configured, zones);
    if effective != Some(configured) {
        let (line, col) = set.as_ref().map_or((1, 1), |s| (s.line, s.col));
        let why = match effective {
            Some(z) => {
                format!("no such zone: firewalld uses zone `{z}` instead, as the policy does")
            }
            None => "no such zone: everything not in another zone is rejected".to_string(),
        };
        skipped.push(Skipped {
            at: Pos {
                file: conf_path(cfg),
                line,
                col,
            },
            what: format!("DefaultZone={configured}"),
            why,
        });
    }
    effective.unwrap_or(configured).to_string()
}

/// Which packets a zone's rules apply to.
pub(super) enum Scope {
    From(Vec<IpNet>),
    On(String),
    Anywhere,
}

/// The services by name (the admin's over firewalld's), parsed on first use.
pub(super) struct Services {
    /// Name → the service and its file.
    by_name: BTreeMap<String, (Service, String)>,
}

impl Services {
    pub(super) fn read(cfg: &Config, errors: &mut Vec<XmlError>) -> Services {
        let mut by_name = BTreeMap::new();
        let lists = [(&cfg.stock_services, false), (&cfg.custom_services, true)];
        for (list, custom) in lists {
            for f in list {
                match service::parse(&f.path, &f.name, &f.text) {
                    Ok(s) => {
                        by_name.insert(f.name.clone(), (s, f.path.clone()));
                    }
                    // A broken stock file matters only if a zone uses it (reported then).
                    Err(e) if custom => errors.extend(e),
                    Err(_) => {}
                }
            }
        }
        Services { by_name }
    }

    /// The file a service is defined in.
    pub(super) fn path(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(|(_, p)| p.as_str())
    }

    /// A service with its includes merged in; `Err` names what is missing.
    pub(super) fn resolved(&self, name: &str) -> Result<Service, String> {
        let mut out = Service {
            name: name.to_string(),
            ..Service::default()
        };
        let mut seen = BTreeSet::new();
        self.merge(name, &mut out, &mut seen, 0)?;
        Ok(out)
    }

    fn merge(
        &self,
        name: &str,
        out: &mut Service,
        seen: &mut BTreeSet<String>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_INCLUDE_DEPTH || !seen.insert(name.to_string()) {
            return Ok(());
        }
        let (s, _) = (self.by_name.get(name))
            .ok_or_else(|| format!("no service `{name}` (no services/{name}.xml)"))?;
        out.ports.extend(s.ports.iter().cloned());
        out.source_ports.extend(s.source_ports.iter().cloned());
        out.protocols.extend(s.protocols.iter().cloned());
        out.helpers.extend(s.helpers.iter().cloned());
        out.destinations.extend(s.destinations.iter().cloned());
        for i in &s.includes {
            self.merge(i, out, seen, depth + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> File {
        File {
            name: name.into(),
            path: format!("zones/{name}.xml"),
            text: text.into(),
        }
    }

    fn zones_with_conf(conf: &str) -> Config {
        let mut cfg = Config {
            conf: Some(File {
                name: "firewalld".into(),
                path: "firewalld.conf".into(),
                text: conf.into(),
            }),
            ..Config::default()
        };
        for (name, port) in [("public", 22), ("dmz", 80), ("block", 0)] {
            let body = if port == 0 {
                "<zone target=\"%%REJECT%%\"/>\n".to_string()
            } else {
                format!("<zone><port port=\"{port}\" protocol=\"tcp\"/></zone>\n")
            };
            cfg.zones.push(file(name, &body));
        }
        cfg
    }

    #[test]
    fn the_default_zone_comes_from_firewalld_conf() {
        let imported = firewalld(&zones_with_conf(
            "# DefaultZone=public\n DefaultZone = dmz\n",
        ))
        .expect("imports");
        assert_eq!(imported.default_zone, "dmz");
        assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
        assert!(
            imported.policy.contains("allow tcp 80\n"),
            "{}",
            imported.policy
        );
    }

    /// firewalld tries the interface applied last first, and `eth+` is a prefix match:
    /// eth7 is work's (port 2222 only), although trusted's `eth+` would take it were
    /// trusted tried first.
    #[test]
    fn interfaces_are_tried_in_firewalld_order_and_plus_is_a_wildcard_issue13() {
        let mut cfg = zones_with_conf("DefaultZone=public\n");
        cfg.zones.push(file(
            "trusted",
            "<zone target=\"ACCEPT\"><interface name=\"eth+\"/></zone>\n",
        ));
        cfg.zones.push(file(
            "work",
            "<zone><interface name=\"eth7\"/><port port=\"2222\" protocol=\"tcp\"/></zone>\n",
        ));
        let p = firewalld(&cfg).expect("imports").policy;
        let work = p.find("allow tcp 2222 on \"eth7\"").expect(&p);
        let trusted = p.find("allow on \"eth*\"").expect(&p);
        assert!(work < trusted, "{p}");
        assert!(!p.contains("eth+"), "{p}");
    }

    /// firewalld keeps the quotes of `DefaultZone="dmz"`, finds no such zone and falls
    /// back to `public`: so does the import, and it lists the setting at its line.
    #[test]
    fn a_default_zone_firewalld_cannot_use_falls_back_as_in_firewalld_issue13() {
        for (conf, at) in [
            ("DefaultZone=\"dmz\"\n", "firewalld.conf:1:13"),
            (
                "; a comment\nDefaultZone=dzm\nDefaultZone=dmz\n",
                "firewalld.conf:2:13",
            ),
        ] {
            let imported = firewalld(&zones_with_conf(conf)).expect("imports");
            assert_eq!(imported.default_zone, "public", "{conf}");
            assert!(
                imported.policy.contains("allow tcp 22\n"),
                "{}",
                imported.policy
            );
            assert!(!imported.policy.contains("tcp 80"), "{}", imported.policy);
            let s = &imported.skipped[0];
            assert_eq!(s.at.to_string(), at);
            assert!(s.why.contains("firewalld uses zone `public`"), "{}", s.why);
        }
        let mut cfg = zones_with_conf("DefaultZone=nope\n");
        cfg.zones.retain(|z| z.name == "block");
        assert_eq!(firewalld(&cfg).expect("imports").default_zone, "block");
    }

    /// A rich rule inside a source zone applies to the sources both name; one that names
    /// none of the zone's never matches, and says so instead of widening.
    #[test]
    fn rich_sources_are_intersected_with_the_zones() {
        let zone = "<zone target=\"DROP\">\n<source address=\"10.0.0.0/8\"/>\n\
            <rule family=\"ipv4\"><source address=\"10.1.0.0/16\"/><port port=\"80\" protocol=\"tcp\"/><accept/></rule>\n\
            <rule family=\"ipv4\"><source address=\"192.0.2.0/24\"/><port port=\"81\" protocol=\"tcp\"/><accept/></rule>\n\
            <rule family=\"ipv6\"><port port=\"82\" protocol=\"tcp\"/><accept/></rule>\n</zone>\n";
        let cfg = Config {
            zones: vec![file("mgmt", zone), file("public", "<zone/>")],
            ..Config::default()
        };
        let out = firewalld(&cfg).unwrap_or_else(|e| panic!("{e:?}"));
        let p = &out.policy;
        assert!(
            p.contains("    allow tcp 80 from 10.1.0.0/16  # rich rule\n"),
            "{p}"
        );
        assert!(
            p.contains("# never matches") && p.contains("allow tcp 81"),
            "{p}"
        );
        assert!(!p.contains("allow tcp 81 from"), "{p}");
        assert!(
            p.contains("    drop from 10.0.0.0/8  # the zone's target\n"),
            "{p}"
        );
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    }

    /// A rich rule's `<log>` becomes the rule's `log` clause (firewalld's level names and
    /// `N/m` rates in hostwall's words); what hostwall cannot say is listed, never dropped.
    #[test]
    fn a_rich_rules_log_becomes_the_rules_log_clause_issue13() {
        let zone = "<zone>\n\
            <rule><port port=\"22\" protocol=\"tcp\"/><log prefix=\"ssh: \" level=\"warning\"><limit value=\"3/m\"/></log><accept/></rule>\n\
            <rule><port port=\"81\" protocol=\"tcp\"/><log level=\"error\"/><drop/></rule>\n\
            <rule><port port=\"82\" protocol=\"tcp\"/><log prefix=\"a$b\" level=\"loud\"><limit value=\"3/week\"/></log><audit/><reject/></rule>\n\
            </zone>\n";
        let cfg = Config {
            zones: vec![file("public", zone)],
            ..Config::default()
        };
        let out = firewalld(&cfg).unwrap_or_else(|e| panic!("{e:?}"));
        let p = &out.policy;
        assert!(
            p.contains(
                "    allow tcp 22 log limit 3/minute prefix \"ssh: \" level warn  # rich rule\n"
            ),
            "{p}"
        );
        assert!(
            p.contains("    drop tcp 81 log level err  # rich rule\n"),
            "{p}"
        );
        assert!(p.contains("    reject tcp 82 log  # rich rule\n"), "{p}");
        let listed = format!("{:?}", out.skipped);
        for what in ["<limit>", "a$b", "level `loud`", "<audit>"] {
            assert!(listed.contains(what), "{what} not listed: {listed}");
        }
    }

    #[test]
    fn unsupported_blocks_say_they_are_missing() {
        let zone = "<zone>\n<rule><destination address=\"192.0.2.1\" invert=\"True\"/><service name=\"ssh\"/><drop/></rule>\n</zone>\n";
        let cfg = Config {
            zones: vec![file("public", zone)],
            ..Config::default()
        };
        let out = firewalld(&cfg).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(out.skipped.len(), 1);
        let s = &out.skipped[0];
        assert_eq!((s.at.line, s.at.col), (2, 1));
        assert!(
            s.why.contains("an inverted destination") && s.why.contains("block is missing"),
            "{}",
            s.why
        );
        assert!(!out.policy.contains("drop"), "{}", out.policy);
    }

    fn with_service(zone: &str, service: &str, body: &str) -> Imported {
        let cfg = Config {
            zones: vec![file("public", zone)],
            custom_services: vec![File {
                name: service.into(),
                path: format!("services/{service}.xml"),
                text: body.into(),
            }],
            ..Config::default()
        };
        firewalld(&cfg).unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// A rich rule's `<destination address>` becomes the rule's `to`, in the families its
    /// source and family leave; an inverted one (hostwall has no `not`) is listed.
    #[test]
    fn a_rich_rules_destination_becomes_to_issue13() {
        let zone = "<zone>\n\
            <rule family=\"ipv4\"><destination address=\"198.51.100.7\"/><port port=\"8443\" protocol=\"tcp\"/><accept/></rule>\n\
            <rule><source address=\"2001:db8::/48\"/><destination address=\"2001:db8:5::1\"/><drop/></rule>\n\
            <rule family=\"ipv6\"><destination address=\"203.0.113.0/24\"/><port port=\"7\" protocol=\"udp\"/><accept/></rule>\n\
            <rule><source address=\"10.9.0.0/16\"/><destination address=\"fd00::9\"/><port port=\"9\" protocol=\"tcp\"/><accept/></rule>\n\
            <rule><destination address=\"198.51.100.8\" invert=\"TRUE\"/><port port=\"10\" protocol=\"tcp\"/><accept/></rule>\n\
            <rule><source address=\"198.51.100.9\" invert=\"True\"/><port port=\"11\" protocol=\"tcp\"/><accept/></rule>\n\
            </zone>\n";
        let out = with_service(zone, "unused", "<service/>");
        let p = &out.policy;
        for line in [
            "    allow tcp 8443 to 198.51.100.7/32  # rich rule\n",
            "    drop from 2001:db8::/48 to 2001:db8:5::1/128  # rich rule\n",
        ] {
            assert!(p.contains(line), "{line:?} not in\n{p}");
        }
        assert_eq!(p.matches("# never matches").count(), 2, "{p}");
        for port in ["udp 7", "tcp 9"] {
            assert!(!p.contains(&format!("allow {port} ")), "{port}: {p}");
        }
        assert!(!p.contains("tcp 10") && !p.contains("tcp 11"), "{p}");
        let listed = format!("{:?}", out.skipped);
        assert!(listed.contains("an inverted destination"), "{listed}");
        assert!(listed.contains("an inverted source"), "{listed}");
        assert!(!listed.contains("a destination address"), "{listed}");
    }

    /// A service's `<destination ipv4= ipv6=>` is its rules' `to`: the service opens only
    /// those addresses, in only the families it names (dhcpv6-client: fe80::/64, IPv6).
    #[test]
    fn a_services_destination_becomes_to_per_family_issue13() {
        let svc = "<service><port port=\"5353\" protocol=\"udp\"/>\
            <destination ipv4=\"224.0.0.251\" ipv6=\"ff02::fb\"/></service>\n";
        let zone = "<zone>\n<service name=\"mcast\"/>\n\
            <rule family=\"ipv4\"><source address=\"192.0.2.0/24\"/><service name=\"mcast\"/><accept/></rule>\n\
            <rule family=\"ipv6\"><source address=\"192.0.2.0/24\"/><service name=\"mcast\"/><accept/></rule>\n\
            <rule><destination address=\"192.0.2.1\"/><service name=\"mcast\"/><accept/></rule>\n\
            </zone>\n";
        let out = with_service(zone, "mcast", svc);
        let p = &out.policy;
        for line in [
            "    allow mcast to 224.0.0.251/32, ff02::fb/128\n",
            "    allow mcast from 192.0.2.0/24 to 224.0.0.251/32\n",
            "# never matches",
        ] {
            assert!(p.contains(line), "{line:?} not in\n{p}");
        }
        assert_eq!(p.matches("\n    allow mcast").count(), 2, "{p}");
        let listed = format!("{:?}", out.skipped);
        assert!(listed.contains("both name a destination"), "{listed}");
        assert!(!listed.contains("imported wider"), "{listed}");
        let bad = "<service><port port=\"1\" protocol=\"udp\"/><destination ipv6=\"fe80::/zz\"/></service>";
        let out = with_service("<zone><service name=\"odd\"/></zone>", "odd", bad);
        assert!(!out.policy.contains("udp 1"), "{}", out.policy);
        assert!(format!("{:?}", out.skipped).contains("`fe80::/zz` is not an address"));
    }
}
