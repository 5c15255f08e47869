//! `hostwall verify`: runs the probes and prints the table, a JSON document or JUnit
//! XML; the exit code follows the security failures (docs/verify.md).

use super::args::{VerifyArgs, VerifyFormat};
use super::json::{self, PolicyPart};
use super::output::Out;
use super::{EXIT_POLICY, EXIT_SYSTEM, interrupt, load_compiled};
use hostwall::json::ErrorKind;
use hostwall::verify::{TableOptions, VerifyReport};
use serde::Serialize;

pub fn run(out: &Out, c: &VerifyArgs) -> u8 {
    let json = c.format == VerifyFormat::Json;
    let loaded = if json {
        json::load_compiled(&c.input)
    } else {
        load_compiled(out, &c.input).map_err(|code| (code, PolicyPart::default()))
    };
    let (loaded, rs) = match loaded {
        Ok(x) => x,
        Err((code, part)) if json => return print_json(out, c, code, part, None),
        Err((code, _)) => return code,
    };
    let part = json::loaded(&c.input, &loaded);
    // The lab's namespaces are removed if the run is interrupted.
    interrupt::remove_namespaces_then_die();
    let opts = hostwall::verify::VerifyOptions {
        against: c.against.clone(),
        probes: c.probes.map(|n| n as usize),
        sources: Some(loaded.map),
        live_tables: c.with_live_tables.then(|| hostwall::verify::LiveTables {
            netns: c.netns.clone(),
            allow_partial: c.allow_partial,
        }),
    };
    let report = match hostwall::verify::verify(&rs, &opts) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("verify could not run: {e}");
            if json {
                let part = part.with_error(ErrorKind::System, msg);
                return print_json(out, c, EXIT_SYSTEM, part, None);
            }
            out.error(&msg);
            return EXIT_SYSTEM;
        }
    };
    let code = if report.fails(c.strict) {
        EXIT_POLICY
    } else {
        0
    };
    let written = match c.format {
        VerifyFormat::Json => return print_json(out, c, code, part, Some(&report)),
        VerifyFormat::Junit => {
            out.stdout(&hostwall::verify::render_junit(&report, c.failures_only))
        }
        VerifyFormat::Text => {
            let opts = TableOptions {
                failures_only: c.failures_only,
            };
            out.stdout(&hostwall::verify::render_table_with(&report, &opts))
        }
    };
    if written != 0 { written } else { code }
}

/// `verify --format json`.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    policy: PolicyPart,
    #[serde(skip_serializing_if = "Option::is_none")]
    against: Option<String>,
    /// Refused-differently failures fail the run too.
    strict: bool,
    #[serde(flatten)]
    report: Option<hostwall::verify::Document<'a>>,
}

fn print_json(
    out: &Out,
    c: &VerifyArgs,
    code: u8,
    policy: PolicyPart,
    report: Option<&VerifyReport>,
) -> u8 {
    let doc = Document {
        policy,
        against: c.against.as_ref().map(|p| p.display().to_string()),
        strict: c.strict,
        report: report.map(|r| hostwall::verify::document(r, c.failures_only)),
    };
    json::print(out, "verify", hostwall::verify::SCHEMA, code, doc)
}
