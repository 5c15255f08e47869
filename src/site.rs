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
//! Unknown keys are errors. Values are validated here; names are resolved by the checker.

use crate::check::validate;
use crate::diag::Diagnostic;
use crate::model::{IfName, Settings};
use crate::source::{FileId, SourceMap, Span};
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// `E0501`: the site file is not valid TOML, or a value has the wrong type.
pub const SITE_SYNTAX: &str = "E0501";
/// `E0502`: a key the site file does not know (`tabel = "x"`), with "did you mean".
pub const SITE_UNKNOWN_KEY: &str = "E0502";
/// `E0503`: a site value out of range (`table = "has space"`, `priority = 9999999999`).
pub const SITE_BAD_VALUE: &str = "E0503";

const KEYS: &[&str] = &["table", "log_prefix", "priority", "networks", "interfaces"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    table: Option<Spanned<String>>,
    log_prefix: Option<Spanned<String>>,
    priority: Option<Spanned<i64>>,
    #[serde(default)]
    networks: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    #[serde(default)]
    interfaces: BTreeMap<Spanned<String>, Spanned<IfaceValue>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IfaceValue {
    One(String),
    Many(Vec<String>),
}

/// A `[networks]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteNetwork {
    pub name: String,
    /// The key in the site file.
    pub span: Span,
    pub nets: Vec<IpNet>,
}

/// An `[interfaces]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteInterface {
    pub name: String,
    pub span: Span,
    pub ifaces: Vec<IfName>,
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
    let mut diags = Vec::new();
    let raw: Raw = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            diags.push(toml_error(file, text, &e));
            return (Site::default(), diags);
        }
    };
    let span = |r: std::ops::Range<usize>| Span::new(file, r);
    let mut site = Site::default();
    if let Some(t) = raw.table {
        let ok = t
            .get_ref()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && t.get_ref().len() <= 64
            && t.get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if ok {
            site.settings.table = t.get_ref().clone();
        } else {
            diags.push(
                Diagnostic::error(SITE_BAD_VALUE, span(t.span()), "invalid table name")
                    .with_label("not a usable nft table name")
                    .with_help("start with a letter; use letters, digits, `_` or `-`; at most 64"),
            );
        }
    }
    if let Some(p) = raw.log_prefix {
        if p.get_ref().len() > 127 || p.get_ref().contains('"') {
            diags.push(
                Diagnostic::error(SITE_BAD_VALUE, span(p.span()), "invalid log prefix")
                    .with_label("too long or contains `\"`")
                    .with_help("the kernel log prefix is at most 127 bytes"),
            );
        } else {
            site.settings.log_prefix = p.get_ref().clone();
            site.log_prefix_set = true;
        }
    }
    if let Some(p) = raw.priority {
        match i32::try_from(*p.get_ref()) {
            Ok(v) if (-400..=400).contains(&v) => site.settings.priority = v,
            _ => diags.push(
                Diagnostic::error(SITE_BAD_VALUE, span(p.span()), "priority out of range")
                    .with_label("not between -400 and 400")
                    .with_help("0 is nft's `filter` priority; stay near it"),
            ),
        }
    }
    for (name, items) in raw.networks {
        let mut nets = Vec::new();
        for item in items {
            match validate::cidr(item.get_ref(), span(item.span())) {
                Ok(n) => nets.push(n),
                Err(d) => diags.push(d),
            }
        }
        site.networks.push(SiteNetwork {
            name: name.get_ref().clone(),
            span: span(name.span()),
            nets,
        });
    }
    for (name, value) in raw.interfaces {
        let vspan = span(value.span());
        let names = match value.into_inner() {
            IfaceValue::One(s) => vec![s],
            IfaceValue::Many(v) => v,
        };
        let ifaces = names
            .iter()
            .filter_map(|n| validate::iface(n, vspan).map_err(|d| diags.push(d)).ok())
            .collect();
        site.interfaces.push(SiteInterface {
            name: name.get_ref().clone(),
            span: span(name.span()),
            ifaces,
        });
    }
    (site, diags)
}

/// A TOML/serde error as a diagnostic; unknown keys get their own code and a "did you mean".
fn toml_error(file: FileId, text: &str, e: &toml::de::Error) -> Diagnostic {
    let range = e.span().unwrap_or(0..0);
    let range = range.start.min(text.len())..range.end.min(text.len());
    let span = Span::new(file, range);
    let msg = e.message().trim();
    if let Some(key) = msg
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    {
        let d = Diagnostic::error(SITE_UNKNOWN_KEY, span, format!("unknown site key `{key}`"))
            .with_label("not a site setting");
        return match validate::did_you_mean(key, KEYS.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!("known keys: {}", KEYS.join(", "))),
        };
    }
    let first = msg.lines().next().unwrap_or("invalid TOML");
    Diagnostic::error(SITE_SYNTAX, span, format!("invalid site file: {first}"))
        .with_label("here")
        .with_help(
            "the site file holds `table`, `log_prefix`, `priority`, `[networks]` (name = [\"cidr\", \
             ...]) and `[interfaces]` (name = \"eno1\" or a list)",
        )
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
    fn unknown_key_suggests_the_right_one() {
        let (_, d) = site("tabel = \"x\"\n");
        assert_eq!(d[0].code, SITE_UNKNOWN_KEY);
        assert_eq!(d[0].help.as_deref(), Some("did you mean `table`?"));
        assert_eq!(d[0].span.range(), 0..5);
    }
}
