//! AST -> canonical policy text: 4-space indents, one statement per line, clauses in a fixed
//! order, rule columns and trailing comments aligned within a run of consecutive lines.
//!
//! Comments are kept: a comment on a statement's last line stays a trailing comment; every
//! other comment becomes an own-line comment before the next statement (comments inside a
//! multi-line `define` move above it). Single blank lines between statements are kept.
//! The output is idempotent: formatting it again gives the same text.

use super::ast::*;
use crate::source::Span;

/// A `define` longer than this is written one item per line.
const MAX_LINE: usize = 100;

pub(crate) fn format_file(text: &str, ast: &File) -> String {
    let f = Fmt {
        text,
        comments: &ast.comments,
    };
    let elems: Vec<Elem> = ast
        .items
        .iter()
        .map(|i| match i {
            TopItem::Include { path, span } => {
                Elem::Plain(*span, vec![format!("include \"{}\"", path.value)])
            }
            TopItem::Policy(p) => f.block(
                &format!("policy {} {{", p.name.value),
                p.name.span,
                &p.body,
                p.span,
                0,
            ),
            TopItem::Stmt(s) => f.stmt(s, 0),
        })
        .collect();
    let mut out = f.region(0, text.len(), &elems, 0);
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A statement ready to print: a rule keeps its columns for alignment.
enum Elem {
    Plain(Span, Vec<String>),
    /// A `{ }` block: its lines already include its comments.
    Block(Span, Vec<String>),
    Rule(Span, String, Option<String>, String),
}

impl Elem {
    fn span(&self) -> Span {
        match self {
            Elem::Plain(s, _) | Elem::Block(s, _) | Elem::Rule(s, ..) => *s,
        }
    }
}

struct Fmt<'a> {
    text: &'a str,
    comments: &'a [Span],
}

/// One printed line and whether it starts a new alignment run.
struct Line {
    text: String,
    trailing: Option<String>,
    blank_before: bool,
}

