//! `hostwall explain PACKET [POLICY] [--live [--netns N]]`: the verdict for one packet,
//! the deciding rule of each table on its path, and the kernel's combined answer.

use super::args::{DiffFormat, ExplainArgs};
use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM, load_compiled};
use hostwall::diag::Diagnostic;
use hostwall::ir::host::HostRuleset;
use hostwall::source::{SourceMap, Span};

pub fn run(out: &Out, c: &ExplainArgs) -> u8 {
    let (pkt, path) = match hostwall::eval::text::parse(&c.packet) {
        Ok(p) => p,
        Err(e) => return packet_error(out, &c.packet, &e),
    };
    if c.netns.is_some() && !c.live {
        out.error("--netns needs --live (without it the policy alone is explained)");
        return EXIT_SYSTEM;
    }
    let (loaded, rs) = match load_compiled(out, &c.input) {
        Ok(x) => x,
        Err(code) => return code,
    };
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
                    HostRuleset {
                        tables: snap.others,
                    }
                }
            },
            Err(e) => {
                out.error(&format!("cannot read the live ruleset: {e}"));
                return EXIT_SYSTEM;
            }
        }
    } else {
        HostRuleset::of_ours(&rs.table)
    };
    let locate = |s: &Span| loaded.map.location(*s);
    let x = hostwall::explain::explain(&host, path, &pkt, &locate);
    match c.format {
        DiffFormat::Text => out.stdout(&hostwall::explain::render_text(&x)),
        DiffFormat::Json => {
            let mut s = serde_json::to_string_pretty(&x).unwrap_or_default();
            s.push('\n');
            out.stdout(&s)
        }
    }
}

/// A caret under the word that does not parse, like a policy error.
fn packet_error(out: &Out, text: &str, e: &hostwall::eval::text::PacketError) -> u8 {
    let mut map = SourceMap::new();
    let file = map.add("<packet>", text.to_string());
    let span = Span::new(file, e.range.clone());
    let mut d = Diagnostic::error("", span, e.message.clone()).with_label("here");
    if let Some(h) = &e.help {
        d = d.with_help(h.clone());
    }
    out.stderr(&hostwall::diag::render(&map, &[d], out.color()));
    EXIT_POLICY
}
