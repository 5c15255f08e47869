//! A firewalld rich rule (`<rule>` in a zone): the common subset hostwall expresses (a
//! family, a source and a destination address, a service, a port or an ICMP type, log, and accept, reject or drop), and
//! the reason a rule outside it is not imported.

use super::service::{self, PortItem};
use super::xml::{self, Pos, XmlError};

/// What a rich rule does with what it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    Drop,
}

/// What a rich rule matches beyond its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Service(String),
    Port(PortItem),
    /// An `<icmp-type name=…>` (firewalld's type name).
    Icmp(String),
    /// Everything (from its source, of its family).
    All,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rich {
    pub at: Pos,
    /// The rule as written, on one line.
    pub text: String,
    /// `ipv4` / `ipv6`, when the rule names one.
    pub family: Option<String>,
    pub source: Option<String>,
    /// The rule's `<destination address=…>` (the host's address it was sent to).
    pub destination: Option<String>,
    pub matches: Match,
    pub action: Option<Action>,
    /// The rule's `log` clause in hostwall's words (`log prefix "…" level info limit
    /// 3/minute`), when it logs what it matches.
    pub log: Option<String>,
    /// Why the rule cannot be imported at all (empty: it can).
    pub unsupported: Vec<String>,
    /// What the imported rule leaves out (its action is kept): a chosen reject type, a log.
    pub approximate: Vec<String>,
}

/// Reads one `<rule>`; only malformed XML content is an error, an unsupported part is
/// recorded in `unsupported`.
pub fn parse(file: &str, el: roxmltree::Node<'_, '_>) -> Result<Rich, XmlError> {
    let mut r = Rich {
        at: xml::pos(file, el),
        text: super::zone::element_text(el),
        family: el.attribute("family").map(str::to_string),
        source: None,
        destination: None,
        matches: Match::All,
        action: None,
        log: None,
        unsupported: Vec::new(),
        approximate: Vec::new(),
    };
    if el.attribute("priority").is_some_and(|p| p.trim() != "0") {
        r.unsupported
            .push("a rule priority (hostwall's order is the file's)".into());
    }
    for c in xml::elements(el) {
        read_part(file, c, &mut r)?;
    }
    if r.action.is_none() && !r.unsupported.iter().any(|u| u.contains("NAT")) {
        r.unsupported
            .push("no accept, reject or drop (a log-only rule)".into());
    }
    Ok(r)
}

fn read_part(file: &str, c: roxmltree::Node<'_, '_>, r: &mut Rich) -> Result<(), XmlError> {
    let unsupported = |r: &mut Rich, what: &str| r.unsupported.push(what.to_string());
    match c.tag_name().name() {
        "source" => match c.attribute("address") {
            Some(_) if inverted(c) => unsupported(r, "an inverted source (`not`)"),
            Some(a) => r.source = Some(a.to_string()),
            None => unsupported(r, "a source by MAC address or ipset"),
        },
        "destination" => match c.attribute("address") {
            Some(_) if inverted(c) => unsupported(r, "an inverted destination (`not`)"),
            Some(a) => r.destination = Some(a.to_string()),
            None => unsupported(r, "a destination by ipset"),
        },
        "service" => r.matches = Match::Service(xml::attr(file, c, "name")?.to_string()),
        "port" => r.matches = Match::Port(service::port_item(file, c)?),
        "log" => r.log = Some(log_clause(c, &mut r.approximate)),
        "audit" => r.approximate.push(
            "its <audit>: hostwall logs to the kernel log or NFLOG, not the audit log (the \
             action is imported)"
                .into(),
        ),
        "accept" | "reject" | "drop" => {
            if xml::elements(c).any(|l| l.tag_name().name() == "limit") {
                unsupported(r, "a rate limit on the action (hostwall has none)");
            }
            if let Some(t) = c
                .attribute("type")
                .filter(|_| c.tag_name().name() == "reject")
            {
                r.approximate.push(format!(
                    "its reject type `{t}`: hostwall rejects with a TCP reset or ICMP \
                     admin-prohibited"
                ));
            }
            r.action = Some(match c.tag_name().name() {
                "accept" => Action::Accept,
                "reject" => Action::Reject,
                _ => Action::Drop,
            });
        }
        "mark" => unsupported(r, "a packet mark"),
        "masquerade" => unsupported(r, "masquerading (NAT)"),
        "forward-port" => unsupported(r, "port forwarding (NAT)"),
        "source-port" => unsupported(r, "a source port"),
        "protocol" => unsupported(r, "a protocol match"),
        "icmp-type" => r.matches = Match::Icmp(xml::attr(file, c, "name")?.to_string()),
        "icmp-block" => unsupported(r, "an ICMP block in a rule"),
        "tcp-mss-clamp" => unsupported(r, "TCP MSS clamping"),
        other => unsupported(r, &format!("<{other}>")),
    }
    Ok(())
}

/// `invert="True"` (firewalld reads it case-insensitively, as `true`/`yes`).
fn inverted(c: roxmltree::Node<'_, '_>) -> bool {
    c.attribute("invert")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "yes"))
}

/// A `<log prefix=".." level=".."><limit value="N/u"/></log>` as hostwall's `log` clause;
/// a prefix or level hostwall cannot say is left out and recorded in `approximate`.
fn log_clause(c: roxmltree::Node<'_, '_>, approximate: &mut Vec<String>) -> String {
    let mut clause = String::from("log");
    if let Some(limit) = xml::elements(c).find(|l| l.tag_name().name() == "limit") {
        match limit.attribute("value").and_then(rate) {
            Some(r) => clause.push_str(&format!(" limit {r}")),
            None => approximate.push("its log's <limit> (not N/s, m, h or d)".into()),
        }
    }
    if let Some(p) = c.attribute("prefix") {
        let sayable = p.len() <= 127
            && !p
                .chars()
                .any(|ch| matches!(ch, '"' | '\\' | '$') || ch.is_control());
        match sayable {
            true => clause.push_str(&format!(" prefix \"{p}\"")),
            false => approximate.push(format!("its log prefix {p:?} (hostwall's prefixes are at most 127 bytes, without `\"`, `\\`, `$` or control characters)")),
        }
    }
    if let Some(l) = c.attribute("level") {
        let level = match l {
            "error" => Some("err"),
            "warning" => Some("warn"),
            "emerg" | "alert" | "crit" | "notice" | "info" | "debug" => Some(l),
            _ => None,
        };
        match level {
            Some(level) => clause.push_str(&format!(" level {level}")),
            None => approximate.push(format!("its log level `{l}`")),
        }
    }
    clause
}

/// firewalld's `N/s|m|h|d` as hostwall's `N/second|minute|hour|day`.
fn rate(v: &str) -> Option<String> {
    let (n, unit) = v.trim().split_once('/')?;
    let n: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
    let unit = match unit.trim() {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        _ => return None,
    };
    Some(format!("{n}/{unit}"))
}