impl Fmt<'_> {
    /// Prints the statements of one region (file or block body) with their comments.
    fn region(&self, start: usize, end: usize, elems: &[Elem], depth: usize) -> String {
        let ind = "    ".repeat(depth);
        let mut st = Printed {
            lines: Vec::new(),
            cursor: start,
            ci: self
                .comments
                .partition_point(|c| (c.start as usize) < start),
        };
        // Rule lines, by line index, for column alignment.
        let mut rule_rows: Vec<(usize, &Elem)> = Vec::new();
        for (k, e) in elems.iter().enumerate() {
            let sp = e.span();
            // A comment is trailing only when no other statement sits between it and this
            // one (`allow ssh; drop tcp 23  # telnet` comments the `drop`).
            let limit = elems.get(k + 1).map_or(end, |n| n.span().start as usize);
            let elem = (sp.start as usize, matches!(e, Elem::Block(..)));
            self.flush_comments(&mut st, sp.end as usize, Some(elem), &ind);
            let blank = !st.lines.is_empty() && self.blank_between(st.cursor, sp.start as usize);
            let trailing = self.trailing(&mut st.ci, sp.end as usize, limit);
            if let Elem::Rule(..) = e {
                rule_rows.push((st.lines.len(), e));
            }
            push_elem(&mut st.lines, e, &ind, blank, trailing);
            st.cursor = trailing_end(self, st.ci, sp.end as usize);
        }
        self.flush_comments(&mut st, end, None, &ind);
        align_rules(&mut st.lines, &rule_rows, &ind);
        render_lines(&st.lines)
    }

    /// Prints the comments before `until` not printed yet, each on its own line. With
    /// `elem` (its start, whether it is a block), comments inside that statement are
    /// left to a block, which prints its own, and do not move the cursor past them.
    fn flush_comments(
        &self,
        st: &mut Printed,
        until: usize,
        elem: Option<(usize, bool)>,
        ind: &str,
    ) {
        while st.ci < self.comments.len() && (self.comments[st.ci].start as usize) < until {
            let c = self.comments[st.ci];
            let interior = elem.is_some_and(|(start, _)| (c.start as usize) >= start);
            let in_block = interior && elem.is_some_and(|(_, block)| block);
            if !in_block && (c.start as usize) >= st.cursor {
                let blank = !st.lines.is_empty() && self.blank_between(st.cursor, c.start as usize);
                st.lines.push(Line {
                    text: format!("{ind}{}", self.comment(c)),
                    trailing: None,
                    blank_before: blank,
                });
                if !interior {
                    st.cursor = c.end as usize;
                }
            }
            st.ci += 1;
        }
    }

    /// The comment right after `stmt_end` on the same line, if any (consumed).
    fn trailing(&self, ci: &mut usize, stmt_end: usize, region_end: usize) -> Option<String> {
        let c = *self.comments.get(*ci)?;
        let cs = c.start as usize;
        if cs >= stmt_end && cs < region_end && !self.text[stmt_end..cs].contains('\n') {
            *ci += 1;
            return Some(self.comment(c));
        }
        None
    }

    fn comment(&self, c: Span) -> String {
        self.text[c.range()].trim_end().to_string()
    }

    /// Whether the source has an empty line between two positions.
    fn blank_between(&self, a: usize, b: usize) -> bool {
        let gap = &self.text[a.min(b)..b];
        let parts: Vec<&str> = gap.split('\n').collect();
        parts.len() > 2
            && parts[1..parts.len() - 1]
                .iter()
                .any(|l| l.trim().trim_matches(';').trim().is_empty())
    }

    /// `{`-block: header line, body region, closing brace.
    fn block(&self, header: &str, after: Span, body: &[Stmt], span: Span, depth: usize) -> Elem {
        let open = self.text[after.end as usize..]
            .find('{')
            .map(|i| after.end as usize + i + 1)
            .unwrap_or(after.end as usize);
        let close = (span.end as usize).saturating_sub(1);
        let elems: Vec<Elem> = body.iter().map(|s| self.stmt(s, depth + 1)).collect();
        // A comment on the header line stays there.
        let mut ci = self.comments.partition_point(|c| (c.start as usize) < open);
        let head_comment = self.trailing(&mut ci, open, close);
        let body_start = head_comment
            .as_ref()
            .map(|_| self.comments[ci - 1].end as usize)
            .unwrap_or(open);
        let inner = self.region(body_start, close, &elems, depth + 1);
        let mut lines = vec![match head_comment {
            Some(c) => format!("{header}  {c}"),
            None => header.to_string(),
        }];
        lines.extend(inner.lines().map(|l| {
            l.strip_prefix(&"    ".repeat(depth))
                .unwrap_or(l)
                .to_string()
        }));
        lines.push("}".into());
        Elem::Block(span, lines)
    }

    fn stmt(&self, s: &Stmt, depth: usize) -> Elem {
        let span = s.span();
        let line = match s {
            Stmt::Default { action, .. } => format!("default {}", action_kw(action.value)),
            Stmt::Forwarding { family, on, .. } => {
                let fam = match family.as_ref().map(|f| f.value) {
                    Some(Family::Ipv4) => "ipv4 ",
                    Some(Family::Ipv6) => "ipv6 ",
                    None => "",
                };
                format!("forwarding {fam}{}", if on.value { "on" } else { "off" })
            }
            Stmt::Service(d) => format!("service {} {}", d.name.value, ports(&d.ports)),
            Stmt::Define(d) => return Elem::Plain(span, define(d)),
            Stmt::Log(l) => log("log rejected", l),
            Stmt::Count { .. } => "count rejected".into(),
            Stmt::Forward(f) => return self.block("forward {", f.keyword, &f.body, f.span, depth),
            Stmt::Output(f) => return self.block("output {", f.keyword, &f.body, f.span, depth),
            Stmt::Rule(r) => {
                let service = r.service.as_ref().map(|s| s.value.clone());
                return Elem::Rule(
                    span,
                    r.verdict.value.keyword().into(),
                    service,
                    clauses(&r.clauses),
                );
            }
        };
        Elem::Plain(span, vec![line])
    }
}

/// Where the printed text of an element ends in the source: after its trailing comment.
/// The lines of a region printed so far, how far its text is printed (`cursor`) and the
/// next comment to print (`ci`).
struct Printed {
    lines: Vec<Line>,
    cursor: usize,
    ci: usize,
}

/// The lines of one statement; a rule's one line is filled in by `align_rules`.
fn push_elem(lines: &mut Vec<Line>, e: &Elem, ind: &str, blank: bool, trailing: Option<String>) {
    match e {
        Elem::Plain(_, ls) | Elem::Block(_, ls) => {
            let n = ls.len();
            for (k, l) in ls.iter().enumerate() {
                let text = if l.is_empty() {
                    String::new()
                } else {
                    format!("{ind}{l}")
                };
                let t = if k + 1 == n { trailing.clone() } else { None };
                lines.push(Line {
                    text,
                    trailing: t,
                    blank_before: blank && k == 0,
                });
            }
        }
        Elem::Rule(..) => lines.push(Line {
            text: String::new(),
            trailing,
            blank_before: blank,
        }),
    }
}

fn trailing_end(f: &Fmt, ci: usize, stmt_end: usize) -> usize {
    match ci.checked_sub(1).and_then(|i| f.comments.get(i)) {
        Some(c) if (c.start as usize) >= stmt_end => c.end as usize,
        _ => stmt_end,
    }
}

