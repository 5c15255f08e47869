//! The site file (TOML): per-host values one policy text uses across a fleet.
//!
//! ```toml
//! table = "hostwall"
//! log_prefix = "hostwall: "
//! priority = 0
//! [networks]
//! mgmt = ["10.0.0.0/24", "fd00:10::/64"]
//! [interfaces]
//! uplink = "eno1"
//! guests = ["virbr0", "virbr1"]
//! ```
//! Unknown keys are errors. Every entry is checked on its own, so one run reports every
//! mistake in the file; good entries are kept, and a name whose value was invalid is still
//! known (the policy's uses of it are not reported again). Names are resolved by the checker.

mod tree;

use super::validate;
use crate::diag::Diagnostic;
use crate::keywords::{NFT_KEYWORDS, is_bare_name};
use crate::model::{IfName, Nets, Settings};
use crate::source::{FileId, SourceMap, Span};
use std::ops::Range;
use tree::{Key, Node, Value};

/// `E0501`: the site file is not valid TOML, or a value has the wrong type.
pub const SITE_SYNTAX: &str = "E0501";
/// `E0502`: a key the site file does not know (`tabel = "x"`), with "did you mean".
pub const SITE_UNKNOWN_KEY: &str = "E0502";
/// `E0503`: a site value out of range (`table = "has space"`, `priority = 9999999999`,
/// `guests = []`), or a name a policy cannot refer to.
pub const SITE_BAD_VALUE: &str = "E0503";

const KEYS: &[&str] = &["table", "log_prefix", "priority", "networks", "interfaces"];

const SHAPE_HELP: &str = "the site file holds `table`, `log_prefix`, `priority`, `[networks]` \
     (name = [\"cidr\", ...]) and `[interfaces]` (name = \"eno1\" or a list)";

/// A `[networks]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteNetwork {
    pub name: String,
    /// The key in the site file.
    pub span: Span,
    /// `None` when the value had errors (reported on the site file): the name is defined, but
    /// rules using it are not compiled.
    pub nets: Option<Nets>,
}

/// An `[interfaces]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteInterface {
    pub name: String,
    pub span: Span,
    /// `None` when the value had errors (reported), as for [`SiteNetwork::nets`].
    pub ifaces: Option<Vec<IfName>>,
}

/// The validated site file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Site {
    pub settings: Settings,
    /// Whether `log_prefix` was given (the policy's `prefix` wins over it, it wins over the default).
    pub log_prefix_set: bool,
    pub networks: Vec<SiteNetwork>,
    pub interfaces: Vec<SiteInterface>,
}

/// Parses and validates the site file; every problem is a diagnostic on the site file.
pub fn parse(map: &SourceMap, file: FileId) -> (Site, Vec<Diagnostic>) {
    let text = &map.file(file).text;
    let mut p = Parser {
        file,
        site: Site::default(),
        diags: Vec::new(),
    };
    match toml::from_str::<Value>(text) {
        Ok(Value::Table(entries)) => {
            for (key, node) in &entries {
                p.entry(key, node);
            }
        }
        Ok(_) => p.diags.push(
            Diagnostic::error(SITE_SYNTAX, Span::new(file, 0..0), "invalid site file")
                .with_label("not a TOML table")
                .with_help(SHAPE_HELP),
        ),
        Err(e) => p.diags.push(toml_error(file, text, &e)),
    }
    (p.site, p.diags)
}

struct Parser {
    file: FileId,
    site: Site,
    diags: Vec<Diagnostic>,
}

impl Parser {
    fn span(&self, r: &Range<usize>) -> Span {
        Span::new(self.file, r.clone())
    }

