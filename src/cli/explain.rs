//! `hostwall explain PACKET [POLICY] [--live [--netns N]]`: the verdict for one packet,
//! the deciding rule of each table on its path, and the kernel's combined answer.

use super::args::{DiffFormat, ExplainArgs};
use super::json::{self, PolicyPart};
use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM, load_compiled};
use hostwall::diag::Diagnostic;
use hostwall::ir::host::HostRuleset;
use hostwall::json::ErrorKind;
use hostwall::source::{SourceMap, Span};
use serde::Serialize;

/// The version of `explain`'s JSON document (docs/schema/explain.schema.json).
pub const SCHEMA: u32 = 1;

pub fn run(out: &Out, c: &ExplainArgs) -> u8 {
    let json = c.format == DiffFormat::Json;
    let (pkt, path) = match hostwall::eval::text::parse(&c.packet) {
        Ok(p) => p,
        Err(e) => return packet_error(out, c, &e),
    };
    if c.netns.is_some() && !c.live {
        let msg = "--netns needs --live (without it the policy alone is explained)";
        let part = json::named(&c.input);
        return fail(out, c, (EXIT_SYSTEM, ErrorKind::Input), part, msg);
    }
    let loaded = if json {
        json::load_compiled(&c.input)
    } else {
        load_compiled(out, &c.input).map_err(|code| (code, PolicyPart::default()))
    };
    let (loaded, rs) = match loaded {
        Ok(x) => x,
        Err((code, part)) if json => return print_json(out, code, part, None),
        Err((code, _)) => return code,
    };
    let part = json::loaded(&c.input, &loaded);
    let host = if c.live {
        match hostwall::live::read(&rs.table.name, c.netns.as_deref()) {
            Ok(snap) => match &snap.table {
                Some(t) => {
                    let extra = snap.ours_host.as_ref();
                    let ours = hostwall::explain::with_origins(t, extra, &rs.table);
                    HostRuleset::with_ours(ours, snap.others, snap.ours_at)
                }
                None => {
                    out.stderr(&format!(
                        "hostwall: note: table inet {} is not loaded: the other tables alone decide\n",
                        rs.table.name
                    ));
                    HostRuleset::of(snap.others)
                }
            },
            Err(e) => {
                let msg = format!("cannot read the live ruleset: {e}");
                return fail(out, c, (EXIT_SYSTEM, ErrorKind::System), part, &msg);
            }
        }
    } else {
        HostRuleset::of_ours(&rs.table)
    };
    let locate = |s: &Span| loaded.map.location(*s);
    let x = hostwall::explain::explain(&host, path, &pkt, &locate);
    match c.format {
        DiffFormat::Text => out.stdout(&hostwall::explain::render_text(&x)),
        DiffFormat::Json => print_json(out, 0, part, Some(&x)),
    }
}

/// `explain --format json`: the envelope, the policy, then the explanation.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    policy: PolicyPart,
    #[serde(flatten)]
    explanation: Option<&'a hostwall::explain::Explanation>,
}

fn print_json(
    out: &Out,
    code: u8,
    policy: PolicyPart,
    explanation: Option<&hostwall::explain::Explanation>,
) -> u8 {
    let doc = Document {
        policy,
        explanation,
    };
    json::print(out, "explain", SCHEMA, code, doc)
}

/// An error that stops the command: one line, or a document saying it.
fn fail(out: &Out, c: &ExplainArgs, how: (u8, ErrorKind), part: PolicyPart, msg: &str) -> u8 {
    let (code, kind) = how;
    if c.format == DiffFormat::Json {
        return print_json(out, code, part.with_error(kind, msg), None);
    }
    out.error(msg);
    code
}

/// A caret under the word that does not parse, like a policy error.
fn packet_error(out: &Out, c: &ExplainArgs, e: &hostwall::eval::text::PacketError) -> u8 {
    let mut map = SourceMap::new();
    let file = map.add("<packet>", c.packet.clone());
    let span = Span::new(file, e.range.clone());
    let mut d = Diagnostic::error("", span, e.message.clone()).with_label("here");
    if let Some(h) = &e.help {
        d = d.with_help(h.clone());
    }
    if c.format == DiffFormat::Json {
        let mut part = json::named(&c.input);
        part.diagnostics = hostwall::json::diagnostics(&map, &[d]);
        let msg = format!("the packet does not parse: {}", e.message);
        return print_json(
            out,
            EXIT_POLICY,
            part.with_error(ErrorKind::Input, msg),
            None,
        );
    }
    out.stderr(&hostwall::diag::render(&map, &[d], out.color()));
    EXIT_POLICY
}