/// Fills in rule lines, aligning verdict and service columns within runs of adjacent rules.
fn align_rules(lines: &mut [Line], rows: &[(usize, &Elem)], ind: &str) {
    let mut i = 0;
    while i < rows.len() {
        let mut j = i + 1;
        while j < rows.len() && rows[j].0 == rows[j - 1].0 + 1 && !lines[rows[j].0].blank_before {
            j += 1;
        }
        let run = &rows[i..j];
        let vw = run
            .iter()
            .filter_map(|(_, e)| rule_cols(e))
            .map(|(v, s, _)| if s.is_some() { v.len() } else { 0 })
            .max()
            .unwrap_or(0);
        let sw = run
            .iter()
            .filter_map(|(_, e)| rule_cols(e))
            .filter_map(|(_, s, _)| s.map(str::len))
            .max()
            .unwrap_or(0);
        for (idx, e) in run {
            if let Some((v, s, rest)) = rule_cols(e) {
                let mut t = format!("{ind}{v}");
                if let Some(s) = s {
                    t.push_str(&" ".repeat(vw - v.len() + 1));
                    t.push_str(&format!("{s:<sw$}"));
                }
                if !rest.is_empty() {
                    t.push(' ');
                    t.push_str(rest);
                }
                lines[*idx].text = t.trim_end().to_string();
            }
        }
        i = j;
    }
}

fn rule_cols(e: &Elem) -> Option<(&str, Option<&str>, &str)> {
    match e {
        Elem::Rule(_, v, s, rest) => Some((v, s.as_deref(), rest)),
        Elem::Plain(..) | Elem::Block(..) => None,
    }
}

/// Joins lines, aligning trailing comments within runs of lines not separated by blanks.
fn render_lines(lines: &[Line]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let mut j = i + 1;
        while j < lines.len() && !lines[j].blank_before {
            j += 1;
        }
        let width = lines[i..j]
            .iter()
            .filter(|l| l.trailing.is_some())
            .map(|l| l.text.chars().count())
            .max()
            .unwrap_or(0);
        for (k, l) in lines[i..j].iter().enumerate() {
            if k == 0 && l.blank_before {
                out.push('\n');
            }
            out.push_str(&l.text);
            if let Some(c) = &l.trailing {
                let pad = width - l.text.chars().count() + 2;
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            }
            out.push('\n');
        }
        i = j;
    }
    out
}

fn action_kw(a: Action) -> &'static str {
    match a {
        Action::Reject => "reject",
        Action::Drop => "drop",
    }
}

