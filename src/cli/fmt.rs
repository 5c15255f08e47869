//! `hostwall fmt`: the policy in canonical form, on standard output, in place
//! (`--write`), or as a yes/no (`--check`, in text or as a JSON document).

use super::args::{DiffFormat, FmtArgs};
use super::json::{self, PolicyPart};
use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM, load, replace};
use hostwall::json::ErrorKind;
use hostwall::source::SourceMap;
use serde::Serialize;

/// The version of `fmt --check --format json`'s document (docs/schema/fmt.schema.json).
pub const SCHEMA: u32 = 1;

/// What formatting found: the canonical text and whether the file already is it, or the
/// diagnostics that stop it (with their map), or the error reading the file.
enum Formatted {
    Done {
        name: String,
        text: String,
        unchanged: bool,
    },
    Invalid {
        map: SourceMap,
        diags: Vec<hostwall::diag::Diagnostic>,
    },
    Unreadable(String),
}

fn format(c: &FmtArgs) -> Formatted {
    let (name, bytes) = match load::read_policy(c.policy.as_deref()) {
        Ok(x) => x,
        Err(e) => return Formatted::Unreadable(super::output::chain_text(&e)),
    };
    let mut map = SourceMap::new();
    let (file, encoding) = hostwall::text::add(&mut map, name.clone(), &bytes);
    match hostwall::syntax::format(&map, file) {
        Ok(text) if encoding.is_empty() => {
            let unchanged = text == map.file(file).text;
            Formatted::Done {
                name,
                text,
                unchanged,
            }
        }
        result => {
            let mut diags = encoding;
            diags.extend(result.err().unwrap_or_default());
            Formatted::Invalid { map, diags }
        }
    }
}

pub fn run(out: &Out, c: &FmtArgs) -> u8 {
    if c.format == DiffFormat::Json {
        return json(out, c);
    }
    if c.write
        && c.policy
            .as_deref()
            .is_none_or(|p| p == std::path::Path::new("-"))
    {
        out.error(
            "--write needs a policy file (standard input and the built-in default cannot be \
             rewritten); without --write the formatted text goes to standard output",
        );
        return EXIT_SYSTEM;
    }
    let (name, formatted, unchanged) = match format(c) {
        Formatted::Done {
            name,
            text,
            unchanged,
        } => (name, text, unchanged),
        Formatted::Invalid { map, diags } => {
            out.diagnostics(&map, &diags);
            return EXIT_POLICY;
        }
        Formatted::Unreadable(e) => {
            out.error(&e);
            return EXIT_SYSTEM;
        }
    };
    if c.check {
        if unchanged {
            return 0;
        }
        out.error(&format!(
            "{name} is not formatted; run `hostwall fmt --write {name}`"
        ));
        return EXIT_POLICY;
    }
    match &c.policy {
        Some(path) if c.write => {
            if !unchanged {
                if let Err(e) = replace::replace(path, formatted.as_bytes()) {
                    out.error(&format!("{e}; {} is unchanged", path.display()));
                    return EXIT_SYSTEM;
                }
            }
            0
        }
        _ => out.stdout(&formatted),
    }
}

/// `fmt --check --format json`.
#[derive(Serialize)]
struct Document {
    #[serde(flatten)]
    policy: PolicyPart,
    /// Every file is in canonical form (false when it cannot be formatted).
    formatted: bool,
    /// The files `fmt --write` would change.
    changed: Vec<String>,
}

fn json(out: &Out, c: &FmtArgs) -> u8 {
    let mut policy = PolicyPart {
        policy: json::policy_name(c.policy.as_deref()),
        ..PolicyPart::default()
    };
    let (code, formatted, changed) = match format(c) {
        Formatted::Done {
            unchanged: true, ..
        } => (0, true, vec![]),
        Formatted::Done { name, .. } => (EXIT_POLICY, false, vec![name]),
        Formatted::Invalid { map, diags } => {
            policy.diagnostics = hostwall::json::diagnostics(&map, &diags);
            let msg = format!("{} cannot be formatted: it does not parse", policy.policy);
            policy = policy.with_error(ErrorKind::Policy, msg);
            (EXIT_POLICY, false, vec![])
        }
        Formatted::Unreadable(e) => {
            policy = policy.with_error(ErrorKind::Input, e);
            (EXIT_SYSTEM, false, vec![])
        }
    };
    let doc = Document {
        policy,
        formatted,
        changed,
    };
    json::print(out, "fmt", SCHEMA, code, doc)
}
