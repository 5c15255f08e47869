//! `hostwall check`: the policy's diagnostics (and with `--live` its conflicts with the
//! host's other tables), as text on standard error or as one JSON document.

use super::args::{CheckArgs, DiffFormat};
use super::json::{self, PolicyPart};
use super::load::Loaded;
use super::output::Out;
use super::{EXIT_SYSTEM, load_checked};
use hostwall::json::ErrorKind;
use serde::Serialize;

/// The version of `check`'s JSON document (docs/schema/check.schema.json).
pub const SCHEMA: u32 = 1;

pub fn run(out: &Out, c: &CheckArgs) -> u8 {
    match c.format {
        DiffFormat::Text => text(out, c),
        DiffFormat::Json => json(out, c),
    }
}

fn text(out: &Out, c: &CheckArgs) -> u8 {
    let l = match load_checked(out, &c.input) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut warnings = l.diagnostics.len();
    if c.live {
        match live_conflicts(&l, c.netns.as_deref()) {
            Ok(shown) => {
                if !shown.is_empty() {
                    out.stderr(&hostwall::diff::render_text(&shown));
                }
                warnings += shown.len();
            }
            Err(e) => {
                out.error(&e);
                return EXIT_SYSTEM;
            }
        }
    }
    out.stderr(&format!(
        "{}: ok{}\n",
        l.name,
        match warnings {
            0 => String::new(),
            1 => " (1 warning)".into(),
            n => format!(" ({n} warnings)"),
        }
    ));
    0
}

/// `check --format json`.
#[derive(Serialize)]
struct Document {
    #[serde(flatten)]
    policy: PolicyPart,
    errors: usize,
    warnings: usize,
    /// With `--live`: the other tables' conflicts, as `diff`'s change objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    conflicts: Option<serde_json::Value>,
}

fn json(out: &Out, c: &CheckArgs) -> u8 {
    let (code, policy, conflicts) = match json::load_checked(&c.input) {
        Err((code, part)) => (code, part, None),
        Ok(l) => {
            let part = json::loaded(&c.input, &l);
            if !c.live {
                (0, part, None)
            } else {
                match live_conflicts(&l, c.netns.as_deref()) {
                    Ok(shown) => (0, part, Some(changes_json(&shown))),
                    Err(e) => (EXIT_SYSTEM, part.with_error(ErrorKind::System, e), None),
                }
            }
        }
    };
    let count = |sev: &str| {
        (policy.diagnostics.iter())
            .filter(|d| d.severity == sev)
            .count()
    };
    let doc = Document {
        errors: count("error"),
        warnings: count("warning"),
        policy,
        conflicts,
    };
    json::print(out, "check", SCHEMA, code, doc)
}

/// `diff`'s change objects (schema 1 of docs/diff.md) for `changes`.
fn changes_json(changes: &[hostwall::diff::Change]) -> serde_json::Value {
    let doc = hostwall::diff::render_json("", changes, false, 0);
    serde_json::from_str::<serde_json::Value>(&doc)
        .ok()
        .and_then(|mut v| v.get_mut("changes").map(serde_json::Value::take))
        .unwrap_or_else(|| serde_json::Value::Array(Vec::new()))
}

/// `check --live`: the other tables' conflicts with the checked policy (the changes
/// that name an example packet), or the sentence saying why they could not be read.
fn live_conflicts(l: &Loaded, netns: Option<&str>) -> Result<Vec<hostwall::diff::Change>, String> {
    let Some(policy) = &l.policy else {
        return Ok(Vec::new());
    };
    let rs = hostwall::compile::compile(policy);
    let locate = |s: &hostwall::source::Span| l.map.location(*s);
    match hostwall::drift::warnings(&rs, netns, &locate) {
        Ok(w) => Ok(w
            .changes
            .into_iter()
            .filter(|c| c.packet.is_some())
            .collect()),
        Err(e) => Err(format!("cannot read the live ruleset: {e}")),
    }
}
