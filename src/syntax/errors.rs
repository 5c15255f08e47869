//! pest errors -> syntax diagnostics in human words ("expected a port number"), never rule names.

use super::grammar::Rule;
use crate::diag::Diagnostic;
use crate::source::{FileId, Span};
use pest::error::{ErrorVariant, InputLocation};

/// `E0001`: the text does not follow the grammar.
///
/// ```text
/// policy p {
///     allow tcp eighty      # expected a port number
/// }
/// ```
pub const SYNTAX: &str = "E0001";

pub(crate) fn to_diagnostic(
    file: FileId,
    text: &str,
    err: &pest::error::Error<Rule>,
) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let expected = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => describe(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    if let Some(comma) = dangling_comma(text, pos) {
        let (found, _) = found_at(file, text, pos);
        return Diagnostic::error(
            SYNTAX,
            Span::new(file, comma..comma + 1),
            format!("expected {expected} after `,`, found {found} on a later line"),
        )
        .with_label("the list continues after this comma")
        .with_help("a trailing comma continues a list on the next line; remove it");
    }
    let (found, span) = found_at(file, text, pos);
    Diagnostic::error(SYNTAX, span, format!("expected {expected}, found {found}"))
        .with_label(format!("expected {expected}"))
        .with_help(help_for(&err.variant, text, pos))
}

/// When the error is at the start of a line and the last thing before it is a comma on an
/// earlier line, the comma is the mistake: it made the list swallow the next line.
fn dangling_comma(text: &str, pos: usize) -> Option<usize> {
    let before = &text[..pos];
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    if !before[line_start..].trim().is_empty() {
        return None;
    }
    // Walk back over blank lines and comments to the last code character.
    let mut end = line_start;
    while end > 0 {
        let ls = text[..end - 1].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line = &text[ls..end - 1];
        let code = line.find('#').map(|i| &line[..i]).unwrap_or(line);
        let code = code.trim_end();
        if !code.trim().is_empty() {
            return code.ends_with(',').then(|| ls + code.len() - 1);
        }
        end = ls;
    }
    None
}

/// The keyword sets that are described as one thing rather than listed.
const STATEMENT: &[Rule] = &[Rule::kw_default, Rule::kw_service, Rule::kw_define];
const CLAUSE: &[Rule] = &[Rule::kw_from, Rule::kw_counter, Rule::kw_established];

fn describe(positives: &[Rule]) -> String {
    let statement = STATEMENT.iter().all(|r| positives.contains(r));
    let clause = CLAUSE.iter().all(|r| positives.contains(r));
    let mut words: Vec<&'static str> = Vec::new();
    if statement {
        words.push("a statement");
    }
    if clause {
        words.push(
            "a rule clause (ports, icmp, from, to, on, in, out, established, counter, limit, log)",
        );
    }
    let on_off = positives.contains(&Rule::kw_on) && positives.contains(&Rule::kw_off);
    for r in positives {
        if (statement && is_statement_kw(*r)) || (clause && is_clause_kw(*r)) {
            continue;
        }
        let w = match r {
            Rule::kw_on | Rule::kw_off if on_off => "`on` or `off`",
            // After a complete statement the `}` lookahead means "this statement is done".
            Rule::rbrace if clause => "end of line",
            r => word(*r),
        };
        if !words.contains(&w) {
            words.push(w);
        }
    }
    match words.len() {
        0 => "something else".into(),
        1 => words[0].into(),
        n => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
    }
}

fn is_statement_kw(r: Rule) -> bool {
    matches!(
        r,
        Rule::kw_allow
            | Rule::kw_drop
            | Rule::kw_reject
            | Rule::verdict
            | Rule::kw_default
            | Rule::kw_forwarding
            | Rule::kw_forward
            | Rule::kw_output
            | Rule::kw_service
            | Rule::kw_define
            | Rule::kw_log
            | Rule::kw_count
    )
}

fn is_clause_kw(r: Rule) -> bool {
    matches!(
        r,
        Rule::kw_tcp
            | Rule::kw_udp
            | Rule::kw_sctp
            | Rule::proto
            | Rule::portspec
            | Rule::port_group
            | Rule::kw_icmp
            | Rule::kw_icmpv6
            | Rule::icmp_kind
            | Rule::kw_from
            | Rule::kw_to
            | Rule::kw_on
            | Rule::kw_in
            | Rule::kw_out
            | Rule::kw_established
            | Rule::kw_counter
            | Rule::kw_log
            | Rule::rule_log
            | Rule::kw_limit
            | Rule::rule_limit
    )
}