fn ports(groups: &[PortGroup]) -> String {
    groups
        .iter()
        .map(|g| {
            let proto = match g.proto.value {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
                Proto::Sctp => "sctp",
            };
            let items: Vec<String> = g
                .ports
                .iter()
                .map(|p| match &p.hi {
                    Some(h) => format!("{}-{}", p.lo.value, h.value),
                    None => p.lo.value.to_string(),
                })
                .collect();
            format!("{proto} {}", items.join(", "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn define(d: &Define) -> Vec<String> {
    let items: Vec<_> = d.items.iter().flat_map(NetItem::texts).collect();
    let one = format!("define {} = {}", d.name.value, items.join(", "));
    if one.len() <= MAX_LINE {
        return vec![one];
    }
    let n = items.len();
    items
        .iter()
        .enumerate()
        .map(|(k, it)| {
            let comma = if k + 1 < n { "," } else { "" };
            if k == 0 {
                format!("define {} = {it}{comma}", d.name.value)
            } else {
                format!("    {it}{comma}")
            }
        })
        .collect()
}

/// `log rejected ...` or a rule's `log ...` (`head`), clauses in canonical order.
fn log(head: &str, l: &LogStmt) -> String {
    let mut s = String::from(head);
    let first = l.limit.iter().map(|x| LogClause::Limit(x.clone()));
    let first = first
        .chain(l.prefix.iter().map(|p| LogClause::Prefix(p.clone())))
        .chain(l.level.iter().map(|v| LogClause::Level(v.clone())))
        .chain(l.group.iter().map(|g| LogClause::Group(g.clone())));
    // Repeats (an error the checker reports) are kept after the rest, so nothing is lost.
    for c in first.chain(l.repeated.iter().cloned()) {
        match c {
            LogClause::Limit(lim) => {
                s.push(' ');
                s.push_str(&limit(&lim));
            }
            LogClause::Prefix(p) => s.push_str(&format!(" prefix \"{}\"", p.value)),
            LogClause::Group(g) => s.push_str(&format!(" group {}", g.value)),
            LogClause::Level(v) => s.push_str(&format!(" level {}", v.value)),
        }
    }
    s
}

/// `limit N/unit [per source] [burst M]`.
fn limit(lim: &LogLimit) -> String {
    let mut s = format!("limit {}/{}", lim.count.value, lim.unit.keyword());
    if lim.per_source.is_some() {
        s.push_str(" per source");
    }
    if let Some(b) = &lim.burst {
        s.push_str(&format!(" burst {}", b.value));
    }
    s
}

/// Clauses in canonical order: what (ports/icmp), in, out, from, to, on, established, counter,
/// log (reads as `allow ssh tcp 22 from mgmt on "eno1"` and `allow in "virbr*" from guests`).
fn clauses(cs: &[Clause]) -> String {
    let rank = |c: &Clause| match c {
        Clause::Ports(..) | Clause::Icmp { .. } => 0,
        Clause::In(..) => 1,
        Clause::Out(..) => 2,
        Clause::From(..) => 3,
        Clause::To(..) => 4,
        Clause::On(..) => 5,
        Clause::Established(_) => 6,
        Clause::Counter(_) => 7,
        Clause::Limit(_) => 8,
        Clause::Log(_) => 9,
    };
    let mut sorted: Vec<&Clause> = cs.iter().collect();
    sorted.sort_by_key(|c| rank(c));
    sorted
        .iter()
        .map(|c| clause(c))
        .collect::<Vec<_>>()
        .join(" ")
}

fn clause(c: &Clause) -> String {
    let nets = |n: &[NetItem]| {
        n.iter()
            .flat_map(NetItem::texts)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ifs = |i: &[Iface]| {
        i.iter()
            .map(|x| match x {
                Iface::Quoted(q) => format!("\"{}\"", q.value),
                Iface::Name(n) => n.value.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match c {
        Clause::Ports(g, _) => ports(g),
        Clause::Icmp { v6, types, .. } => {
            let kw = if *v6 { "icmpv6" } else { "icmp" };
            let ts: Vec<String> = types
                .iter()
                .map(|t| match &t.value {
                    IcmpType::Number(n) => n.to_string(),
                    IcmpType::Name(n) => n.clone(),
                })
                .collect();
            if ts.is_empty() {
                kw.into()
            } else {
                format!("{kw} {}", ts.join(", "))
            }
        }
        Clause::From(n, _) => format!("from {}", nets(n)),
        Clause::To(n, _) => format!("to {}", nets(n)),
        Clause::On(i, _) => format!("on {}", ifs(i)),
        Clause::In(i, _) => format!("in {}", ifs(i)),
        Clause::Out(i, _) => format!("out {}", ifs(i)),
        Clause::Established(_) => "established".into(),
        Clause::Counter(_) => "counter".into(),
        Clause::Log(l) => log("log", l),
        Clause::Limit(lim) => limit(lim),
    }
}

#[cfg(test)]
mod tests {
    use crate::source::SourceMap;

    #[test]
    fn repeated_log_clauses_are_kept() {
        let mut map = SourceMap::new();
        let f = map.add(
            "p",
            "policy p {\n    log rejected group 2 prefix \"a\" group 1 prefix \"b\"\n}\n",
        );
        let out = crate::syntax::format(&map, f).unwrap_or_default();
        assert!(
            out.contains("log rejected prefix \"a\" group 2 group 1 prefix \"b\""),
            "{out}"
        );
    }

    /// A rule's `log` comes last, its clauses in canonical order, repeats kept; the
    /// formatted text formats to itself (issue #13 item 2).
    #[test]
    fn a_rule_log_is_last_with_its_clauses_in_order() {
        let mut map = SourceMap::new();
        let f = map.add(
            "p",
            "policy p {\n    drop log group 2 level info limit 1/second from 10.0.0.0/8 tcp 22 counter\n}\n",
        );
        let out = crate::syntax::format(&map, f).unwrap_or_default();
        let want = "drop tcp 22 from 10.0.0.0/8 counter log limit 1/second level info group 2";
        assert!(out.contains(want), "{out}");
        let mut again = SourceMap::new();
        let g = again.add("p", out.clone());
        assert_eq!(crate::syntax::format(&again, g).unwrap_or_default(), out);
    }

    /// `per source` stays with its limit, before the burst, and formats to itself (issue #13
    /// item 2, per-source limits).
    #[test]
    fn a_per_source_limit_keeps_its_scope() {
        let mut map = SourceMap::new();
        let f = map.add(
            "p",
            "policy p {\n    allow   limit 4/hour   per   source burst 2 tcp 22 counter\n    allow tcp 23 limit 1/second per source\n}\n",
        );
        let out = crate::syntax::format(&map, f).unwrap_or_default();
        assert!(
            out.contains("allow tcp 22 counter limit 4/hour per source burst 2"),
            "{out}"
        );
        assert!(
            out.contains("allow tcp 23 limit 1/second per source\n"),
            "{out}"
        );
        let mut again = SourceMap::new();
        let g = again.add("p", out.clone());
        assert_eq!(crate::syntax::format(&again, g).unwrap_or_default(), out);
    }
}