    fn entry(&mut self, key: &Key, node: &Node) {
        match key.name.as_str() {
            "table" => self.table(key, node),
            "log_prefix" => self.log_prefix(key, node),
            "priority" => self.priority(key, node),
            "networks" => {
                for (k, v) in self.section(key, node) {
                    self.network(k, v);
                }
            }
            "interfaces" => {
                for (k, v) in self.section(key, node) {
                    self.interface(k, v);
                }
            }
            other => {
                let d = Diagnostic::error(
                    SITE_UNKNOWN_KEY,
                    self.span(&key.span),
                    format!("unknown site key `{other}`"),
                )
                .with_label("not a site setting");
                self.diags
                    .push(match validate::did_you_mean(other, KEYS.iter().copied()) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!("known keys: {}", KEYS.join(", "))),
                    });
            }
        }
    }

    /// A value of the wrong type: reported, and the entry is skipped.
    fn wrong_type(&mut self, key: &Key, node: &Node, want: &str) {
        self.diags.push(
            Diagnostic::error(
                SITE_SYNTAX,
                self.span(&node.span),
                format!("invalid site file: `{}` must be {want}", key.name),
            )
            .with_label(format!("{} here", node.value.kind()))
            .with_help(SHAPE_HELP),
        );
    }

    fn bad_value(&mut self, at: &Range<usize>, msg: &str, label: &str, help: &str) {
        let d = Diagnostic::error(SITE_BAD_VALUE, self.span(at), msg.to_string())
            .with_label(label.to_string())
            .with_help(help.to_string());
        self.diags.push(d);
    }

    fn table(&mut self, key: &Key, node: &Node) {
        let Value::Str(t) = &node.value else {
            return self.wrong_type(key, node, "a string");
        };
        if t.len() <= 64 && is_bare_name(t) {
            self.site.settings.table = t.clone();
        } else {
            let label = if t.len() > 64 {
                "longer than 64 bytes"
            } else if NFT_KEYWORDS.contains(&t.as_str()) {
                "an nft keyword: nft cannot read it as a table name"
            } else {
                "not a name nft can read"
            };
            self.bad_value(
                &node.span,
                "invalid table name",
                label,
                "start with a letter; use letters, digits, `_` or `-`; at most 64 bytes; not an \
                 nft keyword like `drop`, `counter` or `ip`",
            );
        }
    }

    fn log_prefix(&mut self, key: &Key, node: &Node) {
        let Value::Str(p) = &node.value else {
            return self.wrong_type(key, node, "a string");
        };
        match validate::log_prefix(p, self.span(&node.span)) {
            Ok(()) => {
                self.site.settings.log_prefix = p.clone();
                self.site.log_prefix_set = true;
            }
            Err(d) => self.diags.push(d),
        }
    }

    fn priority(&mut self, key: &Key, node: &Node) {
        let Value::Int(p) = &node.value else {
            return self.wrong_type(key, node, "an integer");
        };
        match i32::try_from(*p) {
            Ok(v) if (-400..=400).contains(&v) => self.site.settings.priority = v,
            _ => self.bad_value(
                &node.span,
                "priority out of range",
                "not between -400 and 400",
                "0 is nft's `filter` priority; stay near it",
            ),
        }
    }

    /// The entries of `[networks]`/`[interfaces]`; empty (after an error) when not a table.
    fn section<'n>(&mut self, key: &Key, node: &'n Node) -> &'n [(Key, Node)] {
        match &node.value {
            Value::Table(entries) => entries,
            _ => {
                self.wrong_type(key, node, "a table of names");
                &[]
            }
        }
    }

    /// Whether a `[networks]`/`[interfaces]` key can be written in a policy.
    fn usable_name(&mut self, key: &Key, what: &str) -> bool {
        let n = &key.name;
        let grammar = n
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !grammar {
            self.bad_value(
                &key.span,
                &format!("invalid {what} name `{n}`"),
                "a policy cannot refer to this name",
                "start with a letter or `_`; use letters, digits, `_` or `-`",
            );
            return false;
        }
        match validate::name_length(n, self.span(&key.span), what) {
            Ok(()) => true,
            Err(d) => {
                self.diags.push(d);
                false
            }
        }
    }

    fn network(&mut self, key: &Key, node: &Node) {
        if !self.usable_name(key, "network") {
            return;
        }
        let nets = match &node.value {
            Value::Array(items) if items.is_empty() => {
                self.empty_list(node, "network", "[\"192.0.2.0/24\"]");
                None
            }
            Value::Array(items) => self.cidrs(key, items),
            _ => {
                self.wrong_type(key, node, "a list of addresses");
                None
            }
        };
        let span = self.span(&key.span);
        self.site.networks.push(SiteNetwork {
            name: key.name.clone(),
            span,
            nets,
        });
    }

    /// Every item of a network list; `None` when any was bad (all reported).
    fn cidrs(&mut self, key: &Key, items: &[Node]) -> Option<Nets> {
        let mut nets = Nets::default();
        let mut ok = true;
        for item in items {
            let Value::Str(text) = &item.value else {
                self.wrong_type(key, item, "a list of address strings");
                ok = false;
                continue;
            };
            match validate::net(text, self.span(&item.span)) {
                Ok(n) => nets.push(n),
                Err(d) => {
                    self.diags.push(d);
                    ok = false;
                }
            }
        }
        ok.then_some(nets)
    }

    fn interface(&mut self, key: &Key, node: &Node) {
        if !self.usable_name(key, "interface") {
            return;
        }
        let one = std::slice::from_ref(node);
        let items = match &node.value {
            Value::Str(_) => one,
            Value::Array(items) if items.is_empty() => {
                self.empty_list(node, "interface", "[\"virbr0\"]");
                &[]
            }
            Value::Array(items) => items.as_slice(),
            _ => {
                self.wrong_type(key, node, "an interface name or a list of them");
                &[]
            }
        };
        let mut ifaces = Vec::with_capacity(items.len());
        for item in items {
            let Value::Str(text) = &item.value else {
                self.wrong_type(key, item, "a list of interface name strings");
                continue;
            };
            match validate::iface(text, self.span(&item.span)) {
                Ok(i) => ifaces.push(i),
                Err(d) => self.diags.push(d),
            }
        }
        let ok = !items.is_empty() && ifaces.len() == items.len();
        let span = self.span(&key.span);
        self.site.interfaces.push(SiteInterface {
            name: key.name.clone(),
            span,
            ifaces: ok.then_some(ifaces),
        });
    }

    /// An empty list would make `from NAME`/`on NAME` match nothing (or, dropped, everything).
    fn empty_list(&mut self, node: &Node, what: &str, example: &str) {
        self.bad_value(
            &node.span,
            &format!("empty {what} list"),
            "a rule using this name could match nothing",
            &format!(
                "list at least one {what}, like {example}, or remove the name and the rules \
                 that use it"
            ),
        );
    }
}