fn help_for(variant: &ErrorVariant<Rule>, text: &str, pos: usize) -> String {
    let positives = match variant {
        ErrorVariant::ParsingError { positives, .. } => positives.as_slice(),
        ErrorVariant::CustomError { .. } => &[],
    };
    let rest = &text[pos..];
    if rest.starts_with('"') {
        return "a quoted string ends on the same line with `\"`".into();
    }
    if positives.contains(&Rule::kw_default) && positives.contains(&Rule::kw_service) {
        return "statements are: allow/drop/reject rules, default, forwarding, service, define, \
                log rejected, count rejected, forward { }, output { }"
            .into();
    }
    if positives.contains(&Rule::number) && rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return "ports are numbers: `22`, `80, 443`, `5634-6166`; a service name goes right \
                after the verdict (`allow ssh`)"
            .into();
    }
    if positives.contains(&Rule::string) {
        return "quote it: `\"...\"`".into();
    }
    if positives.contains(&Rule::kw_policy) || positives.contains(&Rule::kw_include) {
        return "a file holds `include \"file\"` lines, `define`/`service` statements and one \
                `policy NAME { ... }` block"
            .into();
    }
    "one statement per line (or separated by `;`); a list continues on the next line after a \
     trailing comma"
        .into()
}

/// What is at `pos`, in words, and the span to underline.
fn found_at(file: FileId, text: &str, pos: usize) -> (String, Span) {
    let rest = &text[pos..];
    match rest.chars().next() {
        None => ("end of file".into(), Span::new(file, pos..pos)),
        Some('\n') | Some('\r') => ("end of line".into(), Span::new(file, pos..pos)),
        Some(c) if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == ':' => {
            let len = rest
                .find(|c: char| !(c.is_alphanumeric() || "_-.:/*".contains(c)))
                .unwrap_or(rest.len());
            (
                format!("`{}`", &rest[..len]),
                Span::new(file, pos..pos + len),
            )
        }
        Some(c) => (format!("`{c}`"), Span::new(file, pos..pos + c.len_utf8())),
    }
}

fn word(r: Rule) -> &'static str {
    match r {
        Rule::EOI => "end of file",
        Rule::name => "a name",
        Rule::number => "a number",
        Rule::string => "a quoted string",
        Rule::cidr => "an address or CIDR",
        Rule::lbrace => "`{`",
        Rule::rbrace => "`}`",
        Rule::equals => "`=`",
        Rule::slash => "`/`",
        Rule::kw_include => "`include`",
        Rule::kw_policy => "`policy`",
        Rule::kw_default => "`default`",
        Rule::kw_forwarding => "`forwarding`",
        Rule::kw_forward => "`forward`",
        Rule::kw_output => "`output`",
        Rule::kw_service => "`service`",
        Rule::kw_define => "`define`",
        Rule::kw_log => "`log`",
        Rule::kw_count => "`count`",
        Rule::kw_rejected => "`rejected`",
        Rule::kw_limit => "`limit`",
        Rule::kw_burst => "`burst`",
        Rule::kw_per | Rule::per_source => "`per source`",
        Rule::kw_source => "`source`",
        Rule::kw_prefix => "`prefix`",
        Rule::kw_group => "`group`",
        Rule::kw_level | Rule::log_level => "`level`",
        Rule::kw_second | Rule::kw_minute | Rule::kw_hour | Rule::kw_day | Rule::rate_unit => {
            "a time unit (second, minute, hour, day)"
        }
        Rule::kw_allow => "`allow`",
        Rule::kw_drop | Rule::kw_reject | Rule::action => "`reject` or `drop`",
        Rule::kw_ipv4 | Rule::kw_ipv6 | Rule::family => "`ipv4` or `ipv6`",
        Rule::kw_on => "`on`",
        Rule::kw_off | Rule::on_off => "`on` or `off`",
        Rule::kw_tcp | Rule::kw_udp | Rule::kw_sctp | Rule::proto => "a protocol (tcp, udp, sctp)",
        Rule::kw_icmp | Rule::kw_icmpv6 | Rule::icmp_kind | Rule::icmp => "`icmp`/`icmpv6`",
        Rule::kw_from | Rule::from => "`from`",
        Rule::kw_to | Rule::to => "`to`",
        Rule::kw_in | Rule::in_ => "`in`",
        Rule::kw_out | Rule::out => "`out`",
        Rule::kw_established | Rule::established => "`established`",
        Rule::kw_counter | Rule::counter => "`counter`",
        Rule::service_ref => "a service name",
        Rule::portspec | Rule::port_group => "a protocol (tcp, udp, sctp)",
        Rule::port_list | Rule::port_item => "a port number",
        Rule::icmp_type => "an ICMP type",
        Rule::net_list | Rule::net_item => "an address, CIDR or network name",
        Rule::iface_list | Rule::iface => "an interface (\"eth0\", \"virbr*\" or a site name)",
        Rule::verdict => "`allow`, `drop` or `reject`",
        _ => "a statement",
    }
}
