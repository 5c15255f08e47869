//! `format` is idempotent and keeps meaning: for every policy in policies/ and every golden
//! policy that parses, formatting twice gives the same text, and the formatted text checks to
//! the same model (spans aside).

use crate::support::corpus;
use hostwall::check::{self, NoIncludes};
use hostwall::model::{Policy, Rule, Traffic};
use hostwall::source::{SourceMap, Span};
use hostwall::syntax;

/// Every shipped policy and every case policy of every kind under tests/data/.
fn all_policies() -> Vec<corpus::Case> {
    let mut out = corpus::shipped();
    out.extend(corpus::every_case());
    out
}

fn fmt_text(text: &str) -> Option<String> {
    let mut map = SourceMap::new();
    let f = map.add("policy", text);
    syntax::format(&map, f).ok()
}

fn model(text: &str, site: Option<&str>) -> Option<Policy> {
    let mut map = SourceMap::new();
    let f = map.add("policy", text);
    let s = site.map(|s| map.add("site.toml", s));
    check::check(&mut map, f, s, &NoIncludes).0.map(strip_spans)
}

fn strip_rule(mut r: Rule) -> Rule {
    r.span = Span::default();
    if let Traffic::Ports(ps) = &mut r.traffic {
        ps.iter_mut().for_each(|p| p.span = Span::default());
    }
    for a in [&mut r.sources, &mut r.destinations].into_iter().flatten() {
        a.span = Span::default();
    }
    r
}

fn strip_spans(mut p: Policy) -> Policy {
    p.span = Span::default();
    p.input = p.input.into_iter().map(strip_rule).collect();
    p.forward = p.forward.map(|f| f.into_iter().map(strip_rule).collect());
    for f in [&mut p.forwarding.ipv4, &mut p.forwarding.ipv6]
        .into_iter()
        .flatten()
    {
        f.1 = Span::default();
    }
    if let Some(l) = &mut p.log_rejected {
        l.span = Span::default();
    }
    p
}

#[test]
fn format_is_idempotent_and_keeps_the_model() {
    let files = all_policies();
    assert!(files.len() >= 4);
    let mut checked = 0;
    for case in files {
        // A policy that is not UTF-8 (an error case) reads as empty and does not parse.
        let text = std::fs::read_to_string(&case.policy).unwrap_or_default();
        let (path, site) = (&case.policy, case.site_text());
        let Some(once) = fmt_text(&text) else {
            continue; // syntax error cases
        };
        let twice = fmt_text(&once).unwrap_or_else(|| {
            panic!("{}: formatted text does not parse:\n{once}", path.display())
        });
        assert_eq!(once, twice, "{}: format is not idempotent", path.display());
        if let Some(before) = model(&text, site.as_deref()) {
            let after = model(&once, site.as_deref());
            assert_eq!(
                Some(before),
                after,
                "{}: formatting changed the meaning:\n{once}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} policies checked clean");
}

#[test]
fn comments_blank_lines_and_columns() {
    let input = "# head\npolicy p {   # the policy\n  default  drop\n\n\n  allow ssh tcp 22 # a\n  allow   kvm-migration   tcp 49152-49216   # b\n  allow icmp\n  # own line\n  forward {\n  allow in \"virbr*\"   established\n  }\n}\n";
    let want = "# head\npolicy p {  # the policy\n    default drop\n\n    allow ssh           tcp 22           # a\n    allow kvm-migration tcp 49152-49216  # b\n    allow icmp\n    # own line\n    forward {\n        allow in \"virbr*\" established\n    }\n}\n";
    assert_eq!(fmt_text(input).as_deref(), Some(want));
}

#[test]
fn long_defines_wrap_one_item_per_line() {
    let items: Vec<String> = (0..20).map(|i| format!("10.{i}.0.0/16")).collect();
    let input = format!(
        "policy p {{\n    define big = {}\n    allow ssh from big\n}}\n",
        items.join(", ")
    );
    let out = fmt_text(&input).unwrap_or_default();
    assert!(
        out.contains("    define big = 10.0.0.0/16,\n        10.1.0.0/16,\n"),
        "{out}"
    );
    assert_eq!(fmt_text(&out).as_deref(), Some(out.as_str()));
}

/// The shipped policies are already in canonical form (what `hostwall fmt --check` expects).
#[test]
fn shipped_policies_are_formatted() {
    for path in corpus::files("policies", "policy") {
        let text = corpus::read(&path);
        let out = fmt_text(&text).unwrap_or_default();
        assert_eq!(out, text, "{} is not in canonical form", path.display());
    }
}

/// A trailing comment belongs to the last statement on its line, never to an earlier one
/// sharing the line through `;` (regression, issue #8 item 7: it moved to `allow ssh`).
#[test]
fn trailing_comment_stays_with_the_last_statement_on_its_line() {
    for (input, want) in [
        (
            "policy p {\n    allow ssh; drop tcp 23  # legacy telnet\n}\n",
            "policy p {\n    allow ssh\n    drop tcp 23  # legacy telnet\n}\n",
        ),
        (
            "policy p {\n  allow tcp 1; allow tcp 2; reject tcp 3 # three\n  allow tcp 4\n}\n",
            "policy p {\n    allow tcp 1\n    allow tcp 2\n    reject tcp 3  # three\n    allow tcp 4\n}\n",
        ),
        (
            "define a = 10.0.0.0/8; service web tcp 8080 # web\npolicy p {\n    allow web from a\n}\n",
            "define a = 10.0.0.0/8\nservice web tcp 8080  # web\npolicy p {\n    allow web from a\n}\n",
        ),
        (
            "policy p {\n    forward {\n        allow in \"a\"; drop in \"b\"  # bb\n    }\n}\n",
            "policy p {\n    forward {\n        allow in \"a\"\n        drop in \"b\"  # bb\n    }\n}\n",
        ),
        (
            "policy p {\n    default drop; log rejected # logged\n}\n",
            "policy p {\n    default drop\n    log rejected  # logged\n}\n",
        ),
    ] {
        let out = fmt_text(input);
        assert_eq!(out.as_deref(), Some(want), "input:\n{input}");
        assert_eq!(fmt_text(want).as_deref(), Some(want), "not idempotent");
    }
}

/// A leading byte-order mark is accepted and not part of the text.
#[test]
fn a_byte_order_mark_is_accepted() {
    let mut map = SourceMap::new();
    let bytes = b"\xEF\xBB\xBFpolicy p {\n    allow ssh\n}\n";
    let (f, d) = hostwall::text::add(&mut map, "policy", bytes);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        syntax::format(&map, f).ok().as_deref(),
        Some("policy p {\n    allow ssh\n}\n")
    );
}