/// A TOML syntax error as a diagnostic.
fn toml_error(file: FileId, text: &str, e: &toml::de::Error) -> Diagnostic {
    let range = e.span().unwrap_or(0..0);
    let range = range.start.min(text.len())..range.end.min(text.len());
    let span = Span::new(file, range);
    let msg = e.message().trim();
    let first = msg.lines().next().unwrap_or("invalid TOML");
    Diagnostic::error(SITE_SYNTAX, span, format!("invalid site file: {first}"))
        .with_label("here")
        .with_help(SHAPE_HELP)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(text: &str) -> (Site, Vec<Diagnostic>) {
        let mut m = SourceMap::new();
        let f = m.add("site.toml", text);
        parse(&m, f)
    }

    #[test]
    fn reads_networks_interfaces_and_settings() {
        let (s, d) = site(
            "table = \"fw\"\npriority = -5\n[networks]\nmgmt = [\"10.0.0.0/24\"]\n\
             [interfaces]\nuplink = \"eno1\"\nguests = [\"virbr*\", \"br0\"]\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(s.settings.table, "fw");
        assert_eq!(s.settings.priority, -5);
        assert_eq!(s.networks[0].name, "mgmt");
        assert_eq!(s.networks[0].span.range(), 38..42);
        assert_eq!(s.interfaces.len(), 2);
    }

    #[test]
    fn every_entry_is_checked_and_good_ones_kept() {
        let (s, d) = site(
            "tabel = \"x\"\ntable = \"my-fw\"\npriority = \"high\"\n[networks]\nbad = []\n\
             good = [\"192.0.2.0/24\"]\n\"no good\" = [\"10.0.0.0/8\"]\n[interfaces]\n\
             wild = \"*\"\nup = \"eno1\"\nnone = []\n",
        );
        let codes: Vec<&str> = d.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                SITE_UNKNOWN_KEY,
                SITE_SYNTAX,
                SITE_BAD_VALUE,
                SITE_BAD_VALUE,
                validate::BAD_IFACE,
                SITE_BAD_VALUE
            ]
        );
        assert_eq!(s.settings.table, "my-fw");
        let nets: Vec<_> = s
            .networks
            .iter()
            .map(|n| (n.name.as_str(), n.nets.is_some()))
            .collect();
        assert_eq!(nets, [("bad", false), ("good", true)]);
        let ifs: Vec<_> = s
            .interfaces
            .iter()
            .map(|i| (i.name.as_str(), i.ifaces.is_some()))
            .collect();
        assert_eq!(ifs, [("wild", false), ("up", true), ("none", false)]);
    }

    #[test]
    fn unknown_key_suggests_the_right_one() {
        let (_, d) = site("tabel = \"x\"\n");
        assert_eq!(d[0].code, SITE_UNKNOWN_KEY);
        assert_eq!(d[0].help.as_deref(), Some("did you mean `table`?"));
        assert_eq!(d[0].span.range(), 0..5);
    }
}
