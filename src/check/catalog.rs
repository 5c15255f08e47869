//! The built-in service catalog: its entries (`data.rs`), the firewalld services it does not
//! carry (`firewalld.rs`), lookup by name or alias, and how entries are described in
//! diagnostics, `hostwall services` and docs/services.md (ICMP type names are
//! `ir::ICMP_TYPES`).

mod data;
mod firewalld;

use crate::model::Proto;
use std::collections::HashMap;
use std::sync::OnceLock;

/// (protocol, first port, last port) groups.
pub type Ports = &'static [(Proto, u16, u16)];

/// Where an entry's ports come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// firewalld's `services/NAME.xml`, the same ports.
    Firewalld(&'static str),
    /// firewalld has a service of this name with other ports; ours are kept, for this reason.
    Differs(&'static str, &'static str),
    /// The host-security guide: hostwall's own entry, no firewalld service of that name.
    Guide,
    /// A firewalld service file another project ships (file name, where).
    Upstream(&'static str, &'static str),
}

impl Reference {
    /// The firewalld service file name (without `.xml`) the entry is compared with, if any.
    pub fn firewalld_file(self) -> Option<&'static str> {
        match self {
            Reference::Firewalld(f) | Reference::Differs(f, _) | Reference::Upstream(f, _) => {
                Some(f)
            }
            Reference::Guide => None,
        }
    }

    /// `firewalld ssh.xml`, `host-security guide`, … as one line.
    pub fn text(self) -> String {
        match self {
            Reference::Firewalld(f) => format!("firewalld {f}.xml"),
            Reference::Differs(f, _) => format!("hostwall (firewalld's {f}.xml differs)"),
            Reference::Guide => "host-security guide".to_string(),
            Reference::Upstream(_, w) => w.to_string(),
        }
    }
}

/// A built-in service.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub ports: Ports,
    pub about: &'static str,
    pub reference: Reference,
    /// Other names that mean this entry.
    pub aliases: &'static [&'static str],
    /// What the entry leaves out of, or adds to, its reference ("" when nothing).
    pub note: &'static str,
}

impl Builtin {
    const fn new(
        name: &'static str,
        about: &'static str,
        reference: Reference,
        ports: Ports,
    ) -> Builtin {
        Builtin {
            name,
            ports,
            about,
            reference,
            aliases: &[],
            note: "",
        }
    }

    const fn aliases(self, aliases: &'static [&'static str]) -> Builtin {
        Builtin { aliases, ..self }
    }

    const fn note(self, note: &'static str) -> Builtin {
        Builtin { note, ..self }
    }

    /// Whether a policy's `service` may not reuse the name (`E0304`). The first fifteen
    /// entries and their aliases are fixed; a later entry's name may already be a policy's
    /// own service, which keeps its meaning in that policy (a warning says when its ports
    /// differ).
    pub fn fixed(&self) -> bool {
        CATALOG[..FIXED].iter().any(|b| b.name == self.name)
    }
}

/// How many entries (from the start) have names no policy may redefine.
const FIXED: usize = 15;

/// The catalog, in order (the first entry naming a port is the one `diff` suggests).
pub const CATALOG: &[Builtin] = data::CATALOG;

/// Names and aliases → entry.
fn by_name() -> &'static HashMap<&'static str, &'static Builtin> {
    static MAP: OnceLock<HashMap<&'static str, &'static Builtin>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = HashMap::new();
        for b in CATALOG {
            m.insert(b.name, b);
            for a in b.aliases {
                m.insert(*a, b);
            }
        }
        m
    })
}

/// Looks a built-in up by name or alias.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    by_name().get(name).copied()
}

/// Names and aliases of all built-ins, for "did you mean".
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    CATALOG
        .iter()
        .flat_map(|b| std::iter::once(b.name).chain(b.aliases.iter().copied()))
}

/// A firewalld service the catalog does not carry: its name and what it opens, as
/// `tcp 5432` or `udp 5355; destination 224.0.0.252, ff02::1:3` (from firewalld 1.3's
/// services directory).
pub fn firewalld_only(name: &str) -> Option<&'static str> {
    let list = firewalld::NOT_CARRIED;
    let at = list.binary_search_by(|(n, _)| (*n).cmp(name)).ok()?;
    Some(list[at].1)
}

/// Every firewalld service the catalog does not carry, sorted by name.
pub fn firewalld_only_all() -> &'static [(&'static str, &'static str)] {
    firewalld::NOT_CARRIED
}

/// The help of an unknown service name: a firewalld service we do not carry is said to be
/// one (with its ports, ready to define); else the closest known name (`suggestion`); else
/// the closest firewalld service we do not carry; else how to define it.
pub fn unknown_service_help(name: &str, suggestion: Option<&str>) -> String {
    if let Some(what) = firewalld_only(name) {
        return not_carried_help(name, what);
    }
    if let Some(s) = suggestion {
        return format!("did you mean `{s}`?");
    }
    if let Some(near) = not_carried_index().suggest(name) {
        let what = firewalld_only(near).unwrap_or_default();
        return format!(
            "did you mean firewalld's `{near}`? {}",
            not_carried_help(near, what)
        );
    }
    format!("define it: `service {name} tcp PORT`, or write the ports: `allow tcp PORT`")
}

fn not_carried_help(name: &str, what: &str) -> String {
    if definable(what) {
        format!(
            "`{name}` is a firewalld service ({what}) that hostwall's catalog does not carry; \
             define it: `service {name} {what}`"
        )
    } else {
        let ports = what.split(';').next().filter(|p| definable(p));
        let define = ports.map_or_else(
            || format!("`service {name} tcp PORT`"),
            |p| format!("`service {name} {p}` (its ports only)"),
        );
        format!(
            "`{name}` is a firewalld service ({what}) that hostwall's catalog does not carry; \
             define what you need: {define}"
        )
    }
}

/// Whether a firewalld summary is a port spec the policy language takes as written:
/// `tcp 80, 443 udp 443`, each protocol followed by ports.
fn definable(what: &str) -> bool {
    let mut want_port = false;
    let mut any = false;
    for word in what.split([' ', ',']).filter(|w| !w.is_empty()) {
        if matches!(word, "tcp" | "udp" | "sctp") && !want_port {
            want_port = true;
        } else if word.split('-').all(|n| n.parse::<u16>().is_ok()) && (want_port || any) {
            want_port = false;
            any = true;
        } else {
            return false;
        }
    }
    any && !want_port
}

fn not_carried_index() -> &'static super::suggest::NameIndex {
    static INDEX: OnceLock<super::suggest::NameIndex> = OnceLock::new();
    INDEX.get_or_init(|| super::suggest::NameIndex::new(firewalld::NOT_CARRIED.iter().map(|e| e.0)))
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

/// docs/services.md's catalog table: one row per entry, in catalog order.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| name | ports | reference | aliases | about | note |\n|---|---|---|---|---|---|\n",
    );
    for b in CATALOG {
        let note = match b.reference {
            Reference::Differs(_, why) if b.note.is_empty() => why,
            _ => b.note,
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            b.name,
            ports_text(b.ports),
            b.reference.text(),
            b.aliases
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", "),
            b.about,
            note.replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
